"""Objects that violate and satisfy each CEL rule (`x-kubernetes-validations`) of the CRDs.

Two corpora, each a list of `Case`s with the offline verdict the author expects:
- `flux_cases(release)`: for every rule of every served CRD version of a real Flux release, at
  least one object that breaks exactly that rule and at least one that satisfies it. The rules
  are found in the install manifest by a walk of its own here (not by the code under test), and
  a rule without an entry in `FLUX_RULES` is an error, so a new Flux release cannot slip rules
  past the corpus.
- `widget_cases()`: a hand-written CRD (`widget_crd()`) whose rules use what Kubernetes adds to
  CEL beyond the Flux rules (list and string functions, optional values, escaped property names,
  defaults, doubles, timestamps, `self` in list items and map values, metadata, fieldPath,
  messageExpression, a rule whose evaluation fails, a transition rule).

`tests/flux_release/test_crd_rules.py` checks the offline verdicts; `tests/integration/test_cel_rules.py`
checks that kube-apiserver 1.34 gives the same verdict for every object.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.flux_testdata import install_objects

NS = "flux-system"
WIDGET_GROUP = "cel.fluxboot.test"


@dataclass(frozen=True)
class Case:
    """One object and what checking it offline must give."""

    name: str
    obj: dict[str, Any]
    # the offline problems, without the `Kind ns/name: ` prefix; () when the object is valid
    fails: tuple[str, ...] = ()
    # rule texts the object reaches that are not checked offline (a note each)
    unchecked: tuple[str, ...] = ()
    # the rule (kind, version, schema node, rule text) a Flux case was written for
    rule: tuple[str, str, str, str] | None = field(default=None, compare=False)

    @property
    def valid(self) -> bool:
        return not self.fails


# ----------------------------------------------------------------------------------- Flux rules


@dataclass(frozen=True)
class FluxRule:
    """A rule as found in an install manifest."""

    kind: str
    group: str
    version: str
    where: str  # field path of the schema node: `spec`, `spec.kubeConfig`
    rule: str
    message: str


def _walk(schema: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not isinstance(schema, Mapping):
        return
    for entry in schema.get("x-kubernetes-validations") or []:
        yield path, entry
    for name, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{name}" if path else name)
    if isinstance(schema.get("items"), Mapping):
        yield from _walk(schema["items"], f"{path}[*]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from _walk(schema["additionalProperties"], f"{path}[*]")


def flux_rules(release: str) -> list[FluxRule]:
    """Every rule of every served CRD version of `release` (a directory of ../shared/flux)."""
    out = []
    for doc in install_objects(release):
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec["versions"]:
            if not version.get("served"):
                continue
            for where, entry in _walk(version["schema"]["openAPIV3Schema"], ""):
                out.append(
                    FluxRule(
                        spec["names"]["kind"],
                        spec["group"],
                        version["name"],
                        where,
                        entry["rule"],
                        entry.get("message", ""),
                    )
                )
    return out


# A valid spec per kind, in every version the releases serve; each case patches it.
BASE_SPECS: dict[str, dict[str, Any]] = {
    "Bucket": {"bucketName": "artifacts", "endpoint": "minio.example.com", "interval": "5m"},
    "GitRepository": {"url": "https://github.com/example/repo", "interval": "5m"},
    "HelmChart": {
        "chart": "podinfo",
        "interval": "5m",
        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
    },
    "Kustomization": {
        "interval": "10m",
        "path": "./deploy",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
    },
    "HelmRelease": {
        "interval": "5m",
        "chart": {
            "spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}
        },
    },
    "Provider": {"type": "github", "address": "https://github.com/example/repo"},
    "Receiver": {
        "type": "github",
        "resources": [{"kind": "GitRepository", "name": "flux-system"}],
        "secretRef": {"name": "webhook-token"},
    },
}

STS_AWS = {"provider": "aws", "endpoint": "https://sts.amazonaws.com"}
STS_LDAP = {"provider": "ldap", "endpoint": "https://ldap.example.com"}
SECRET = {"name": "credentials"}
CHART_REF = {"kind": "OCIRepository", "name": "podinfo"}
OIDC = [
    {
        "issuerURL": "https://token.actions.githubusercontent.com",
        "validations": [{"expression": "claims.repository == 'example/repo'", "message": "repo"}],
    }
]


@dataclass(frozen=True)
class Patches:
    """Spec patches (None deletes a key) that break the rule, and patches that satisfy it."""

    violate: tuple[dict[str, Any], ...]
    satisfy: tuple[dict[str, Any], ...]


# (kind, rule text) -> patches. Each violating patch breaks that rule and no other.
FLUX_RULES: dict[tuple[str, str], Patches] = {
    (
        "Bucket",
        "self.provider == 'aws' || self.provider == 'generic' || !has(self.sts)",
    ): Patches(
        violate=({"provider": "gcp", "sts": STS_AWS}, {"provider": "azure", "sts": STS_LDAP}),
        satisfy=({"provider": "gcp"}, {"provider": "aws", "sts": STS_AWS}),
    ),
    (
        "Bucket",
        "self.provider != 'aws' || !has(self.sts) || self.sts.provider == 'aws'",
    ): Patches(
        violate=({"provider": "aws", "sts": STS_LDAP},),
        satisfy=({"provider": "aws", "sts": STS_AWS}, {"provider": "aws"}),
    ),
    (
        "Bucket",
        "self.provider != 'generic' || !has(self.sts) || self.sts.provider == 'ldap'",
    ): Patches(
        # no provider: the default 'generic' applies before the rule runs
        violate=({"provider": "generic", "sts": STS_AWS}, {"sts": STS_AWS}),
        satisfy=({"sts": STS_LDAP}, {"provider": "generic", "sts": STS_LDAP}),
    ),
    (
        "Bucket",
        "!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.secretRef)",
    ): Patches(
        violate=({"provider": "aws", "sts": {**STS_AWS, "secretRef": SECRET}},),
        satisfy=({"sts": {**STS_LDAP, "secretRef": SECRET}},),
    ),
    (
        "Bucket",
        "!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.certSecretRef)",
    ): Patches(
        violate=({"provider": "aws", "sts": {**STS_AWS, "certSecretRef": SECRET}},),
        satisfy=({"sts": {**STS_LDAP, "certSecretRef": SECRET}},),
    ),
    (
        "Bucket",
        "self.provider != 'generic' || !has(self.serviceAccountName)",
    ): Patches(
        violate=(
            {"serviceAccountName": "reader"},
            {"provider": "generic", "serviceAccountName": "r"},
        ),
        satisfy=({"provider": "aws", "serviceAccountName": "reader"},),
    ),
    (
        "Bucket",
        "!has(self.secretRef) || !has(self.serviceAccountName)",
    ): Patches(
        violate=({"provider": "aws", "secretRef": SECRET, "serviceAccountName": "reader"},),
        satisfy=({"secretRef": SECRET}, {"provider": "gcp", "serviceAccountName": "reader"}),
    ),
    (
        "GitRepository",
        "!has(self.serviceAccountName) || (has(self.provider) && self.provider == 'azure')",
    ): Patches(
        violate=(
            {"serviceAccountName": "reader"},
            {"provider": "github", "serviceAccountName": "r"},
        ),
        satisfy=({"provider": "azure", "serviceAccountName": "reader"}, {"provider": "github"}),
    ),
    (
        "GitRepository",
        "!has(self.serviceAccountName) || (has(self.provider) && (self.provider == 'azure' || "
        "self.provider == 'aws'))",
    ): Patches(
        violate=(
            {"serviceAccountName": "reader"},
            {"provider": "github", "serviceAccountName": "r"},
        ),
        satisfy=({"provider": "aws", "serviceAccountName": "reader"}, {"provider": "azure"}),
    ),
    (
        "HelmChart",
        "!has(self.verify) || self.sourceRef.kind == 'HelmRepository'",
    ): Patches(
        violate=(
            {
                "sourceRef": {"kind": "GitRepository", "name": "charts"},
                "verify": {"provider": "cosign"},
            },
        ),
        satisfy=(
            {"verify": {"provider": "cosign"}},
            {"sourceRef": {"kind": "GitRepository", "name": "charts"}},
        ),
    ),
    (
        "Kustomization",
        "has(self.configMapRef) || has(self.secretRef)",
    ): Patches(
        violate=({"kubeConfig": {}},),
        satisfy=({"kubeConfig": {"secretRef": SECRET}},),
    ),
    (
        "Kustomization",
        "!has(self.configMapRef) || !has(self.secretRef)",
    ): Patches(
        violate=({"kubeConfig": {"configMapRef": {"name": "cm"}, "secretRef": SECRET}},),
        satisfy=({"kubeConfig": {"configMapRef": {"name": "cm"}}},),
    ),
    (
        "HelmRelease",
        "(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))",
    ): Patches(
        violate=({"chartRef": CHART_REF}, {"chart": None}),
        satisfy=({}, {"chart": None, "chartRef": CHART_REF}),
    ),
    (
        "HelmRelease",
        "!has(self.retryInterval) || self.name != 'RemediateOnFailure'",
    ): Patches(
        violate=({"install": {"strategy": {"name": "RemediateOnFailure", "retryInterval": "1m"}}},),
        satisfy=(
            {"install": {"strategy": {"name": "RetryOnFailure", "retryInterval": "1m"}}},
            {"install": {"strategy": {"name": "RemediateOnFailure"}}},
        ),
    ),
    (
        "HelmRelease",
        "!has(self.retryInterval) || self.name == 'RetryOnFailure'",
    ): Patches(
        violate=({"upgrade": {"strategy": {"name": "RemediateOnFailure", "retryInterval": "1m"}}},),
        satisfy=({"upgrade": {"strategy": {"name": "RetryOnFailure", "retryInterval": "1m"}}},),
    ),
    (
        "HelmRelease",
        "has(self.configMapRef) || has(self.secretRef)",
    ): Patches(
        violate=({"kubeConfig": {}},),
        satisfy=({"kubeConfig": {"configMapRef": {"name": "cm"}}},),
    ),
    (
        "HelmRelease",
        "!has(self.configMapRef) || !has(self.secretRef)",
    ): Patches(
        violate=({"kubeConfig": {"configMapRef": {"name": "cm"}, "secretRef": SECRET}},),
        satisfy=({"kubeConfig": {"secretRef": SECRET}},),
    ),
    (
        "Provider",
        "self.type == 'github' || self.type == 'gitlab' || self.type == 'gitea' || self.type == "
        "'bitbucketserver' || self.type == 'bitbucket' || self.type == 'azuredevops' || "
        "!has(self.commitStatusExpr)",
    ): Patches(
        violate=({"type": "slack", "commitStatusExpr": "'flux/' + event.metadata.name"},),
        satisfy=(
            {"commitStatusExpr": "'flux/' + event.metadata.name"},
            {"type": "slack"},
        ),
    ),
    (
        "Receiver",
        "self.type != 'generic-oidc' || (has(self.oidcProviders) && size(self.oidcProviders) > 0)",
    ): Patches(
        violate=({"type": "generic-oidc", "secretRef": None},),
        satisfy=({"type": "generic-oidc", "secretRef": None, "oidcProviders": OIDC},),
    ),
    (
        "Receiver",
        "self.type == 'generic-oidc' || !has(self.oidcProviders) || size(self.oidcProviders) == 0",
    ): Patches(
        violate=({"oidcProviders": OIDC},),
        satisfy=({"oidcProviders": []},),
    ),
    (
        "Receiver",
        "self.type != 'generic-oidc' || !has(self.secretRef)",
    ): Patches(
        violate=({"type": "generic-oidc", "oidcProviders": OIDC},),
        satisfy=({"type": "generic-oidc", "secretRef": None, "oidcProviders": OIDC},),
    ),
    (
        "Receiver",
        "self.type == 'generic-oidc' || has(self.secretRef)",
    ): Patches(
        violate=({"secretRef": None},),
        satisfy=({"type": "generic"},),
    ),
}


def _patched(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = copy.deepcopy(value)
    return out


def flux_object(kind: str, group: str, version: str, name: str, spec: dict[str, Any]) -> dict:
    return {
        "apiVersion": f"{group}/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


class MissingCases(AssertionError):
    """A rule of the release has no entry in FLUX_RULES."""


def flux_cases(release: str) -> list[Case]:
    """Breaking and satisfying objects for every rule of `release`."""
    rules = flux_rules(release)
    missing = sorted({(r.kind, r.rule) for r in rules if (r.kind, r.rule) not in FLUX_RULES})
    if missing:
        raise MissingCases(f"{release}: rules without corpus entries: {missing}")
    cases: list[Case] = []
    for r in rules:
        patches = FLUX_RULES[(r.kind, r.rule)]
        ident = (r.kind, r.version, r.where, r.rule)
        for verdict, specs in (("violate", patches.violate), ("satisfy", patches.satisfy)):
            for i, patch in enumerate(specs):
                name = f"{r.kind.lower()}-{r.version}-{len(cases)}"
                obj = flux_object(
                    r.kind, r.group, r.version, name, _patched(BASE_SPECS[r.kind], patch)
                )
                fails = (f"{r.where}: {r.message}",) if verdict == "violate" else ()
                cases.append(
                    Case(f"{r.kind} {r.version} {r.where} {verdict} #{i}", obj, fails, rule=ident)
                )
    return cases


# ------------------------------------------------------------------------------ the widget CRD


def _string(**extra: Any) -> dict[str, Any]:
    # bounded, so the API server's cost estimate of the rules stays within its budget
    return {"type": "string", "maxLength": 64, **extra}


def widget_crd() -> dict[str, Any]:
    """A CRD whose rules use Kubernetes' CEL beyond what the Flux rules use."""
    spec = {
        "type": "object",
        "required": ["size"],
        "properties": {
            "size": {"type": "integer", "minimum": 0},
            "minSize": {"type": "integer"},
            "maxSize": {"type": "integer"},
            "ratio": {"type": "number"},
            "policy": _string(default="Strict", enum=["Strict", "Loose"]),
            "owner": _string(),
            "dash-name": _string(),
            "namespace": _string(),
            "tags": {
                "type": "array",
                "maxItems": 8,
                "items": _string(
                    **{
                        "x-kubernetes-validations": [
                            {"rule": "self.lowerAscii() == self", "message": "tags are lower case"}
                        ]
                    }
                ),
                "x-kubernetes-validations": [
                    {"rule": "self.isSorted()", "message": "tags are sorted"},
                    {"rule": "self.indexOf('forbidden') == -1", "message": "no forbidden tag"},
                ],
            },
            "weights": {
                "type": "array",
                "maxItems": 8,
                "items": {"type": "integer"},
                "x-kubernetes-validations": [
                    {
                        "rule": "size(self) == 0 || (self.min() >= 0 && self.sum() <= 100)",
                        "messageExpression": "self.exists(w, w < 0) ? 'weights must not be "
                        "negative' : 'weights must sum to at most 100'",
                    },
                    {"rule": "size(self) == 0 || self.max() != 13"},
                ],
            },
            "labels": {
                "type": "object",
                "maxProperties": 8,
                "additionalProperties": _string(
                    **{
                        "x-kubernetes-validations": [
                            {"rule": "size(self) <= 10", "message": "label values are short"}
                        ]
                    }
                ),
                "x-kubernetes-validations": [
                    {"rule": "self.all(k, k.startsWith('x-'))", "message": "label keys start x-"}
                ],
            },
            "endpoints": {
                "type": "array",
                "maxItems": 8,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": _string(),
                        "host": _string(),
                        "port": {"type": "integer", "default": 443},
                    },
                    "x-kubernetes-validations": [
                        {
                            "rule": "!has(self.host) || self.host.endsWith('.example.com')",
                            "message": "hosts are under example.com",
                        },
                        {"rule": "self.port != 22", "message": "port 22 is not allowed"},
                    ],
                },
            },
            "window": {
                "type": "object",
                "properties": {
                    "start": _string(format="date-time"),
                    "end": _string(format="date-time"),
                },
            },
            "limits": {
                "type": "object",
                "properties": {"cpu": {"type": "integer"}, "memory": {"type": "integer"}},
                # reads cpu without has(): an object with limits but no cpu fails to evaluate
                "x-kubernetes-validations": [
                    {"rule": "self.cpu > 0", "message": "limits.cpu must be positive"}
                ],
            },
            "frozen": _string(
                **{
                    "x-kubernetes-validations": [
                        {"rule": "self == oldSelf", "message": "frozen is immutable"}
                    ]
                }
            ),
        },
        "x-kubernetes-validations": [
            {
                "rule": "!has(self.minSize) || !has(self.maxSize) || "
                "(self.minSize <= self.size && self.size <= self.maxSize)",
                "message": "size must lie between minSize and maxSize",
            },
            {"rule": "!has(self.ratio) || self.ratio * 2.0 <= 1.0", "message": "ratio <= 0.5"},
            {"rule": "self.policy != 'Strict' || has(self.owner)", "message": "Strict needs owner"},
            {
                "rule": "self.?owner.orValue('') != 'root'",
                "message": "owner must not be root",
            },
            {
                "rule": "!has(self.owner) || (self.owner.trim() == self.owner && "
                "self.owner.indexOf('@') == -1 && self.owner.replace('_', '-') == self.owner && "
                "self.owner.split('.').size() <= 2 && self.owner.substring(0, 1) != '-')",
                "message": "owner is a plain name",
            },
            {
                "rule": "!has(self.dash__dash__name) || self.dash__dash__name.upperAscii() != "
                "'ROOT'",
                "message": "dash-name is not root",
            },
            {
                "rule": "!has(self.__namespace__) || self.__namespace__ != 'kube-system'",
                "message": "not in kube-system",
            },
            {
                "rule": "!has(self.window) || !has(self.window.start) || !has(self.window.end) "
                "|| self.window.start < self.window.end",
                "fieldPath": ".window.end",
                "message": "window ends after it starts",
            },
            {
                "rule": "!has(self.endpoints) || self.endpoints.exists_one(e, e.name == 'main') "
                "|| size(self.endpoints) == 0",
                "message": "exactly one endpoint is main",
            },
        ],
    }
    schema = {
        "type": "object",
        "properties": {
            "apiVersion": _string(),
            "kind": _string(),
            "metadata": {"type": "object"},
            "spec": spec,
        },
        "x-kubernetes-validations": [
            {
                "rule": "self.metadata.name.startsWith('w-') && self.kind == 'Widget'",
                "message": "widget names start with w-",
            }
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{WIDGET_GROUP}"},
        "spec": {
            "group": WIDGET_GROUP,
            "names": {"kind": "Widget", "listKind": "WidgetList", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


FROZEN_NOTE = "spec.frozen"


def widget(name: str = "w-one", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{WIDGET_GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"size": 3, "owner": "alice", **spec},
    }


def widget_cases() -> list[Case]:
    """Objects for the widget CRD, with the verdict of each."""
    w = widget
    out = [
        Case("valid", w()),
        Case("name", w("x-one"), ("widget names start with w-",)),
        Case("size in range", w(minSize=1, maxSize=5)),
        Case(
            "size out of range",
            w(minSize=4, maxSize=5),
            ("spec: size must lie between minSize and maxSize",),
        ),
        # 0 is an integer in JSON: for `type: number` Kubernetes gives CEL a double
        Case("ratio as integer", w(ratio=0)),
        Case("ratio too big", w(ratio=0.75), ("spec: ratio <= 0.5",)),
        # no policy: the default Strict applies, and Strict needs an owner
        Case("policy default", {**w(), "spec": {"size": 1}}, ("spec: Strict needs owner",)),
        Case("policy loose", {**w(), "spec": {"size": 1, "policy": "Loose"}}),
        Case("owner root", w(owner="root"), ("spec: owner must not be root",)),
        Case("owner spaces", w(owner=" bob"), ("spec: owner is a plain name",)),
        Case("owner at", w(owner="bob@corp"), ("spec: owner is a plain name",)),
        Case("owner underscore", w(owner="bob_x"), ("spec: owner is a plain name",)),
        Case("owner dots", w(owner="a.b.c"), ("spec: owner is a plain name",)),
        Case("owner dash", w(owner="-bob"), ("spec: owner is a plain name",)),
        Case("owner fine", w(owner="bob.smith")),
        Case("dash name", w(**{"dash-name": "Root"}), ("spec: dash-name is not root",)),
        Case("dash name fine", w(**{"dash-name": "leaf"})),
        Case("namespace", w(namespace="kube-system"), ("spec: not in kube-system",)),
        Case("namespace fine", w(namespace="apps")),
        Case("tags fine", w(tags=["a", "b", "b", "c"])),
        Case("tags unsorted", w(tags=["b", "a"]), ("spec.tags: tags are sorted",)),
        Case(
            "tags upper",
            w(tags=["A", "b"]),
            ("spec.tags[0]: tags are lower case",),
        ),
        Case("tags forbidden", w(tags=["forbidden"]), ("spec.tags: no forbidden tag",)),
        Case("weights fine", w(weights=[10, 20, 70])),
        Case("weights empty", w(weights=[])),
        Case(
            "weights sum",
            w(weights=[60, 50]),
            ("spec.weights: weights must sum to at most 100",),
        ),
        Case(
            "weights negative",
            w(weights=[-1, 5]),
            ("spec.weights: weights must not be negative",),
        ),
        Case(
            "weights 13",
            w(weights=[13, 1]),
            ("spec.weights: failed rule: size(self) == 0 || self.max() != 13",),
        ),
        Case("labels fine", w(labels={"x-team": "core", "x-tier": "web"})),
        Case(
            "labels key",
            w(labels={"x-team": "core", "team": "web"}),
            ("spec.labels: label keys start x-",),
        ),
        Case(
            "labels value",
            w(labels={"x-team": "a-very-long-team-name"}),
            ("spec.labels.x-team: label values are short",),
        ),
        Case("endpoints fine", w(endpoints=[{"name": "main", "host": "a.example.com"}])),
        Case(
            "endpoints host",
            w(endpoints=[{"name": "main"}, {"name": "b", "host": "evil.test"}]),
            ("spec.endpoints[1]: hosts are under example.com",),
        ),
        Case(
            "endpoints port",
            w(endpoints=[{"name": "main", "port": 22}]),
            ("spec.endpoints[0]: port 22 is not allowed",),
        ),
        Case(
            "endpoints two main",
            w(endpoints=[{"name": "main"}, {"name": "main", "port": 8443}]),
            ("spec: exactly one endpoint is main",),
        ),
        Case(
            "window fine",
            w(window={"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T02:00:00+01:00"}),
        ),
        Case(
            "window reversed",
            w(window={"start": "2025-01-02T00:00:00Z", "end": "2025-01-01T23:59:59.5Z"}),
            ("spec.window.end: window ends after it starts",),
        ),
        Case(
            "window offsets",
            # 10:00+02:00 is 08:00Z: before 09:00Z although the text sorts after it
            w(window={"start": "2025-01-01T09:00:00Z", "end": "2025-01-01T10:00:00+02:00"}),
            ("spec.window.end: window ends after it starts",),
        ),
        Case("limits fine", w(limits={"cpu": 2})),
        Case("limits zero", w(limits={"cpu": 0}), ("spec.limits: limits.cpu must be positive",)),
        Case(
            "limits without cpu",
            w(limits={"memory": 1}),
            ("spec.limits: no such key: cpu evaluating rule: limits.cpu must be positive",),
        ),
        # a transition rule: only an update is judged by it; on create it does not apply
        Case("frozen on create", w(frozen="anything"), unchecked=("self == oldSelf",)),
    ]
    return out
