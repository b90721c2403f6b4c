"""YAML in: duplicate keys and resource bombs are refused before any object is built."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.common import yamlio
from components.common.errors import MAX_QUOTED, quote

LOADERS: dict[str, Callable[[str], Any]] = {
    "load": yamlio.load,
    "load_all": yamlio.load_all,
    "load_all_fast": yamlio.load_all_fast,
}


def laughs(levels: int) -> str:
    """The "billion laughs": each level is ten aliases of the one before (10**levels nodes)."""
    lines = ["l0: &l0 [ha, ha, ha, ha, ha, ha, ha, ha, ha, ha]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("levels", [4, 9])
def test_alias_expansion_is_refused_in_constant_time(loader: str, levels: int) -> None:
    text = laughs(levels)
    assert len(text) < 2000
    started = time.monotonic()
    with pytest.raises(yamlio.YAMLBombError, match="aliases would expand this document"):
        LOADERS[loader](text)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_an_alias_inside_its_own_anchor_is_refused(loader: str) -> None:
    with pytest.raises(yamlio.YAMLBombError, match="refers to a node that contains it"):
        LOADERS[loader]("a: &a [1, *a]\n")


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_deep_nesting_is_a_yaml_error_not_a_recursion_error(loader: str) -> None:
    with pytest.raises(yaml.YAMLError):
        LOADERS[loader]("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(yamlio.YAMLBombError, match="nested deeper"):
        LOADERS[loader]("a: " + "[" * (yamlio.MAX_DEPTH + 1) + "]" * (yamlio.MAX_DEPTH + 1))


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_aliases_as_people_use_them_still_load(loader: str) -> None:
    text = "base: &base {image: nginx, replicas: 2}\na: *base\nb: [*base, *base]\n"
    loaded = LOADERS[loader](text)
    doc = loaded if isinstance(loaded, dict) else loaded[0]
    assert doc["b"] == [{"image": "nginx", "replicas": 2}] * 2


def test_a_duplicate_key_is_quoted_short() -> None:
    key = "k" * 100_000
    with pytest.raises(yaml.YAMLError) as err:
        yamlio.load(f"{key}: 1\n{key}: 2\n")
    assert len(str(err.value)) < 2 * MAX_QUOTED + 400


def test_quote_caps_and_redacts() -> None:
    assert quote("5m") == "'5m'"
    long = quote("x" * 10**6)
    assert len(long) < MAX_QUOTED + 40 and long.endswith("(1000000 characters)")
    assert quote("https://u:s3cret@h/x") == "'https://***@h/x'"
    # a password longer than what is shown is redacted before the cut
    assert "p" * 10 not in quote("https://u:" + "p" * 500 + "@h/x")
    nested: dict[str, Any] = {"a": 1}
    for _ in range(30):
        nested = {str(i): nested for i in range(10)}
    assert len(quote(nested)) <= 2 * MAX_QUOTED + 3
