"""YAML in and out.

In: safe loaders that reject duplicate keys (PyYAML silently keeps the last one, which hides
config mistakes) and resource bombs: every document's node graph is checked after parsing and
before any Python object is built, and refused when its aliases would expand it by more than
`MAX_ALIAS_EXPANSION` nodes (a 1.6 KB "billion laughs" file is 10^9 nodes once expanded), when
an alias refers to a node that contains it, or when it nests deeper than `MAX_DEPTH`. Anchors
and aliases used as people use them (a shared map or two) pass.

Out, two deterministic styles, keys in the order the renderer built them, no aliases, LF:

- ours (`dump`, `dump_all`), for the files this project writes: 2-space indent, list items
  indented under their key, as the Flux docs write YAML;
- flux's (`dump_flux`, `dump_all_flux`), for `clusters/<c>/flux-system/`, which `flux bootstrap`
  writes too: what go-yaml (through kustomize and sigs.k8s.io/yaml) emits, so that both tools
  write the same bytes. Keys sorted, list items at their key's indent, plain scalars folded at
  80 columns, strings that would read back as another type double-quoted. libyaml's C emitter
  writes exactly that (go-yaml is a port of libyaml), so it is also the fast path: the 270 KB
  install in ~0.1 s.
"""

from __future__ import annotations

from typing import Any

import yaml

from components.common.errors import quote

# Nodes that aliases may add to a document once expanded, and how deep a document may nest
# (Kubernetes objects and CRD schemas stay far below either).
MAX_ALIAS_EXPANSION = 10_000
MAX_DEPTH = 100


class YAMLBombError(yaml.YAMLError):
    """A document that would expand beyond the bounds, refer to itself, or nest too deep."""


def one_line(err: BaseException) -> str:
    """A YAML error on one line: where it is and what is wrong, without the source snippet."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = " ".join(str(x) for x in (err.context, err.problem) if x)
        return f"{where}{what}"
    return " ".join(str(err).split())


def check_node(node: yaml.Node | None) -> None:
    """Refuse a composed document whose expansion is a resource bomb (see the module docstring).

    One walk over the distinct nodes: each node's expanded size is computed once, so the check
    costs what the file holds, not what it would expand to.
    """
    if node is None:
        return
    size: dict[int, int] = {}
    distinct = 0
    # (node, depth, children done?): an explicit stack, so a deep document cannot exhaust
    # Python's recursion limit here
    stack: list[tuple[yaml.Node, int, bool]] = [(node, 1, False)]
    active: set[int] = set()
    while stack:
        current, depth, done = stack.pop()
        key = id(current)
        children = _children(current)
        if done:
            active.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            continue
        if key in size:
            continue
        if key in active:
            raise YAMLBombError(f"{_where(current)}an alias refers to a node that contains it")
        if depth > MAX_DEPTH:
            raise YAMLBombError(f"{_where(current)}nested deeper than {MAX_DEPTH} levels")
        distinct += 1
        active.add(key)
        stack.append((current, depth, True))
        for child in children:
            if id(child) in active:
                raise YAMLBombError(f"{_where(child)}an alias refers to a node that contains it")
            if id(child) not in size:
                stack.append((child, depth + 1, False))
    if size[id(node)] - distinct > MAX_ALIAS_EXPANSION:
        raise YAMLBombError(
            f"{_where(node)}aliases would expand this document from {distinct} to "
            f"{size[id(node)]} nodes (at most {MAX_ALIAS_EXPANSION} more are allowed)"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""


class _Bounded:
    """Mixin for a loader: every composed document passes `check_node` before construction."""

    def get_single_node(self) -> Any:
        node = super().get_single_node()  # type: ignore[misc]
        check_node(node)
        return node

    def get_node(self) -> Any:
        node = super().get_node()  # type: ignore[misc]
        check_node(node)
        return node


def _guard_recursion(load: Any, text: str, loader: type) -> Any:
    try:
        return load(text, Loader=loader)
    except RecursionError:
        # the pure-Python composer recurses once per level: a document nested thousands of
        # levels deep fails here, before `check_node` sees it
        raise YAMLBombError(f"nested deeper than {MAX_DEPTH} levels") from None


class _Loader(_Bounded, yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice, and resource bombs."""


def _construct_mapping(
    loader: _Loader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {quote(key)}",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load(text: str) -> Any:
    """Parse one YAML document; duplicate keys and resource bombs are errors."""
    return _guard_recursion(yaml.load, text, _Loader)


def load_all(text: str) -> list[Any]:
    """Parse every non-empty document of a multi-document stream."""
    return [d for d in _guard_recursion(_load_all_list, text, _Loader) if d is not None]


def _load_all_list(text: str, Loader: type) -> list[Any]:
    return list(yaml.load_all(text, Loader=Loader))


# libyaml's loader where PyYAML was built with it: ~10x faster, same result for safe YAML.
_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastStrictLoader(_Bounded, _FastLoader):  # type: ignore[valid-type, misc]
    """libyaml's parser with the checks of `_Loader` (the constructor is Python)."""


_FastStrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def load_all_fast(text: str) -> list[Any]:
    """`load_all` through libyaml, for large input (the Flux install manifest): the same
    documents and the same checks; parse errors are worded by libyaml."""
    return [d for d in _guard_recursion(_load_all_list, text, _FastStrictLoader) if d is not None]


def load_all_generated(text: str) -> list[Any]:
    """`load_all` for text this program generated itself (no duplicate-key check needed)."""
    return [d for d in yaml.load_all(text, Loader=_FastLoader) if d is not None]


class _Dumper(yaml.SafeDumper):
    """Indents sequences under their key, as the Flux docs write YAML.

    The pure-Python dumper: libyaml's C emitter ignores `increase_indent`.
    """

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_presenter)


def dump(obj: Any) -> str:
    """One document, deterministic, keys in insertion order."""
    return yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=4096,
        allow_unicode=True,
    )


def dump_all(objs: list[Any]) -> str:
    """Several documents, each introduced by `---`, as Flux's own files are written."""
    return "".join("---\n" + dump(o) for o in objs)


# --------------------------------------------------------------------------- flux's style


_FluxDumperBase: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _FluxDumper(_FluxDumperBase):  # type: ignore[valid-type, misc]
    """libyaml's emitter with go-yaml's scalar choices (see the module docstring)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_RESOLVER = yaml.resolver.Resolver()
# What go-yaml quotes with double quotes: a string that a YAML reader would take for a number,
# a boolean, a null or a timestamp. (PyYAML's emitter would pick single quotes.)
_NOT_STRINGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool", "null", "timestamp")
)


def _flux_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    if _RESOLVER.resolve(yaml.ScalarNode, data, (True, False)) in _NOT_STRINGS:  # type: ignore[no-untyped-call]
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_FluxDumper.add_representer(str, _flux_str)


def dump_flux(obj: Any) -> str:
    """One document in flux's style (see the module docstring). Keys are sorted at every level:
    kustomize and sigs.k8s.io/yaml write objects through JSON maps."""
    return yaml.dump(
        obj,
        Dumper=_FluxDumper,
        sort_keys=True,
        default_flow_style=False,
        width=80,
        allow_unicode=True,
    )


def dump_all_flux(objs: list[Any]) -> str:
    """Several documents in flux's style, separated by `---` lines, as kustomize writes them."""
    return "---\n".join(dump_flux(o) for o in objs)
