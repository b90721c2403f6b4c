"""Tests of components/crds.py against the real Flux install manifests.

The manifests are found through `FLUX_MANIFESTS_DIR` or `../shared/flux` next to the project;
tests that need one skip, saying where they looked, when it is absent. A few rules that no Flux
CRD uses (int-or-string, nullable, anyOf, embedded resources) are tested on small hand-written CRDs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest

from components.common.errors import ManifestError
from components.flux_release import crds
from components.flux_release.crds import CrdSchemas, for_manifest, is_flux_api
from components.flux_release.manifests import InstallManifest
from tests.flux_testdata import manifests_dir

VERSIONS = ["v2.7.5", "v2.8.8", "v2.9.3-extras", "v2.9.4"]
NS = "flux-system"


# ------------------------------------------------------------------------------------- helpers


def _manifest(version: str) -> InstallManifest:
    path = manifests_dir() / version / "gotk-components.yaml"
    if not path.is_file():
        pytest.skip(
            f"Flux install manifest {path} is absent; set FLUX_MANIFESTS_DIR to a directory "
            "laid out as <version>/gotk-components.yaml"
        )
    return InstallManifest(version, path.read_text(encoding="utf-8"), str(path))


def _schemas(version: str) -> CrdSchemas:
    return for_manifest(_manifest(version))


def _source_table(version: str) -> list[dict[str, Any]]:
    """The `## CRDs` table of <version>/SOURCE.md: kind, group, served and deprecated versions."""
    path = manifests_dir() / version / "SOURCE.md"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    rows = []
    in_crds = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_crds = line.startswith("## CRDs")
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not in_crds or len(cells) != 5 or "." not in cells[1]:
            continue
        kind, name, served, _storage, deprecated = cells
        rows.append(
            {
                "kind": kind,
                "group": name.split(".", 1)[1],
                "served": set(served.split(", ")),
                "deprecated": set() if deprecated == "-" else set(deprecated.split(", ")),
            }
        )
    assert rows, f"no CRD table found in {path}"
    return rows


def _meta(name: str = "x") -> dict[str, Any]:
    return {"name": name, "namespace": NS}


def kustomization(api_version: str = "kustomize.toolkit.fluxcd.io/v1") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "Kustomization",
        "metadata": _meta("apps"),
        "spec": {
            "interval": "10m0s",
            "retryInterval": "1m",
            "timeout": "5m",
            "path": "./apps/clusters/k8s-01",
            "prune": True,
            "wait": True,
            "dependsOn": [{"name": "core-apps"}],
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            "postBuild": {
                "substitute": {"cluster_name": "k8s-01", "domain": "example.org"},
                "substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars", "optional": True}],
            },
        },
    }


def git_repository() -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {
            "name": "flux-system",
            "namespace": NS,
            "labels": {"app.kubernetes.io/part-of": "flux", "toolkit.fluxcd.io/tenant": "ops"},
            "annotations": {"example.org/owner": "platform team"},
        },
        "spec": {
            "interval": "1m0s",
            "ref": {"branch": "main"},
            "secretRef": {"name": "flux-system"},
            "url": "ssh://git@example.org/fleet/gitops.git",
        },
    }


def helm_repository(oci: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"interval": "24h", "url": "https://charts.jetstack.io"}
    if oci:
        spec = {"type": "oci", "interval": "12h", "url": "oci://ghcr.io/stefanprodan/charts"}
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": _meta("jetstack" if not oci else "podinfo"),
        "spec": spec,
    }


def helm_release() -> dict[str, Any]:
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "cert-manager", "namespace": "cert-manager"},
        "spec": {
            "interval": "30m",
            "releaseName": "cert-manager",
            "chart": {
                "spec": {
                    "chart": "cert-manager",
                    "version": "1.x",
                    "sourceRef": {"kind": "HelmRepository", "name": "jetstack", "namespace": NS},
                    "interval": "12h",
                }
            },
            "install": {"crds": "Create", "remediation": {"retries": 3}},
            "upgrade": {"crds": "CreateReplace", "remediation": {"retries": -1}},
            "values": {"crds": {"enabled": True}, "replicaCount": 2, "extra": [{"x": None}]},
        },
    }


def provider() -> dict[str, Any]:
    return {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "kind": "Provider",
        "metadata": _meta("slack"),
        "spec": {"type": "slack", "channel": "flux-alerts", "secretRef": {"name": "slack-token"}},
    }


def alert() -> dict[str, Any]:
    return {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "kind": "Alert",
        "metadata": _meta("a"),
        "spec": {
            "providerRef": {"name": "slack"},
            "eventSeverity": "error",
            "eventSources": [
                {"kind": "Kustomization", "name": "*"},
                {"kind": "HelmRelease", "name": "*", "namespace": "cert-manager"},
            ],
        },
    }


VALID: dict[str, Callable[[], dict[str, Any]]] = {
    "kustomization": kustomization,
    "git-repository": git_repository,
    "helm-repository": helm_repository,
    "helm-repository-oci": lambda: helm_repository(oci=True),
    "helm-release": helm_release,
    "provider": provider,
    "alert": alert,
}


def _crd(
    props: dict[str, Any],
    *,
    group: str = "example.com",
    kind: str = "Widget",
    versions: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A hand-written v1 CRD whose spec has `props`."""
    # Like controller-gen's output, minus descriptions; apiVersion, kind and metadata are left out
    # on purpose: the root accepts them whether or not a schema lists them.
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": props}}}
    entries = versions or {"v1": {"served": True, "storage": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {"name": name, **extra, "schema": {"openAPIV3Schema": copy.deepcopy(schema)}}
                for name, extra in entries.items()
            ],
        },
    }


def _widget(spec: dict[str, Any], api_version: str = "example.com/v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": "Widget", "metadata": _meta("w"), "spec": spec}


# ------------------------------------------------------------------------ loading and versions


@pytest.mark.parametrize("version", VERSIONS)
def test_every_crd_of_the_manifest_loads(version: str) -> None:
    manifest = _manifest(version)
    crd_docs = [d for d in manifest.documents if d["kind"] == "CustomResourceDefinition"]
    schemas = for_manifest(manifest)
    expected = {(d["spec"]["group"], d["spec"]["names"]["kind"]) for d in crd_docs}
    assert set(schemas.kinds()) == expected
    assert len(schemas.kinds()) == len(crd_docs)
    listed = {(row["group"], row["kind"]) for row in _source_table(version)}
    assert set(schemas.kinds()) == listed


@pytest.mark.parametrize("version", VERSIONS)
def test_served_versions_and_deprecations_match_source_md(version: str) -> None:
    schemas = _schemas(version)
    for row in _source_table(version):
        group, kind = row["group"], row["kind"]
        assert set(schemas.served_versions(group, kind)) == row["served"], (group, kind)
        for served in row["served"]:
            assert schemas.knows(f"{group}/{served}", kind)
            warning = schemas.deprecation(f"{group}/{served}", kind)
            assert (warning is not None) == (served in row["deprecated"]), (kind, served, warning)
        assert not schemas.knows(f"{group}/v9", kind)


def test_served_versions_across_releases() -> None:
    old, mid, new = _schemas("v2.7.5"), _schemas("v2.8.8"), _schemas("v2.9.4")
    kustomize, notification = "kustomize.toolkit.fluxcd.io", "notification.toolkit.fluxcd.io"
    # Preferred version first.
    assert old.served_versions(kustomize, "Kustomization") == ["v1", "v1beta2"]
    assert old.served_versions(notification, "Alert") == ["v1beta3", "v1beta2"]
    assert new.served_versions(kustomize, "Kustomization") == ["v1"]
    assert mid.served_versions(notification, "Provider") == ["v1beta3", "v1beta2"]
    assert new.served_versions(notification, "Provider") == ["v1beta3"]
    assert not new.knows(f"{notification}/v1beta2", "Alert")
    assert new.served_versions("image.toolkit.fluxcd.io", "ImagePolicy") == []
    assert _schemas("v2.9.3-extras").knows("image.toolkit.fluxcd.io/v1", "ImagePolicy")


def test_deprecation_gives_the_crd_warning() -> None:
    old, new = _schemas("v2.7.5"), _schemas("v2.9.4")
    assert (
        old.deprecation("kustomize.toolkit.fluxcd.io/v1beta2", "Kustomization")
        == "v1beta2 Kustomization is deprecated, upgrade to v1"
    )
    assert old.deprecation("kustomize.toolkit.fluxcd.io/v1", "Kustomization") is None
    assert new.deprecation("kustomize.toolkit.fluxcd.io/v1beta2", "Kustomization") is None


def test_deprecated_flag_without_warning_gets_the_api_server_text() -> None:
    doc = _crd(
        {}, versions={"v1": {"served": True}, "v1beta1": {"served": True, "deprecated": True}}
    )
    schemas = CrdSchemas.from_documents([doc])
    assert (
        schemas.deprecation("example.com/v1beta1", "Widget")
        == "example.com/v1beta1 Widget is deprecated"
    )
    assert schemas.deprecation("example.com/v1", "Widget") is None


@pytest.mark.parametrize(
    ("api_version", "expected"),
    [
        ("kustomize.toolkit.fluxcd.io/v1", True),
        ("notification.toolkit.fluxcd.io/v1beta3", True),
        ("image.toolkit.fluxcd.io/v1", True),
        ("v1", False),
        ("apps/v1", False),
        ("toolkit.fluxcd.io/v1", False),
        ("evil-toolkit.fluxcd.io.example.com/v1", False),
    ],
)
def test_is_flux_api(api_version: str, expected: bool) -> None:
    assert is_flux_api(api_version) is expected


# ----------------------------------------------------------------------------------- valid objects


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_objects_pass(version: str, name: str) -> None:
    assert _schemas(version).validate(VALID[name]()) == []


def test_v1beta2_kustomization_is_valid_where_it_is_served() -> None:
    obj = kustomization("kustomize.toolkit.fluxcd.io/v1beta2")
    assert _schemas("v2.7.5").validate(obj) == []


def test_validate_all_collects_every_problem_in_order() -> None:
    bad = helm_repository()
    bad["spec"]["bogus"] = 1
    problems = _schemas("v2.9.4").validate_all([kustomization(), bad, bad])
    assert problems == ["HelmRepository flux-system/jetstack: spec.bogus: unknown field"] * 2


# -------------------------------------------------------------------------------------- failures


def test_unknown_field_at_top_of_spec() -> None:
    obj = helm_repository()
    obj["metadata"]["name"] = "x"
    obj["spec"]["bogus"] = "1"
    assert _schemas("v2.9.4").validate(obj) == [
        "HelmRepository flux-system/x: spec.bogus: unknown field"
    ]


def test_unknown_field_nested_and_at_the_root() -> None:
    obj = kustomization()
    obj["spec"]["sourceRef"]["branch"] = "main"
    obj["spec"]["postBuild"]["substituteFrom"][0]["key"] = "k"
    obj["specs"] = {}
    assert _schemas("v2.9.4").validate(obj) == [
        "Kustomization flux-system/apps: spec.sourceRef.branch: unknown field",
        "Kustomization flux-system/apps: spec.postBuild.substituteFrom[0].key: unknown field",
        "Kustomization flux-system/apps: specs: unknown field",
    ]


def test_wrong_types() -> None:
    obj = kustomization()
    obj["spec"]["prune"] = "true"
    obj["spec"]["path"] = 5
    obj["spec"]["dependsOn"] = {"name": "core-apps"}
    obj["spec"]["postBuild"]["substitute"]["replicas"] = 3
    assert _schemas("v2.9.4").validate(obj) == [
        "Kustomization flux-system/apps: spec.path: must be string, got integer 5",
        "Kustomization flux-system/apps: spec.prune: must be boolean, got string 'true'",
        "Kustomization flux-system/apps: spec.dependsOn: must be array, got an object",
        "Kustomization flux-system/apps: spec.postBuild.substitute.replicas: "
        "must be string, got integer 3",
    ]


def test_integer_is_not_bool_and_number_accepts_int() -> None:
    obj = helm_release()
    obj["spec"]["install"]["remediation"]["retries"] = True
    assert _schemas("v2.9.4").validate(obj) == [
        "HelmRelease cert-manager/cert-manager: spec.install.remediation.retries: "
        "must be integer, got boolean true"
    ]
    doc = _crd({"ratio": {"type": "number"}})
    schemas = CrdSchemas.from_documents([doc])
    assert schemas.validate(_widget({"ratio": 1})) == []
    assert schemas.validate(_widget({"ratio": 0.5})) == []
    assert schemas.validate(_widget({"ratio": "1"})) == [
        "Widget flux-system/w: spec.ratio: must be number, got string '1'"
    ]


def test_bad_duration() -> None:
    obj = kustomization()
    obj["spec"]["interval"] = "5 minutes"
    assert _schemas("v2.9.4").validate(obj) == [
        r"Kustomization flux-system/apps: spec.interval: '5 minutes' does not match "
        r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
    ]


def test_dollar_matches_only_at_the_end_as_in_go() -> None:
    # Python's `$` also matches before a final newline; Go's does not.
    obj = kustomization()
    obj["spec"]["interval"] = "5m\n"
    assert len(_schemas("v2.9.4").validate(obj)) == 1


def test_enum_violation() -> None:
    obj = alert()
    obj["spec"]["eventSources"][0]["kind"] = "Foo"
    (problem,) = _schemas("v2.9.4").validate(obj)
    assert problem.startswith("Alert flux-system/a: spec.eventSources[0].kind: must be one of [")
    assert "'Kustomization'" in problem
    assert problem.endswith("], got 'Foo'")


def test_enum_does_not_take_true_for_1() -> None:
    schemas = CrdSchemas.from_documents([_crd({"n": {"enum": [1, 2]}})])
    assert schemas.validate(_widget({"n": 1})) == []
    assert schemas.validate(_widget({"n": True})) == [
        "Widget flux-system/w: spec.n: must be one of [1, 2], got true"
    ]
    assert schemas.validate(_widget({"n": [1]})) == [
        "Widget flux-system/w: spec.n: must be one of [1, 2], got an array"
    ]


def test_missing_required_fields() -> None:
    obj = kustomization()
    del obj["spec"]["sourceRef"]["name"]
    del obj["spec"]["prune"]
    assert _schemas("v2.9.4").validate(obj) == [
        "Kustomization flux-system/apps: spec.sourceRef.name: required field is missing",
        "Kustomization flux-system/apps: spec.prune: required field is missing",
    ]


def test_missing_spec_and_metadata() -> None:
    obj = kustomization()
    del obj["spec"]
    del obj["metadata"]
    assert _schemas("v2.9.4").validate(obj) == [
        "Kustomization <unnamed>: metadata: required field is missing",
        "Kustomization <unnamed>: spec: required field is missing",
    ]


def test_required_field_with_a_default_may_be_left_out() -> None:
    # ImageUpdateAutomation.spec.sourceRef.kind is required, with default GitRepository.
    obj: dict[str, Any] = {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageUpdateAutomation",
        "metadata": _meta("auto"),
        "spec": {
            "interval": "30m",
            "sourceRef": {"name": "flux-system"},
            "git": {"commit": {"author": {"email": "fluxcd@example.org", "name": "fluxcd"}}},
        },
    }
    schemas = _schemas("v2.9.3-extras")
    assert schemas.validate(obj) == []
    del obj["spec"]["sourceRef"]["name"]
    assert schemas.validate(obj) == [
        "ImageUpdateAutomation flux-system/auto: spec.sourceRef.name: required field is missing"
    ]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (
            {"name": "Apps_1", "namespace": NS},
            "Kustomization flux-system/Apps_1: metadata.name: 'Apps_1' is not a DNS-1123 subdomain",
        ),
        (
            {"name": "a" * 254, "namespace": NS},
            f"Kustomization flux-system/{'a' * 254}: metadata.name: '",
        ),
        (
            {"namespace": NS},
            "Kustomization flux-system/<unnamed>: metadata.name: required field is missing",
        ),
        (
            {"name": "apps", "namespace": "flux.system"},
            "Kustomization flux.system/apps: metadata.namespace: "
            "'flux.system' is not a DNS-1123 label",
        ),
        (
            {"name": "apps", "namespace": NS, "lables": {}},
            "Kustomization flux-system/apps: metadata.lables: unknown field",
        ),
        (
            {"name": "apps", "namespace": NS, "labels": {"tier": 1}},
            "Kustomization flux-system/apps: metadata.labels.tier: must be string, got integer 1",
        ),
        (
            {"name": "apps", "namespace": NS, "labels": {"tier": "a b"}},
            "Kustomization flux-system/apps: metadata.labels.tier: "
            "'a b' is not a valid label value",
        ),
        (
            {"name": "apps", "namespace": NS, "annotations": {"bad key": "v"}},
            "Kustomization flux-system/apps: metadata.annotations[bad key]: "
            "'bad key' is not a valid key",
        ),
        (
            {"name": "apps", "namespace": NS, "annotations": {"example.org/n": 2}},
            "Kustomization flux-system/apps: metadata.annotations[example.org/n]: must be string",
        ),
        (
            {"name": "apps", "namespace": NS, "finalizers": ["finalizers.fluxcd.io", 3]},
            "Kustomization flux-system/apps: metadata.finalizers[1]: must be string",
        ),
        ("apps", "Kustomization <unnamed>: metadata: must be object, got string 'apps'"),
    ],
)
def test_bad_metadata(metadata: Any, expected: str) -> None:
    obj = kustomization()
    obj["metadata"] = metadata
    problems = _schemas("v2.9.4").validate(obj)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_common_metadata_is_accepted() -> None:
    obj = kustomization()
    obj["metadata"].update(
        {
            "labels": {"kustomize.toolkit.fluxcd.io/name": "flux-system", "empty": ""},
            "annotations": {"kustomize.toolkit.fluxcd.io/prune": "disabled"},
            "finalizers": ["finalizers.fluxcd.io"],
            "generation": 3,
            "resourceVersion": "12345",
            "uid": "0b5c4f7e-2f0a-4a7a-9f57-27f8f8d3a2c1",
            "creationTimestamp": None,
        }
    )
    assert _schemas("v2.9.4").validate(obj) == []


def test_object_without_namespace_is_named_by_its_name_alone() -> None:
    obj = helm_repository()
    del obj["metadata"]["namespace"]
    obj["spec"]["bogus"] = 1
    assert _schemas("v2.9.4").validate(obj) == [
        "HelmRepository jetstack: spec.bogus: unknown field"
    ]


def test_apiversion_not_served() -> None:
    obj = kustomization("kustomize.toolkit.fluxcd.io/v1beta2")
    assert _schemas("v2.9.4").validate(obj) == [
        "Kustomization flux-system/apps: apiVersion kustomize.toolkit.fluxcd.io/v1beta2 "
        "is not served by this Flux version (served: v1)"
    ]
    old_alert = alert()
    old_alert["apiVersion"] = "notification.toolkit.fluxcd.io/v1beta2"
    assert _schemas("v2.9.4").validate(old_alert) == [
        "Alert flux-system/a: apiVersion notification.toolkit.fluxcd.io/v1beta2 "
        "is not served by this Flux version (served: v1beta3)"
    ]


def test_defined_but_unserved_version_is_not_served() -> None:
    doc = _crd({}, versions={"v1": {"served": True}, "v1alpha1": {"served": False}})
    schemas = CrdSchemas.from_documents([doc])
    assert not schemas.knows("example.com/v1alpha1", "Widget")
    assert schemas.validate(_widget({}, "example.com/v1alpha1")) == [
        "Widget flux-system/w: apiVersion example.com/v1alpha1 is not served by this Flux version "
        "(served: v1)"
    ]


def test_kind_without_crd() -> None:
    policy = {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImagePolicy",
        "metadata": _meta("app"),
        "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "1.x"}}},
    }
    assert _schemas("v2.9.4").validate(policy) == [
        "ImagePolicy flux-system/app: no CRD for image.toolkit.fluxcd.io/v1 ImagePolicy "
        "in this Flux version"
    ]
    assert _schemas("v2.9.3-extras").validate(policy) == []
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": _meta("s")}
    assert _schemas("v2.9.4").validate(secret) == [
        "Secret flux-system/s: no CRD for v1 Secret in this Flux version"
    ]


def test_missing_apiversion_and_kind() -> None:
    assert _schemas("v2.9.4").validate({"metadata": _meta("m")}) == [
        "object flux-system/m: apiVersion: required field is missing",
        "object flux-system/m: kind: required field is missing",
    ]


def test_preserve_unknown_fields_subtree_accepts_anything() -> None:
    obj = helm_release()
    obj["spec"]["values"] = {"any": {"deep": [1, "two", {"three": None}]}, "x": True}
    schemas = _schemas("v2.9.4")
    assert schemas.validate(obj) == []
    # ... but only there: its siblings are still checked.
    obj["spec"]["valuez"] = {}
    assert schemas.validate(obj) == [
        "HelmRelease cert-manager/cert-manager: spec.valuez: unknown field"
    ]


def test_preserve_unknown_fields_still_checks_declared_properties() -> None:
    doc = _crd(
        {
            "open": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"size": {"type": "integer"}},
            }
        }
    )
    schemas = CrdSchemas.from_documents([doc])
    assert schemas.validate(_widget({"open": {"anything": 1, "size": 2}})) == []
    assert schemas.validate(_widget({"open": {"size": "2"}})) == [
        "Widget flux-system/w: spec.open.size: must be integer, got string '2'"
    ]


def test_map_values_are_checked_with_additional_properties() -> None:
    doc = _crd(
        {
            "limits": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            "closed": {"type": "object", "additionalProperties": False},
            "open": {"type": "object", "additionalProperties": True},
        }
    )
    schemas = CrdSchemas.from_documents([doc])
    assert schemas.validate(_widget({"limits": {"cpu": 1}, "open": {"a": [1]}})) == []
    assert schemas.validate(
        _widget({"limits": {"cpu": -1, "example.org/x": "1"}, "closed": {"k": 1}})
    ) == [
        "Widget flux-system/w: spec.limits.cpu: must be >= 0, got -1",
        "Widget flux-system/w: spec.limits[example.org/x]: must be integer, got string '1'",
        "Widget flux-system/w: spec.closed.k: unknown field",
    ]


def test_int_or_string_accepts_both() -> None:
    doc = _crd(
        {
            "maxUnavailable": {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "pattern": "^[0-9]+%$",
            }
        }
    )
    schemas = CrdSchemas.from_documents([doc])
    assert schemas.validate(_widget({"maxUnavailable": 1})) == []
    assert schemas.validate(_widget({"maxUnavailable": "25%"})) == []
    assert schemas.validate(_widget({"maxUnavailable": "many"})) == [
        "Widget flux-system/w: spec.maxUnavailable: 'many' does not match ^[0-9]+%$"
    ]
    for bad, shown in ((True, "boolean true"), (1.5, "number 1.5"), ([1], "an array")):
        assert schemas.validate(_widget({"maxUnavailable": bad})) == [
            "Widget flux-system/w: spec.maxUnavailable: "
            f"must be an integer or a string, got {shown}"
        ]


def test_null_only_where_nullable() -> None:
    doc = _crd({"maybe": {"type": "string", "nullable": True}, "never": {"type": "string"}})
    schemas = CrdSchemas.from_documents([doc])
    assert schemas.validate(_widget({"maybe": None})) == []
    assert schemas.validate(_widget({"never": None})) == [
        "Widget flux-system/w: spec.never: must not be null"
    ]
    obj = kustomization()
    obj["spec"]["path"] = None
    assert _schemas("v2.9.4").validate(obj) == [
        "Kustomization flux-system/apps: spec.path: must not be null"
    ]


def test_lengths_bounds_and_item_counts() -> None:
    doc = _crd(
        {
            "name": {"type": "string", "minLength": 2, "maxLength": 3},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "exclusiveMaximum": True},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
            "labels": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "maxProperties": 1,
            },
        }
    )
    schemas = CrdSchemas.from_documents([doc])
    assert (
        schemas.validate(
            _widget({"name": "ab", "port": 65534, "tags": ["a"], "labels": {"a": "b"}})
        )
        == []
    )
    assert schemas.validate(
        _widget(
            {"name": "abcd", "port": 65535, "tags": ["a", "b", 3], "labels": {"a": "b", "c": "d"}}
        )
    ) == [
        "Widget flux-system/w: spec.name: 'abcd' is longer than 3 characters",
        "Widget flux-system/w: spec.port: must be < 65535, got 65535",
        "Widget flux-system/w: spec.tags: must have at most 2 items, got 3",
        "Widget flux-system/w: spec.tags[2]: must be string, got integer 3",
        "Widget flux-system/w: spec.labels: must have at most 1 fields, got 2",
    ]
    assert schemas.validate(_widget({"name": "a", "port": 0, "tags": []})) == [
        "Widget flux-system/w: spec.name: 'a' is shorter than 2 characters",
        "Widget flux-system/w: spec.port: must be >= 1, got 0",
        "Widget flux-system/w: spec.tags: must have at least 1 items, got 0",
    ]


def test_real_max_items() -> None:
    repo: dict[str, Any] = {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageRepository",
        "metadata": _meta("app"),
        "spec": {"image": "ghcr.io/example/app", "interval": "5m", "exclusionList": ["^.*\\.sig$"]},
    }
    schemas = _schemas("v2.9.3-extras")
    assert schemas.validate(repo) == []
    repo["spec"]["exclusionList"] = [f"^v{i}$" for i in range(26)]
    assert schemas.validate(repo) == [
        "ImageRepository flux-system/app: spec.exclusionList: must have at most 25 items, got 26"
    ]


def test_formats() -> None:
    doc = _crd(
        {
            "at": {"type": "string", "format": "date-time"},
            "small": {"type": "integer", "format": "int32"},
            "uri": {"type": "string", "format": "uri"},
        }
    )
    schemas = CrdSchemas.from_documents([doc])
    ok = {"at": "2024-05-01T10:00:00.123Z", "small": 2**31 - 1, "uri": "not checked"}
    assert schemas.validate(_widget(ok)) == []
    assert schemas.validate(_widget({"at": "2024-05-01T10:00:00+02:00"})) == []
    assert schemas.validate(_widget({"at": "yesterday", "small": 2**31})) == [
        "Widget flux-system/w: spec.at: 'yesterday' is not an RFC 3339 date-time",
        f"Widget flux-system/w: spec.small: {2**31} does not fit in int32",
    ]


def test_list_type_map_rejects_duplicate_keys() -> None:
    receiver: dict[str, Any] = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1",
        "kind": "Receiver",
        "metadata": _meta("gh"),
        "spec": {
            "type": "generic-oidc",
            "resources": [{"kind": "GitRepository", "name": "flux-system"}],
            "oidcProviders": [
                {
                    "issuerURL": "https://token.actions.githubusercontent.com",
                    "validations": [{"expression": "true", "message": "m"}],
                }
            ],
        },
    }
    schemas = _schemas("v2.9.4")
    assert schemas.validate(receiver) == []
    receiver["spec"]["oidcProviders"].append(copy.deepcopy(receiver["spec"]["oidcProviders"][0]))
    assert schemas.validate(receiver) == [
        "Receiver flux-system/gh: spec.oidcProviders[1]: duplicate entry with issuerURL "
        '["https://token.actions.githubusercontent.com"]'
    ]


def test_list_type_set_rejects_duplicates() -> None:
    doc = _crd(
        {"s": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}}
    )
    schemas = CrdSchemas.from_documents([doc])
    assert schemas.validate(_widget({"s": ["a", "b"]})) == []
    assert schemas.validate(_widget({"s": ["a", "b", "a"]})) == [
        'Widget flux-system/w: spec.s[2]: duplicate entry "a"'
    ]


def test_any_of_one_of_all_of_and_not() -> None:
    doc = _crd(
        {
            "ref": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "url": {"type": "string"}},
                "oneOf": [{"required": ["name"]}, {"required": ["url"]}],
            },
            "size": {
                "type": "integer",
                "anyOf": [{"minimum": 10}, {"maximum": 0}],
                "allOf": [{"maximum": 100}],
                "not": {"enum": [50]},
            },
        }
    )
    schemas = CrdSchemas.from_documents([doc])
    assert schemas.validate(_widget({"ref": {"name": "a"}, "size": 20})) == []
    problems = schemas.validate(_widget({"ref": {"name": "a", "url": "u"}, "size": 5}))
    assert problems == [
        "Widget flux-system/w: spec.ref: matches 2 of the oneOf schemas, must match exactly one",
        "Widget flux-system/w: spec.size: matches none of the anyOf schemas "
        "(spec.size: must be >= 10, got 5; spec.size: must be <= 0, got 5)",
    ]
    assert schemas.validate(_widget({"ref": {}, "size": 50})) == [
        "Widget flux-system/w: spec.ref: matches none of the oneOf schemas "
        "(spec.ref.name: required field is missing; spec.ref.url: required field is missing)",
        "Widget flux-system/w: spec.size: must not match the schema under 'not'",
    ]
    assert schemas.validate(_widget({"size": 200})) == [
        "Widget flux-system/w: spec.size: must be <= 100, got 200"
    ]


def test_embedded_resource() -> None:
    doc = _crd(
        {
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "x-kubernetes-preserve-unknown-fields": True,
            }
        }
    )
    schemas = CrdSchemas.from_documents([doc])
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"labels": {"a": "b"}}, "data": {}}
    assert schemas.validate(_widget({"template": cm})) == []
    assert schemas.validate(_widget({"template": {"metadata": {"name": "Bad_Name"}}})) == [
        "Widget flux-system/w: spec.template.metadata.name: 'Bad_Name' is not a DNS-1123 subdomain "
        "(lower-case alphanumerics, '-' and '.', starting and ending with an alphanumeric, "
        "at most 253 characters)",
        "Widget flux-system/w: spec.template.apiVersion: required field is missing",
        "Widget flux-system/w: spec.template.kind: required field is missing",
    ]


def test_schema_errors_are_reported_when_compiling() -> None:
    with pytest.raises(ManifestError, match=r"POSIX class"):
        CrdSchemas.from_documents([_crd({"s": {"type": "string", "pattern": "^[[:alpha:]]+$"}})])
    with pytest.raises(ManifestError, match=r"CRD widgets.example.com v1: schema .*'strng'"):
        CrdSchemas.from_documents([_crd({"s": {"type": "strng"}})])
    with pytest.raises(ManifestError, match=r"two CustomResourceDefinitions"):
        CrdSchemas.from_documents([_crd({}), _crd({})])


def test_lazily_a_kind_is_compiled_when_first_checked_and_its_errors_reported_then() -> None:
    bad = _crd({"s": {"type": "strng"}}, group="broken.example.com", kind="Gadget")
    schemas = CrdSchemas.from_documents([_crd({"n": {"type": "integer"}}), bad], lazy=True)
    # the broken kind costs nothing until an object of it is checked
    assert schemas.kinds() == [("broken.example.com", "Gadget"), ("example.com", "Widget")]
    assert schemas.validate(_widget({"n": 1})) == []
    with pytest.raises(ManifestError, match=r"CRD widgets.broken.example.com v1: .*'strng'"):
        schemas.validate({**_widget({}), "apiVersion": "broken.example.com/v1", "kind": "Gadget"})
    # the header is still checked up front
    with pytest.raises(ManifestError, match=r"two CustomResourceDefinitions"):
        CrdSchemas.from_documents([_crd({}), _crd({})], lazy=True)


def test_for_manifest_compiles_only_the_kinds_it_is_asked_about() -> None:
    crds._cache.clear()
    schemas = for_manifest(_manifest("v2.9.4"))
    assert schemas.validate(kustomization()) == []
    compiled = {key for key, crd in schemas._crds.items() if crd._versions is not None}
    assert compiled == {("kustomize.toolkit.fluxcd.io", "Kustomization")}


def test_from_documents_ignores_other_documents() -> None:
    schemas = CrdSchemas.from_documents([{"apiVersion": "v1", "kind": "Namespace"}, _crd({})])
    assert schemas.kinds() == [("example.com", "Widget")]


# ------------------------------------------------------------------------------ compiled once


def test_for_manifest_is_cached_per_manifest_text() -> None:
    manifest = _manifest("v2.9.4")
    first = for_manifest(manifest)
    assert for_manifest(manifest) is first
    # Same bytes from somewhere else: still the same compiled schemas.
    again = InstallManifest(manifest.version, manifest.text, "elsewhere")
    assert for_manifest(again) is first
    assert for_manifest(_manifest("v2.8.8")) is not first


def test_schemas_are_not_recompiled_per_validate_call(monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = _manifest("v2.9.4")
    calls = 0
    real = crds._compile

    def counting(*args: Any, **kwargs: Any) -> crds.Check:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(crds, "_compile", counting)
    # The counter sees compilation when it happens ...
    CrdSchemas.from_documents(manifest.documents)
    assert calls > 100
    # ... and, once each kind has been compiled (on its first check: for_manifest is lazy), none
    # while validating, however many objects.
    schemas = for_manifest(manifest)
    for make in VALID.values():
        schemas.validate(make())
    for_manifest(manifest).validate(kustomization("kustomize.toolkit.fluxcd.io/v1beta2"))
    calls = 0
    for _ in range(50):
        for make in VALID.values():
            schemas.validate(make())
        for_manifest(manifest).validate(kustomization("kustomize.toolkit.fluxcd.io/v1beta2"))
    assert calls == 0


def test_validation_is_fast() -> None:
    schemas = _schemas("v2.9.4")
    objs = [make() for make in VALID.values()] * 300
    start = time.perf_counter()
    for obj in objs:
        schemas.validate(obj)
    per_object = (time.perf_counter() - start) / len(objs)
    # The target is well under 1 ms per object; measured ~10 µs. Generous for slow CI.
    assert per_object < 0.001, f"{per_object * 1e6:.0f} µs per object"
