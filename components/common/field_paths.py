"""Field paths in messages about Kubernetes objects: `spec.chart.spec`, `spec.values[odd/key]`.

The one spelling that the schema check (`crds`) and the CEL rules (`crd_rules`) both use, so a
finding names a field the same way whichever check found it.
"""

from __future__ import annotations

import re
from typing import Any

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def child(path: str, key: Any) -> str:
    """Field path of a map entry: `a.b` for plain keys, `a[odd/key]` for the others."""
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key}]"


def item(path: str, index: int | str) -> str:
    """Field path of a list item: `a[0]` (`a[*]`: every item, where a schema node is named)."""
    return f"{path}[{index}]"
