"""copy_tree: a deep copy of plain data."""

from __future__ import annotations

import datetime

from components.common.plain import copy_tree


def test_a_copy_is_equal_and_shares_nothing_mutable() -> None:
    shared = {"k": [1, 2]}
    data = {"a": [shared, shared, {"s": {1, 2}}], "b": "x", "c": None, "d": 1.5, "e": True}
    copied = copy_tree(data)
    assert copied == data
    assert repr(copied) == repr(data)  # key order and types too
    copied["a"][0]["k"].append(3)
    copied["a"][2]["s"].add(3)
    assert shared == {"k": [1, 2]} and data["a"][2]["s"] == {1, 2}
    # what YAML aliases share is copied apart: changing one place changes only that place
    assert copied["a"][1] == {"k": [1, 2]}
    when = datetime.datetime(2026, 11, 26)
    assert copy_tree([when])[0] == when
