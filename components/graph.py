"""`fluxboot graph`: the reconciliation order of one cluster, as Mermaid or Graphviz dot.

Built from the same object set `fluxboot validate` checks (`repo_validate.collect_cluster`): the
root Kustomization `flux-system` and its GitRepository, the Kustomizations it applies, and, per
Kustomization, the HelmReleases and sources that building its path yields.

Edges:
- `applies`: a Kustomization creates another Kustomization, or the group of HelmReleases and
  sources found in its path;
- `required by` (dashed): `dependsOn`, drawn in reconciliation order, from the object that must be
  Ready first to the one that waits for it;
- `chart`: the source a HelmRelease's chart comes from.

Output is deterministic: Kustomizations in reconciliation order, everything else sorted by kind,
namespace and name; no timestamps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from components.repo_validate import (
    FLUX_NAMESPACE,
    HELM_GROUP,
    KUSTOMIZE_GROUP,
    SOURCE_GROUP,
    Applied,
    ClusterObjects,
    is_kind,
    meta,
    spec_of,
)

Format = Literal["mermaid", "dot"]
_SOURCE_KINDS = ("GitRepository", "HelmRepository", "OCIRepository", "Bucket", "HelmChart")


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    shape: Literal["ks", "hr", "src"]


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str
    dashed: bool = False


@dataclass
class Group:
    id: str
    label: str
    owner: str  # node id of the Kustomization that applies the group
    nodes: list[Node] = field(default_factory=list)


@dataclass
class Graph:
    """Nodes outside any group, the groups, and the edges, each in output order."""

    title: str
    nodes: list[Node] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def _ident(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", "_".join(parts)).strip("_").lower()


def _name(ns: str, name: str) -> str:
    return name if ns in ("", FLUX_NAMESPACE) else f"{ns}/{name}"


def _nsname(a: Applied) -> tuple[str, str]:
    m = meta(a.obj)
    return str(m.get("namespace") or ""), str(m.get("name") or "")


def _ks_id(ns: str, name: str) -> str:
    return _ident("ks", ns, name)


def _hr_id(ns: str, name: str) -> str:
    return _ident("hr", ns, name)


def _src_id(kind: str, ns: str, name: str) -> str:
    return _ident("src", kind, ns, name)


def _levels(
    ks: Mapping[tuple[str, str], Applied], root: tuple[str, str]
) -> dict[tuple[str, str], int]:
    """Longest distance from the root along applies and dependsOn edges (cycles cut off)."""
    level = {k: 0 for k in ks}
    for _ in range(len(ks)):
        changed = False
        for k, a in ks.items():
            parents = [a.by] if a.by is not None and a.by != k else []
            ns = k[0]
            for d in spec_of(a.obj).get("dependsOn") or []:
                if isinstance(d, Mapping) and d.get("name"):
                    parents.append((str(d.get("namespace") or ns), str(d["name"])))
            for p in parents:
                if p in level and p != k and level[p] + 1 > level[k] and k != root:
                    level[k] = level[p] + 1
                    changed = True
        if not changed:
            break
    return level


def build_graph(cluster: ClusterObjects) -> Graph:
    graph = Graph(title=f"reconciliation order of cluster {cluster.cluster}")
    root = _nsname(cluster.root)
    kustomizations: dict[tuple[str, str], Applied] = {}
    for a in cluster.of_kind(KUSTOMIZE_GROUP, "Kustomization"):
        kustomizations.setdefault(_nsname(a), a)
    kustomizations[root] = kustomizations.get(root, cluster.root)
    levels = _levels(kustomizations, root)
    order = sorted(kustomizations, key=lambda k: (levels[k], k))

    # the root's own source stays beside it, whoever applies it
    root_ref = spec_of(cluster.root.obj).get("sourceRef")
    root_src: tuple[str, str, str] | None = None
    if isinstance(root_ref, Mapping) and root_ref.get("name"):
        root_src = (
            str(root_ref.get("kind")),
            str(root_ref.get("namespace") or root[0]),
            str(root_ref["name"]),
        )
        graph.nodes.append(Node(_src_id(*root_src), f"{root_src[0]} {_name(*root_src[1:])}", "src"))
        graph.edges.append(Edge(_src_id(*root_src), _ks_id(*root), "source"))

    for k in order:
        a = kustomizations[k]
        path = spec_of(a.obj).get("path")
        label = f"Kustomization {_name(*k)}" + (f"\n{path}" if isinstance(path, str) else "")
        graph.nodes.append(Node(_ks_id(*k), label, "ks"))

    known_sources: set[tuple[str, str, str]] = {root_src} if root_src else set()
    for k in order:
        members: list[tuple[tuple[int, str, str, str], Node]] = []
        for a in cluster.objects:
            if a.by != k:
                continue
            ns, name = _nsname(a)
            kind = str(a.obj.get("kind"))
            if is_kind(a.obj, HELM_GROUP, "HelmRelease"):
                members.append(
                    (
                        (0, kind, ns, name),
                        Node(_hr_id(ns, name), f"HelmRelease {_name(ns, name)}", "hr"),
                    )
                )
            elif is_kind(a.obj, SOURCE_GROUP, kind) and kind in _SOURCE_KINDS:
                if (kind, ns, name) == root_src:
                    continue
                known_sources.add((kind, ns, name))
                members.append(
                    (
                        (1, kind, ns, name),
                        Node(_src_id(kind, ns, name), f"{kind} {_name(ns, name)}", "src"),
                    )
                )
        if members:
            group = Group(_ident("applied_by", *k), f"applied by {_name(*k)}", _ks_id(*k))
            group.nodes = [n for _, n in sorted(members, key=lambda m: m[0])]
            graph.groups.append(group)

    edges: list[Edge] = []
    for k in order:
        a = kustomizations[k]
        if a.by is not None and a.by != k and a.by in kustomizations:
            edges.append(Edge(_ks_id(*a.by), _ks_id(*k), "applies"))
        for d in spec_of(a.obj).get("dependsOn") or []:
            if isinstance(d, Mapping) and d.get("name"):
                dep = (str(d.get("namespace") or k[0]), str(d["name"]))
                edges.append(Edge(_ks_id(*dep), _ks_id(*k), "required by", dashed=True))
    for group in graph.groups:
        edges.append(Edge(group.owner, group.id, "applies"))

    missing: dict[str, Node] = {}
    for a in sorted(cluster.of_kind(HELM_GROUP, "HelmRelease"), key=_nsname):
        ns, name = _nsname(a)
        spec = spec_of(a.obj)
        chart = spec.get("chart") if isinstance(spec.get("chart"), Mapping) else {}
        chart_spec = chart.get("spec") if isinstance(chart, Mapping) else None
        refs: list[Any] = [
            chart_spec.get("sourceRef") if isinstance(chart_spec, Mapping) else None,
            spec.get("chartRef"),
        ]
        for ref in refs:
            if not isinstance(ref, Mapping) or not ref.get("name"):
                continue
            src = (str(ref.get("kind")), str(ref.get("namespace") or ns), str(ref["name"]))
            if src not in known_sources:
                node = Node(_src_id(*src), f"{src[0]} {_name(*src[1:])} (missing)", "src")
                missing[node.id] = node
            edges.append(Edge(_src_id(*src), _hr_id(ns, name), "chart"))
        for d in spec.get("dependsOn") or []:
            if isinstance(d, Mapping) and d.get("name"):
                dep = (str(d.get("namespace") or ns), str(d["name"]))
                edges.append(Edge(_hr_id(*dep), _hr_id(ns, name), "required by", dashed=True))
    graph.nodes.extend(missing[i] for i in sorted(missing))
    seen: set[Edge] = set()
    for e in edges:
        if e not in seen:
            seen.add(e)
            graph.edges.append(e)
    return graph


# ----------------------------------------------------------------------------------- output


def _mermaid_node(n: Node) -> str:
    text = n.label.replace('"', "#quot;").replace("\n", "<br/>")
    if n.shape == "src":
        return f'{n.id}[("{text}")]'
    if n.shape == "hr":
        return f'{n.id}(["{text}"])'
    return f'{n.id}["{text}"]'


def to_mermaid(graph: Graph) -> str:
    lines = ["flowchart LR", f"  %% {graph.title}"]
    lines += [f"  {_mermaid_node(n)}" for n in graph.nodes]
    for g in graph.groups:
        lines.append(f'  subgraph {g.id}["{g.label}"]')
        lines += [f"    {_mermaid_node(n)}" for n in g.nodes]
        lines.append("  end")
    for e in graph.edges:
        arrow = f"-.->|{e.label}|" if e.dashed else f"-->|{e.label}|"
        lines.append(f"  {e.src} {arrow} {e.dst}")
    return "\n".join(lines) + "\n"


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_DOT_SHAPES = {"ks": "box", "hr": "box, style=rounded", "src": "cylinder"}


def to_dot(graph: Graph) -> str:
    lines = [
        f"// {graph.title}",
        "digraph flux {",
        "  rankdir=LR;",
        "  compound=true;",
        '  node [fontname="Helvetica"];',
    ]
    lines += [
        f"  {n.id} [label={_dot_str(n.label)}, shape={_DOT_SHAPES[n.shape]}];" for n in graph.nodes
    ]
    first_in: dict[str, str] = {}
    for g in graph.groups:
        lines.append(f"  subgraph cluster_{g.id} {{")
        lines.append(f"    label={_dot_str(g.label)};")
        lines += [
            f"    {n.id} [label={_dot_str(n.label)}, shape={_DOT_SHAPES[n.shape]}];"
            for n in g.nodes
        ]
        lines.append("  }")
        first_in[g.id] = g.nodes[0].id
    for e in graph.edges:
        attrs = [f"label={_dot_str(e.label)}"]
        if e.dashed:
            attrs.append("style=dashed")
        dst = e.dst
        if dst in first_in:  # an edge to a group ends at its border
            attrs.append(f"lhead=cluster_{dst}")
            dst = first_in[dst]
        lines.append(f"  {e.src} -> {dst} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(graph: Graph, fmt: Format) -> str:
    return to_mermaid(graph) if fmt == "mermaid" else to_dot(graph)
