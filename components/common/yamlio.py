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

import io
from collections.abc import Callable, Hashable
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

    A tree (no node reached twice: no alias at all, the usual case) needs only its depth
    checked, in one walk. A graph gets `_check_graph`, which computes each node's expanded size
    once, so the check costs what the file holds, not what it would expand to.
    """
    if node is None:
        return
    seen: set[int] = set()
    # an explicit stack, so a deep document cannot exhaust Python's recursion limit here
    stack: list[tuple[yaml.Node, int]] = [(node, 1)]
    pop, push, add = stack.pop, stack.append, seen.add
    while stack:
        current, depth = pop()
        key = id(current)
        if key in seen:
            _check_graph(node)
            return
        add(key)
        if depth > MAX_DEPTH:
            raise YAMLBombError(f"{_where(current)}nested deeper than {MAX_DEPTH} levels")
        if isinstance(current, yaml.MappingNode):
            for pair in current.value:
                push((pair[0], depth + 1))
                push((pair[1], depth + 1))
        elif isinstance(current, yaml.SequenceNode):
            for child in current.value:
                push((child, depth + 1))


def _check_graph(node: yaml.Node) -> None:
    size: dict[int, int] = {}
    distinct = 0
    # (node, depth, children done?)
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


_STR = "tag:yaml.org,2002:str"
_SEQ = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG
_MAP = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
# What a plain scalar resolves to, by its text: the same answer every time (the implicit
# resolvers are fixed and no path resolvers are used), and a 1 MB manifest repeats its scalars
# ("type", "string", "description", ...) thousands of times.
_PLAIN_TAGS: dict[str, str] = {}
_PLAIN_TAGS_MAX = 1 << 16


class _MemoResolver(yaml.resolver.Resolver):
    """`Resolver` whose answer for a plain scalar is looked up once per distinct text.

    libyaml's parser and emitter call back into Python's `resolve` for every scalar; this is
    where half of their time went.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and not self.yaml_path_resolvers:
            if not implicit[0]:
                return _STR
            tag = _PLAIN_TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
                if len(_PLAIN_TAGS) < _PLAIN_TAGS_MAX:
                    _PLAIN_TAGS[value] = tag
            return tag
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


class _Fallback(Exception):
    """A node the fast constructor leaves to PyYAML's (a tag or key shape it does not handle)."""


# Scalar tags whose SafeConstructor functions take a node and return a value (no generators).
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "binary", "timestamp")
)


class _Direct:
    """Mixin for a loader: a document is constructed by `_build` where it can be (see there)."""

    def construct_document(self, node: yaml.Node) -> Any:
        try:
            return _build(self, node, {})
        except _Fallback:
            return super().construct_document(node)  # type: ignore[misc]


class _Bounded(_Direct):
    """Mixin for a loader: every composed document passes `check_node` before construction."""

    def get_single_node(self) -> Any:
        node = super().get_single_node()  # type: ignore[misc]
        check_node(node)
        return node

    def get_node(self) -> Any:
        node = super().get_node()  # type: ignore[misc]
        check_node(node)
        return node


def _build(loader: Any, node: yaml.Node, memo: dict[int, Any]) -> Any:
    """What SafeConstructor plus `_construct_mapping` make of a checked document, without their
    generator and bookkeeping machinery: maps, sequences and the standard scalars, recursively
    (`check_node` has bounded the depth and refused cycles). An alias gives the same object
    again, as PyYAML's does. Anything else (a merge key, a non-scalar key, `!!set`, `!!omap`,
    a local tag) raises `_Fallback`, and the whole document goes to PyYAML's constructor."""
    key = id(node)
    if key in memo:
        return memo[key]
    tag = node.tag
    kind = type(node)
    value: Any
    if kind is yaml.ScalarNode:
        if tag == _STR:
            value = node.value
        elif tag in _SCALAR_TAGS:
            value = loader.yaml_constructors[tag](loader, node)
        else:
            raise _Fallback
    elif kind is yaml.MappingNode and tag == _MAP:
        value = {}
        for key_node, value_node in node.value:
            if type(key_node) is not yaml.ScalarNode or (
                key_node.tag != _STR and key_node.tag not in _SCALAR_TAGS
            ):
                raise _Fallback
            item_key = _build(loader, key_node, memo)
            if item_key in value:
                raise _duplicate(node, key_node, item_key)
            value[item_key] = _build(loader, value_node, memo)
    elif kind is yaml.SequenceNode and tag == _SEQ:
        value = [_build(loader, child, memo) for child in node.value]
    else:
        raise _Fallback
    memo[key] = value
    return value


def _duplicate(node: yaml.Node, key_node: yaml.Node, key: Any) -> yaml.YAMLError:
    return yaml.constructor.ConstructorError(
        "while constructing a mapping",
        node.start_mark,
        f"found duplicate key {quote(key)}",
        key_node.start_mark,
    )


def _guard_recursion(load: Any, text: str, loader: type) -> Any:
    try:
        return load(text, Loader=loader)
    except RecursionError:
        # the pure-Python composer recurses once per level: a document nested thousands of
        # levels deep fails here, before `check_node` sees it
        raise YAMLBombError(f"nested deeper than {MAX_DEPTH} levels") from None


class _Loader(_Bounded, yaml.SafeLoader, _MemoResolver):
    """SafeLoader that refuses a mapping with the same key twice, and resource bombs."""


def _construct_mapping(
    loader: _Loader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found a key that is a list or a map (keys must be scalars)",
                key_node.start_mark,
            )
        if key in seen:
            raise _duplicate(node, key_node, key)
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load(text: str) -> Any:
    """Parse one YAML document; duplicate keys and resource bombs are errors.

    libyaml parses (~10x faster than PyYAML's Python scanner: a stack file in 0.3 ms rather
    than 3 ms); a document it refuses is parsed again by the Python one, whose error (or, where
    it accepts what libyaml does not, whose result) is the answer, so the messages people see
    stay PyYAML's."""
    try:
        return _guard_recursion(yaml.load, text, _FastStrictLoader)
    except yaml.YAMLError:
        return _guard_recursion(yaml.load, text, _Loader)


def load_all(text: str) -> list[Any]:
    """Parse every non-empty document of a multi-document stream (see `load`)."""
    try:
        docs = _guard_recursion(_load_all_list, text, _FastStrictLoader)
    except yaml.YAMLError:
        docs = _guard_recursion(_load_all_list, text, _Loader)
    return [d for d in docs if d is not None]


def _load_all_list(text: str, Loader: type) -> list[Any]:
    return list(yaml.load_all(text, Loader=Loader))


# libyaml's loader where PyYAML was built with it: ~10x faster, same result for safe YAML.
_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastStrictLoader(_Bounded, _FastLoader, _MemoResolver):  # type: ignore[valid-type, misc]
    """libyaml's parser with the checks of `_Loader` (the constructor is Python)."""


_FastStrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def load_all_fast(text: str) -> list[Any]:
    """`load_all` through libyaml, for large input (the Flux install manifest): the same
    documents and the same checks; parse errors are worded by libyaml."""
    return [d for d in _guard_recursion(_load_all_list, text, _FastStrictLoader) if d is not None]


class _GeneratedLoader(_Direct, _FastLoader, _MemoResolver):  # type: ignore[valid-type, misc]
    """libyaml's parser and `_build`, without the bounds: for text this program wrote."""


def load_all_generated(text: str) -> list[Any]:
    """`load_all` for text this program generated itself (no bounds or duplicate-key check
    needed: it wrote no aliases and no key twice)."""
    return [d for d in yaml.load_all(text, Loader=_GeneratedLoader) if d is not None]


class _Dumper(yaml.SafeDumper, _MemoResolver):
    """Indents sequences under their key, as the Flux docs write YAML.

    The pure-Python dumper: libyaml's C emitter ignores `increase_indent`.
    """

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_node(data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return yaml.ScalarNode(_STR, data, style="|")
    return yaml.ScalarNode(_STR, data)


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return _str_node(data)


_Dumper.add_representer(str, _str_presenter)


def _node(obj: Any, str_node: Callable[[str], yaml.ScalarNode], sort: bool) -> yaml.Node:
    """The node SafeRepresenter (with `str_node` for strings, no aliases, block style) builds
    for plain data, built directly: its dispatch and bookkeeping cost more than the C emitter
    that writes the result. Any other type raises `_Fallback`, for the representer to do."""
    kind = type(obj)
    if kind is str:
        return str_node(obj)
    if kind is dict:
        items: Any = obj.items()
        if sort:
            try:
                items = sorted(items)
            except TypeError:  # keys of mixed types: PyYAML keeps their order too
                items = list(items)
        return yaml.MappingNode(
            _MAP,
            [(_node(k, str_node, sort), _node(v, str_node, sort)) for k, v in items],
            flow_style=False,
        )
    if kind is list:
        return yaml.SequenceNode(
            _SEQ, [_node(item, str_node, sort) for item in obj], flow_style=False
        )
    if kind is bool:
        return yaml.ScalarNode("tag:yaml.org,2002:bool", "true" if obj else "false")
    if kind is int:
        return yaml.ScalarNode("tag:yaml.org,2002:int", str(obj))
    if obj is None:
        return yaml.ScalarNode("tag:yaml.org,2002:null", "null")
    raise _Fallback


def _dump(
    obj: Any, dumper: type, str_node: Callable[[str], yaml.ScalarNode], **options: Any
) -> str:
    """`yaml.dump(obj, Dumper=dumper, default_flow_style=False, allow_unicode=True, **options)`,
    through `_node` where the data allows."""
    options = {"default_flow_style": False, "allow_unicode": True, **options}
    try:
        node = _node(obj, str_node, options["sort_keys"])
    except _Fallback:
        return yaml.dump(obj, Dumper=dumper, **options)  # type: ignore[no-any-return]
    stream = io.StringIO()
    emitter = dumper(stream, **options)
    try:
        emitter.open()
        emitter.serialize(node)
        emitter.close()
    finally:
        emitter.dispose()
    return stream.getvalue()


def dump(obj: Any) -> str:
    """One document, deterministic, keys in insertion order."""
    return _dump(obj, _Dumper, _str_node, sort_keys=False, width=4096)


def dump_all(objs: list[Any]) -> str:
    """Several documents, each introduced by `---`, as Flux's own files are written."""
    return "".join("---\n" + dump(o) for o in objs)


# --------------------------------------------------------------------------- flux's style


_FluxDumperBase: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _FluxDumper(_FluxDumperBase, _MemoResolver):  # type: ignore[valid-type, misc]
    """libyaml's emitter with go-yaml's scalar choices (see the module docstring)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_RESOLVER = _MemoResolver()
# What go-yaml quotes with double quotes: a string that a YAML reader would take for a number,
# a boolean, a null or a timestamp. (PyYAML's emitter would pick single quotes.)
_NOT_STRINGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool", "null", "timestamp")
)


def _flux_str_node(data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return yaml.ScalarNode(_STR, data, style="|")
    if _RESOLVER.resolve(yaml.ScalarNode, data, (True, False)) in _NOT_STRINGS:
        return yaml.ScalarNode(_STR, data, style='"')
    return yaml.ScalarNode(_STR, data)


def _flux_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return _flux_str_node(data)


_FluxDumper.add_representer(str, _flux_str)


def dump_flux(obj: Any) -> str:
    """One document in flux's style (see the module docstring). Keys are sorted at every level:
    kustomize and sigs.k8s.io/yaml write objects through JSON maps."""
    return _dump(obj, _FluxDumper, _flux_str_node, sort_keys=True, width=80)


def dump_all_flux(objs: list[Any]) -> str:
    """Several documents in flux's style, separated by `---` lines, as kustomize writes them."""
    return "---\n".join(dump_flux(o) for o in objs)
