"""`fluxboot validate`: check a whole GitOps repository the way Flux would see it, before a push.

Per cluster (a directory under `clusters/`), the object set is what Flux would apply: the
`flux-system` sync objects and everything reachable by building the `path` of each Kustomization,
starting from the root Kustomization `flux-system` (from `clusters/<c>/flux-system/gotk-sync.yaml`,
or, when that file is absent, the one `flux bootstrap` would create: path `./clusters/<c>`, synced
from the GitRepository `flux-system`). Kustomizations found in a build are built in turn when they
sync from the same repository. After each build the Kustomization's `postBuild.substitute` variables
are substituted, as kustomize-controller does.

Checks, each finding one line `file: Kind ns/name: what is wrong`:
- every Kustomization path builds (see `kustomize_build`);
- every Flux object validates against the CRD schema of the cluster's Flux version, CEL rules
  (`x-kubernetes-validations`) included; a deprecated API version is a warning, an API version
  that version no longer serves an error, both naming the replacement (the CRD's storage
  version); a CEL rule that cannot be evaluated offline is reported once, as `skipped: ...`;
- with `--server`, every object is also dry-run on the cluster's API server (server-side apply,
  `dryRun=All`, see `server_dry_run`): a refusal is an error `API server: ...`, an object the
  server cannot judge yet (its namespace or kind does not exist there) a warning;
- every `dependsOn` names a Kustomization (a HelmRelease, for HelmReleases) of the cluster, and
  `dependsOn` has no cycle;
- every Kustomization `sourceRef`, HelmRelease chart `sourceRef` / `chartRef` and Alert
  `providerRef` resolves to an object the cluster gets;
- no two objects of a cluster share group/kind/namespace/name.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from components.common import yamlio
from components.common.errors import ManifestError
from components.common.flux import (
    FLUX_NAMESPACE,
    HELM_GROUP,
    KUSTOMIZE_GROUP,
    NOTIFICATION_GROUP,
    SOURCE_GROUP,
    SOURCE_KINDS,
)
from components.config.model import FluxSettings, StackConfig
from components.flux_release.bootstrap import bootstrap_sync_objects
from components.flux_release.crds import CrdSchemas, for_manifest, is_flux_api
from components.flux_release.manifests import InstallManifest, load_install_manifest
from components.repo_check.kustomize_build import (
    SKIPPED_MESSAGE,
    RepoFileError,
    SourcedObject,
    make_builder,
    read_repo_text,
    scratch_dir,
)

Severity = Literal["error", "warning", "skipped"]
SUBSTITUTE_ANNOTATION = "kustomize.toolkit.fluxcd.io/substitute"
# ${var}, ${var:=default}, ${var:-default}, ${var=default}, ${var-default}; $${...} is an escape
_VAR = re.compile(r"\$(\$?)\{([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?[=-])([^}]*))?\}")


@dataclass(frozen=True)
class Finding:
    """One problem: where (file, object), how bad, what; and in which clusters it holds."""

    file: str
    object: str
    severity: Severity
    message: str
    clusters: tuple[str, ...] = ()

    def line(self, all_clusters: tuple[str, ...] = ()) -> str:
        if self.severity == "skipped":
            return f"skipped: {self.message}"
        text = self.message if self.severity == "error" else f"{self.severity}: {self.message}"
        if len(all_clusters) > 1 and self.clusters and set(self.clusters) != set(all_clusters):
            text += f" (cluster {', '.join(self.clusters)})"
        where = f"{self.file}: {self.object}" if self.object else self.file
        return f"{where}: {text}"

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "object": self.object,
            "severity": self.severity,
            "message": self.message,
            "clusters": list(self.clusters),
        }


# ------------------------------------------------------------------------------------- objects


def group_of(obj: Mapping[str, Any]) -> str:
    return str(obj.get("apiVersion", "")).rpartition("/")[0]


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, Mapping) else {}


def label(obj: Mapping[str, Any]) -> str:
    """`Kind ns/name` (or `Kind name` for an object without namespace), as crds.py labels them."""
    m = meta(obj)
    kind = obj.get("kind") or "object"
    name = m.get("name") or "<unnamed>"
    return f"{kind} {m['namespace']}/{name}" if m.get("namespace") else f"{kind} {name}"


def obj_key(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    m = meta(obj)
    return (
        group_of(obj),
        str(obj.get("kind", "")),
        str(m.get("namespace") or ""),
        str(m.get("name") or ""),
    )


def is_kind(obj: Mapping[str, Any], group: str, kind: str) -> bool:
    return group_of(obj) == group and obj.get("kind") == kind


def spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    s = obj.get("spec")
    return s if isinstance(s, Mapping) else {}


@dataclass
class Applied:
    """An object of a cluster: where it was read from, and which Kustomization applies it."""

    obj: dict[str, Any]
    file: str
    by: tuple[str, str] | None  # (namespace, name) of the Flux Kustomization; None for the root


@dataclass
class ClusterObjects:
    """Everything Flux applies to one cluster, and the problems met while finding it."""

    cluster: str
    root: Applied
    objects: list[Applied] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    built_for_real: bool = True

    def find(self, group: str, kind: str, namespace: str, name: str) -> Applied | None:
        for a in self.objects:
            if obj_key(a.obj) == (group, kind, namespace, name):
                return a
        return None

    def of_kind(self, group: str, kind: str) -> list[Applied]:
        return [a for a in self.objects if is_kind(a.obj, group, kind)]


def substitute(obj: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """Flux post-build substitution of one object (https://fluxcd.io/flux/components/kustomize/kustomizations/#post-build-variable-substitution).

    Variables from `substitute` are replaced; an unset one takes its default, and without a default
    becomes empty, as in kustomize-controller, unless `substituteFrom` might set it (its values
    are in the cluster, not in Git): then it is left as written.
    """
    post = spec.get("postBuild")
    if not isinstance(post, Mapping):
        return obj
    values = post.get("substitute") if isinstance(post.get("substitute"), Mapping) else {}
    assert isinstance(values, Mapping)
    has_from = bool(post.get("substituteFrom"))
    if not values and not has_from:
        return obj
    m = meta(obj)
    for where in ("labels", "annotations"):
        marks = m.get(where)
        if isinstance(marks, Mapping) and marks.get(SUBSTITUTE_ANNOTATION) == "disabled":
            return obj

    def sub(match: re.Match[str]) -> str:
        escaped, name, op, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        if name in values:
            value = str(values[name]).replace("\n", "")
            if value or op not in (":=", ":-"):
                return value
        if op is not None:
            return default or ""
        return match.group(0) if has_from else ""

    text = yamlio.dump(obj)
    replaced = _VAR.sub(sub, text)
    if replaced == text:
        return obj
    try:
        loaded = yamlio.load(replaced)
    except yaml.YAMLError:
        return obj
    return loaded if isinstance(loaded, dict) else obj


def implicit_root(cluster: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The GitRepository and Kustomization `flux-system` that `flux bootstrap` creates, for a
    checkout without `gotk-sync.yaml`."""
    repo, ks = bootstrap_sync_objects(cluster, "ssh://implicit", "main", "1m", "10m")
    return repo, ks


def _sync_file_objects(
    root: Path, cluster: str
) -> tuple[str, list[dict[str, Any]], str | None] | None:
    """gotk-sync.yaml's objects, or what is wrong with the file (it is then as if absent)."""
    rel = f"clusters/{cluster}/flux-system/gotk-sync.yaml"
    path = root / rel
    if not (path.is_file() or path.is_symlink()):
        return None
    try:
        docs = yamlio.load_all(read_repo_text(root, path))
    except RepoFileError as err:
        return rel, [], str(err).partition(": ")[2]
    except yaml.YAMLError as err:
        return rel, [], f"not YAML: {yamlio.one_line(err)}"
    return rel, [d for d in docs if isinstance(d, dict)], None


def collect_cluster(root: Path, cluster: str, builder: Any, real: bool) -> ClusterObjects:
    """Build the root Kustomization of `cluster` and every Kustomization it leads to."""
    repo_obj, ks_obj = implicit_root(cluster)
    root_file = f"clusters/{cluster}"
    sync = _sync_file_objects(root, cluster)
    problem = None
    if sync is not None:
        root_file, sync_docs, problem = sync
        for doc in sync_docs:
            if (
                is_kind(doc, KUSTOMIZE_GROUP, "Kustomization")
                and meta(doc).get("name") == FLUX_NAMESPACE
            ):
                ks_obj = doc
            elif (
                is_kind(doc, SOURCE_GROUP, "GitRepository")
                and meta(doc).get("name") == FLUX_NAMESPACE
            ):
                repo_obj = doc
    root_applied = Applied(ks_obj, root_file, None)
    result = ClusterObjects(cluster=cluster, root=root_applied, built_for_real=real)
    if problem:
        result.findings.append(Finding(root_file, "", "error", problem))
    # on the cluster through the bootstrap, whether or not the root path applies them again
    implicit = [Applied(repo_obj, root_file, None), root_applied]
    root_ns = str(meta(ks_obj).get("namespace") or FLUX_NAMESPACE)
    root_source = _source_key(spec_of(ks_obj), root_ns)

    queue: list[Applied] = [root_applied]
    built: set[tuple[str, str]] = set()
    while queue:
        ks = queue.pop(0)
        ns = str(meta(ks.obj).get("namespace") or "")
        ident = (ns, str(meta(ks.obj).get("name") or ""))
        if ident in built:
            continue
        built.add(ident)
        spec = spec_of(ks.obj)
        if _source_key(spec, ns) != root_source:
            ref = spec.get("sourceRef") if isinstance(spec.get("sourceRef"), Mapping) else {}
            assert isinstance(ref, Mapping)
            result.findings.append(
                Finding(
                    ks.file,
                    label(ks.obj),
                    "warning",
                    f"path not checked: it comes from {ref.get('kind')} "
                    f"{ref.get('namespace') or ns}/{ref.get('name')}, not from this repository",
                )
            )
            continue
        build = builder.build(str(spec.get("path") or "."), spec)
        if build.error:
            result.findings.append(Finding(ks.file, label(ks.obj), "error", build.error))
            continue
        for so in build.objects:
            assert isinstance(so, SourcedObject)
            obj = substitute(so.obj, spec)
            applied = Applied(obj, so.file, ident)
            result.objects.append(applied)
            if is_kind(obj, KUSTOMIZE_GROUP, "Kustomization"):
                queue.append(applied)
    # the bootstrap's objects, unless the builds apply them too
    for a in implicit:
        if not any(obj_key(o.obj) == obj_key(a.obj) for o in result.objects):
            result.objects.insert(0, a)
    return result


def _source_key(spec: Mapping[str, Any], namespace: str) -> tuple[str, str, str]:
    ref = spec.get("sourceRef")
    if not isinstance(ref, Mapping):
        return ("", "", "")
    return (str(ref.get("kind")), str(ref.get("namespace") or namespace), str(ref.get("name")))


# -------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class FluxApis:
    """The CRDs of the Flux version a cluster runs: schemas, and each kind's storage version."""

    version: str
    schemas: CrdSchemas
    storage: Mapping[tuple[str, str], str]
    # problems met while finding these APIs (a committed gotk-components.yaml that is no
    # install manifest), reported with the cluster's findings
    findings: tuple[Finding, ...] = ()

    @classmethod
    def from_manifest(cls, manifest: InstallManifest) -> FluxApis:
        return cls.from_documents(manifest.version, manifest.documents, for_manifest(manifest))

    @classmethod
    def from_documents(
        cls, version: str, docs: Iterable[Any], schemas: CrdSchemas | None = None
    ) -> FluxApis:
        docs = list(docs)
        storage: dict[tuple[str, str], str] = {}
        for doc in docs:
            if not isinstance(doc, Mapping) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = spec_of(doc)
            kind = (spec.get("names") or {}).get("kind")
            for v in spec.get("versions") or []:
                if isinstance(v, Mapping) and v.get("storage") is True:
                    storage[(str(spec.get("group")), str(kind))] = str(v.get("name"))
        return cls(version, schemas or CrdSchemas.from_documents(docs), storage)

    def replacement(self, group: str, kind: str) -> str | None:
        version = self.storage.get((group, kind))
        if version is None:
            served = [
                v
                for v in self.schemas.served_versions(group, kind)
                if self.schemas.deprecation(f"{group}/{v}", kind) is None
            ]
            version = served[0] if served else None
        return f"{group}/{version}" if version else None


def check_schema(cluster: ClusterObjects, apis: FluxApis) -> list[Finding]:
    out: list[Finding] = []
    for a in cluster.objects:
        api_version = str(a.obj.get("apiVersion", ""))
        if not is_flux_api(api_version):
            continue
        kind = str(a.obj.get("kind", ""))
        group = group_of(a.obj)
        what = label(a.obj)
        instead = apis.replacement(group, kind)
        use = f": use {instead}" if instead and instead != api_version else ""
        if apis.schemas.served_versions(group, kind) and not apis.schemas.knows(api_version, kind):
            out.append(
                Finding(
                    a.file,
                    what,
                    "error",
                    f"{api_version} {kind} is not served by Flux {apis.version}{use}",
                )
            )
            continue
        if apis.schemas.deprecation(api_version, kind) is not None:
            out.append(Finding(a.file, what, "warning", f"{api_version} {kind} is deprecated{use}"))
        prefix = what + ": "
        verdict = apis.schemas.check(a.obj)
        for problem in verdict.errors:
            out.append(Finding(a.file, what, "error", problem.removeprefix(prefix)))
        # a CEL rule the offline check cannot evaluate: one line per rule, wherever it is met
        out.extend(Finding("", "", "skipped", note) for note in verdict.unchecked)
    return out


def depends_on(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(namespace, name) of each `dependsOn` entry; the namespace defaults to the object's."""
    ns = str(meta(obj).get("namespace") or "")
    deps = spec_of(obj).get("dependsOn")
    out = []
    for d in deps if isinstance(deps, list) else []:
        if isinstance(d, Mapping) and d.get("name"):
            out.append((str(d.get("namespace") or ns), str(d["name"])))
    return out


def chart_refs(obj: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """A HelmRelease's references to its chart's source: `chart.spec.sourceRef` and
    `chartRef`, each as (field, value) with the value as written (None when absent)."""
    spec = spec_of(obj)
    chart = spec.get("chart")
    chart_spec = chart.get("spec") if isinstance(chart, Mapping) else None
    source_ref = chart_spec.get("sourceRef") if isinstance(chart_spec, Mapping) else None
    return [("chart sourceRef", source_ref), ("chartRef", spec.get("chartRef"))]


def check_depends_on(cluster: ClusterObjects) -> list[Finding]:
    out: list[Finding] = []
    for group, kind in ((KUSTOMIZE_GROUP, "Kustomization"), (HELM_GROUP, "HelmRelease")):
        nodes = {
            (str(meta(a.obj).get("namespace") or ""), str(meta(a.obj).get("name") or "")): a
            for a in cluster.of_kind(group, kind)
        }
        edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for ident, a in sorted(nodes.items()):
            edges[ident] = []
            for dep in depends_on(a.obj):
                if dep not in nodes:
                    known = ", ".join(f"{n}/{m}" for n, m in sorted(nodes)) or "none"
                    out.append(
                        Finding(
                            a.file,
                            label(a.obj),
                            "error",
                            f"dependsOn {dep[0]}/{dep[1]}: no such {kind} in cluster "
                            f"{cluster.cluster} ({kind}s: {known})",
                        )
                    )
                else:
                    edges[ident].append(dep)
        for cycle in _cycles(edges):
            first = nodes[cycle[0]]
            path = " -> ".join(f"{n}/{m}" for n, m in [*cycle, cycle[0]])
            out.append(Finding(first.file, label(first.obj), "error", f"dependsOn cycle: {path}"))
    return out


def _cycles(edges: Mapping[tuple[str, str], list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
    """Each elementary cycle found by a depth-first search once, rotated to start at its least node."""
    found: set[tuple[tuple[str, str], ...]] = set()
    state: dict[tuple[str, str], int] = {}
    stack: list[tuple[str, str]] = []

    def visit(node: tuple[str, str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :]
                i = cycle.index(min(cycle))
                found.add(tuple(cycle[i:] + cycle[:i]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return [list(c) for c in sorted(found)]


def _ref_problem(cluster: ClusterObjects, ref: Any, namespace: str, what: str) -> str | None:
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return None  # the schema check reports a malformed reference
    kind = str(ref.get("kind") or "")
    ns = str(ref.get("namespace") or namespace)
    if (
        kind not in SOURCE_KINDS
        or cluster.find(SOURCE_GROUP, kind, ns, str(ref["name"])) is not None
    ):
        return None
    return f"{what} {kind} {ns}/{ref['name']}: not in what cluster {cluster.cluster} applies"


def check_references(cluster: ClusterObjects) -> list[Finding]:
    out: list[Finding] = []
    for a in cluster.objects:
        ns = str(meta(a.obj).get("namespace") or "")
        spec = spec_of(a.obj)
        problems: list[str] = []
        if is_kind(a.obj, HELM_GROUP, "HelmRelease"):
            problems.extend(
                _ref_problem(cluster, ref, ns, field) or "" for field, ref in chart_refs(a.obj)
            )
        elif is_kind(a.obj, KUSTOMIZE_GROUP, "Kustomization") and a is not cluster.root:
            problems.append(_ref_problem(cluster, spec.get("sourceRef"), ns, "sourceRef") or "")
        elif is_kind(a.obj, NOTIFICATION_GROUP, "Alert"):
            ref = spec.get("providerRef")
            if (
                isinstance(ref, Mapping)
                and ref.get("name")
                and cluster.find(NOTIFICATION_GROUP, "Provider", ns, str(ref["name"])) is None
            ):
                known = sorted(
                    str(meta(p.obj).get("name"))
                    for p in cluster.of_kind(NOTIFICATION_GROUP, "Provider")
                    if meta(p.obj).get("namespace") == ns
                )
                problems.append(
                    f"providerRef {ref['name']}: no such Provider in namespace {ns} "
                    f"(Providers: {', '.join(known) or 'none'})"
                )
        out.extend(Finding(a.file, label(a.obj), "error", p) for p in problems if p)
    return out


def check_duplicates(cluster: ClusterObjects) -> list[Finding]:
    by_key: dict[tuple[str, str, str, str], list[Applied]] = defaultdict(list)
    for a in cluster.objects:
        by_key[obj_key(a.obj)].append(a)
    out = []
    for key, found in sorted(by_key.items()):
        if len(found) < 2:
            continue
        where = sorted({f.file for f in found})
        group = f" ({key[0]})" if key[0] else ""
        for a in found:
            others = [w for w in where if w != a.file] or [a.file]
            out.append(
                Finding(
                    a.file,
                    label(a.obj),
                    "error",
                    f"defined {len(found)} times in cluster {cluster.cluster}{group}; "
                    f"also in {', '.join(others)}",
                )
            )
    return out


def check_cluster(cluster: ClusterObjects, apis: FluxApis) -> list[Finding]:
    return [
        *cluster.findings,
        *check_schema(cluster, apis),
        *check_depends_on(cluster),
        *check_references(cluster),
        *check_duplicates(cluster),
    ]


# ------------------------------------------------------------------------------------- driving


class ServerAnswer(Protocol):
    """What an API server said about one object (`server_dry_run.Answer`)."""

    @property
    def verdict(self) -> Literal["accepted", "refused", "not judged"]: ...

    @property
    def message(self) -> str: ...


class ServerCheck(Protocol):
    """Asks a cluster's API server about an object without changing anything
    (`server_dry_run.ServerDryRun`; the CLI builds it, so this layer needs no client)."""

    def answer(self, obj: Mapping[str, Any], default_namespace: str = ...) -> ServerAnswer: ...


@dataclass(frozen=True)
class Target:
    """One cluster to check, the Flux APIs it runs, and its API server when asked to dry-run."""

    cluster: str
    apis: FluxApis
    server: ServerCheck | None = None


def check_server(cluster: ClusterObjects, server: ServerCheck) -> list[Finding]:
    """Every object the cluster gets, dry-run on its API server, in the order Flux applies."""
    out: list[Finding] = []
    for a in cluster.objects:
        answer = server.answer(a.obj)
        if answer.verdict == "refused":
            out.append(Finding(a.file, label(a.obj), "error", f"API server: {answer.message}"))
        elif answer.verdict == "not judged":
            out.append(
                Finding(
                    a.file, label(a.obj), "warning", f"API server: not dry-run: {answer.message}"
                )
            )
    return out


def apis_for(
    root: Path,
    cluster: str,
    stacks: Mapping[str, StackConfig],
    project_dir: Path,
    mirror_dir: Path | None,
) -> FluxApis:
    """The CRDs of `cluster`: its committed gotk-components.yaml, else its stack's Flux version,
    else the default Flux version."""
    rel = f"clusters/{cluster}/flux-system/gotk-components.yaml"
    committed = root / rel
    found: tuple[Finding, ...] = ()
    if committed.is_file() or committed.is_symlink():
        try:
            text = read_repo_text(root, committed)
            m = re.search(r"^# Flux Version: (\S+)", text, re.MULTILINE)
            manifest = InstallManifest(m.group(1) if m else "(committed)", text, rel)
            return FluxApis.from_manifest(manifest)
        except (RepoFileError, ManifestError) as err:
            # a finding of this repository, and the schemas of the stack's version instead
            why = str(err).removeprefix(f"{rel}: ")
            found = (Finding(rel, "", "error", f"not a Flux install manifest: {why}"),)
    config = stacks.get(cluster)
    flux = config.settings.flux if config else FluxSettings()
    apis = FluxApis.from_manifest(load_install_manifest(flux, project_dir, mirror_dir))
    return dataclasses.replace(apis, findings=found)


def clusters_in(root: Path) -> list[str]:
    base = root / "clusters"
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def validate_tree(root: Path, targets: list[Target]) -> list[Finding]:
    """Every finding of every target cluster, merged across clusters and sorted."""
    merged: dict[tuple[str, str, Severity, str], set[str]] = {}
    with scratch_dir() as scratch:
        builder, real = make_builder(root, Path(scratch))
        for target in targets:
            objects = collect_cluster(root, target.cluster, builder, real)
            found = [*target.apis.findings, *check_cluster(objects, target.apis)]
            if target.server is not None:
                found += check_server(objects, target.server)
            for f in found:
                merged.setdefault((f.file, f.object, f.severity, f.message), set()).add(
                    target.cluster
                )
    findings = [
        Finding(file, obj, severity, message, tuple(sorted(clusters)))
        for (file, obj, severity, message), clusters in merged.items()
    ]
    order = {"skipped": 0, "error": 1, "warning": 2}
    findings.sort(key=lambda f: (f.file, f.object, order[f.severity], f.message))
    if not real:
        findings.insert(0, Finding("", "", "skipped", SKIPPED_MESSAGE))
    return findings


def format_text(findings: list[Finding], clusters: tuple[str, ...]) -> str:
    return "".join(f.line(clusters) + "\n" for f in findings)


def format_json(findings: list[Finding]) -> str:
    return json.dumps([f.as_json() for f in findings], indent=2) + "\n"


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)
