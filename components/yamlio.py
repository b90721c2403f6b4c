"""YAML in and out.

In: a safe loader that rejects duplicate keys (PyYAML silently keeps the last one, which hides
config mistakes). Out: one deterministic style for every generated file: 2-space indent, list
items indented under their key, keys in the order the renderer built them, no aliases, LF.
"""

from __future__ import annotations

from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice."""


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
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load(text: str) -> Any:
    """Parse one YAML document; duplicate keys are an error."""
    return yaml.load(text, Loader=_Loader)


def load_all(text: str) -> list[Any]:
    """Parse every non-empty document of a multi-document stream."""
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


# libyaml's loader where PyYAML was built with it: ~10x faster, same result for safe YAML.
_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastStrictLoader(_FastLoader):  # type: ignore[valid-type, misc]
    """libyaml's parser with the duplicate-key check of `_Loader` (the constructor is Python)."""


_FastStrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def load_all_fast(text: str) -> list[Any]:
    """`load_all` through libyaml, for large input (the Flux install manifest): the same
    documents and the same duplicate-key check; parse errors are worded by libyaml."""
    return [doc for doc in yaml.load_all(text, Loader=_FastStrictLoader) if doc is not None]


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
