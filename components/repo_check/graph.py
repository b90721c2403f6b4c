"""`fluxboot graph`: the reconciliation order of one cluster, as Mermaid or Graphviz dot.

Built from the same object set `fluxboot validate` checks (`validate.collect_cluster`): the
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
from typing import Literal

from components.common.flux import (
    FLUX_NAMESPACE,
    HELM_GROUP,
    KUSTOMIZE_GROUP,
    SOURCE_GROUP,
    SOURCE_KINDS,
)
from components.repo_check.validate import (
    Applied,
    ClusterObjects,
    chart_refs,
    depends_on,
    is_kind,
    meta,
    spec_of,
)

Format = Literal["mermaid", "dot"]


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
            parents += depends_on(a.obj)
            for p in parents:
                if p in level and p != k and level[p] + 1 > level[k] and k != root:
                    level[k] = level[p] + 1
                    changed = True
        if not changed:
            break
    return level


Source = tuple[str, str, str]  # kind, namespace, name
Ident = tuple[str, str]  # namespace, name


def build_graph(cluster: ClusterObjects) -> Graph:
    """Kustomizations in reconciliation order, what each applies, and the edges between them."""
    graph = Graph(title=f"reconciliation order of cluster {cluster.cluster}")
    root = _nsname(cluster.root)
    kustomizations: dict[Ident, Applied] = {}
    for a in cluster.of_kind(KUSTOMIZE_GROUP, "Kustomization"):
        kustomizations.setdefault(_nsname(a), a)
    kustomizations[root] = kustomizations.get(root, cluster.root)
    levels = _levels(kustomizations, root)
    order = sorted(kustomizations, key=lambda k: (levels[k], k))

    root_src = _root_source(graph, cluster.root, root)
    for k in order:
        path = spec_of(kustomizations[k].obj).get("path")
        label = f"Kustomization {_name(*k)}" + (f"\n{path}" if isinstance(path, str) else "")
        graph.nodes.append(Node(_ks_id(*k), label, "ks"))
    known_sources = _add_groups(graph, cluster, order, root_src)
    edges = _kustomization_edges(graph, kustomizations, order)
    edges += _chart_edges(graph, cluster, known_sources)
    graph.edges.extend(dict.fromkeys(edges))  # each edge once, in order
    return graph


def _root_source(graph: Graph, root_ks: Applied, root: Ident) -> Source | None:
    """The root's own source, kept beside it whoever applies it."""
    ref = spec_of(root_ks.obj).get("sourceRef")
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return None
    src = (str(ref.get("kind")), str(ref.get("namespace") or root[0]), str(ref["name"]))
    graph.nodes.append(Node(_src_id(*src), f"{src[0]} {_name(*src[1:])}", "src"))
    graph.edges.append(Edge(_src_id(*src), _ks_id(*root), "source"))
    return src


def _add_groups(
    graph: Graph, cluster: ClusterObjects, order: list[Ident], root_src: Source | None
) -> set[Source]:
    """One group per Kustomization: the HelmReleases and sources it applies. The sources seen."""
    known: set[Source] = {root_src} if root_src else set()
    for k in order:
        members: list[tuple[tuple[int, str, str, str], Node]] = []
        for a in cluster.objects:
            if a.by != k:
                continue
            ns, name = _nsname(a)
            kind = str(a.obj.get("kind"))
            if is_kind(a.obj, HELM_GROUP, "HelmRelease"):
                node = Node(_hr_id(ns, name), f"HelmRelease {_name(ns, name)}", "hr")
                members.append(((0, kind, ns, name), node))
            elif is_kind(a.obj, SOURCE_GROUP, kind) and kind in SOURCE_KINDS:
                if (kind, ns, name) == root_src:
                    continue
                known.add((kind, ns, name))
                node = Node(_src_id(kind, ns, name), f"{kind} {_name(ns, name)}", "src")
                members.append(((1, kind, ns, name), node))
        if members:
            group = Group(_ident("applied_by", *k), f"applied by {_name(*k)}", _ks_id(*k))
            group.nodes = [n for _, n in sorted(members, key=lambda m: m[0])]
            graph.groups.append(group)
    return known


def _kustomization_edges(
    graph: Graph, kustomizations: Mapping[Ident, Applied], order: list[Ident]
) -> list[Edge]:
    """Which Kustomization applies which, dependsOn between them, and each group's owner."""
    edges: list[Edge] = []
    for k in order:
        a = kustomizations[k]
        if a.by is not None and a.by != k and a.by in kustomizations:
            edges.append(Edge(_ks_id(*a.by), _ks_id(*k), "applies"))
        for dep in depends_on(a.obj):
            edges.append(Edge(_ks_id(*dep), _ks_id(*k), "required by", dashed=True))
    edges += [Edge(group.owner, group.id, "applies") for group in graph.groups]
    return edges


def _chart_edges(graph: Graph, cluster: ClusterObjects, known: set[Source]) -> list[Edge]:
    """Each HelmRelease's chart source (a node of its own when nothing applies it) and its
    dependsOn."""
    edges: list[Edge] = []
    missing: dict[str, Node] = {}
    for a in sorted(cluster.of_kind(HELM_GROUP, "HelmRelease"), key=_nsname):
        ns, name = _nsname(a)
        for _field, ref in chart_refs(a.obj):
            if not isinstance(ref, Mapping) or not ref.get("name"):
                continue
            src = (str(ref.get("kind")), str(ref.get("namespace") or ns), str(ref["name"]))
            if src not in known:
                node = Node(_src_id(*src), f"{src[0]} {_name(*src[1:])} (missing)", "src")
                missing[node.id] = node
            edges.append(Edge(_src_id(*src), _hr_id(ns, name), "chart"))
        for dep in depends_on(a.obj):
            edges.append(Edge(_hr_id(*dep), _hr_id(ns, name), "required by", dashed=True))
    graph.nodes.extend(missing[i] for i in sorted(missing))
    return edges


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
