"""Plain data: the dicts, lists and scalars YAML and JSON give."""

from __future__ import annotations

import copy
from typing import TypeVar

T = TypeVar("T")


def copy_tree(obj: T) -> T:
    """A deep copy of plain data, several times faster than `copy.deepcopy` (which keeps a memo
    of every object to preserve sharing; an object read from YAML or JSON has none worth
    keeping). Anything but dicts, lists and immutable scalars is left to `copy.deepcopy`."""
    kind = type(obj)
    if kind is dict:
        return {k: copy_tree(v) for k, v in obj.items()}  # type: ignore[attr-defined, return-value]
    if kind is list:
        return [copy_tree(v) for v in obj]  # type: ignore[attr-defined, return-value]
    if kind in _IMMUTABLE or obj is None:
        return obj
    return copy.deepcopy(obj)


_IMMUTABLE = frozenset({str, int, float, bool, bytes})
