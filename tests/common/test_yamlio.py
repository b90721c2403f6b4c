"""YAML in: duplicate keys and resource bombs are refused before any object is built."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.common import yamlio
from components.common.errors import MAX_QUOTED, quote
from tests.flux_testdata import manifest_path, mirror_path

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


# ------------------------------------------------- the fast paths mean what PyYAML's would


PROJECT = Path(__file__).resolve().parents[2]

# what the fast constructor builds itself, and what it leaves to PyYAML's, side by side
EDGE_CASES = [
    "a: 1\nb: 1.5\nc: true\nd: ~\ne: yes\nf: 0x1F\ng: 1_000\nh: .inf\ni: -.Inf\nj: 0o17\n",
    "a: '1'\nb: \"true\"\nc: !!str 3\nd: !!int '7'\ne: !!float 2\n",
    "a: 2026-11-26\nb: 2026-11-26T10:00:00Z\nc: !!binary aGVsbG8=\n",
    "a: &x {b: [1, 2]}\nc: *x\nd: [*x, *x]\n",
    "1: one\n2.5: two\nfalse: three\n~: four\n",
    "a: !!set {x, y}\nb: !!omap [{k: 1}]\nc: !!pairs [{k: 1}]\n",
    "a: |\n  two\n  lines\nb: >\n  folded\n  text\n",
    "--- 1\n--- [a, b]\n--- {}\n--- []\n--- ''\n",
    "a: {}\nb: []\nc: [[], {}]\nd: [{e: [f]}]\n",
    "ünïcode: ✓\n'quoted key': \"esc\\u00e9\\n\"\n",
]


def _yaml_corpus() -> list[tuple[str, str]]:
    files = [*PROJECT.glob("Pulumi*.yaml"), *sorted((PROJECT / "repo-template").rglob("*.yaml"))]
    corpus = [(str(f.relative_to(PROJECT)), f.read_text()) for f in files]
    corpus += [(str(f), f.read_text()) for f in sorted(mirror_path().glob("*/*.yaml"))]
    corpus += [(f"edge case {i}", text) for i, text in enumerate(EDGE_CASES)]
    return corpus


@pytest.mark.parametrize(("name", "text"), _yaml_corpus(), ids=lambda v: v[:40])
def test_the_fast_constructor_builds_what_pyyaml_builds(name: str, text: str) -> None:
    expected = [d for d in yaml.load_all(text, Loader=yaml.SafeLoader) if d is not None]
    # repr: types (True is not 1, 1.0 is not 1), values and key order all count
    assert repr(yamlio.load_all(text)) == repr(expected)
    assert repr(yamlio.load_all_fast(text)) == repr(expected)
    assert repr(yamlio.load_all_generated(text)) == repr(expected)


def test_the_fast_constructor_builds_a_release_manifest_without_falling_back() -> None:
    loader = yamlio._FastStrictLoader(manifest_path("v2.9.4").read_text())
    built = 0
    try:
        while loader.check_node():
            yamlio._build(loader, loader.get_node(), {})  # raises _Fallback if it would
            built += 1
    finally:
        loader.dispose()
    assert built > 20


def test_a_key_that_is_a_list_is_a_yaml_error_naming_it() -> None:
    for load in (yamlio.load, yamlio.load_all_fast):
        with pytest.raises(yaml.YAMLError, match=r"keys must be scalars"):
            load("? [1, 2]\n: x\n")


def _dump_data() -> list[Any]:
    data: list[Any] = [
        {"b": 1, "a": [True, False, None, 0, -3], "c": {}, "d": [], "e": [[], [{}]]},
        {"s": ["1", "1.5", "true", "null", "~", "2026-11-26", "0x1F", "yes", "", " lead"]},
        {"multi": "two\nlines\n", "trailing": "no newline\nat end", "long": "word " * 40},
        {"ü": "✓ unicode", "quote": 'it\'s "quoted"', "colon": "a: b", "hash": "a #b"},
        {2: "int key", "x": "mixed keys keep their order"},
        {"float": 1.5, "inf": float("inf"), "when": datetime.date(2026, 11, 26)},
        {"set": {1, 2}},
        ["top", "level", {"list": 1}],
        "a bare string",
        None,
    ]
    release = mirror_path() / "v2.9.4" / "gotk-components.yaml"
    return data + (yamlio.load_all_fast(release.read_text()) if release.is_file() else [])


@pytest.mark.parametrize("obj", _dump_data(), ids=lambda o: repr(o)[:40])
def test_the_fast_dumpers_write_what_the_representers_write(obj: Any) -> None:
    # (fast dumper, its class, what it passes to yaml.dump besides the block style and unicode)
    for fast, dumper, options in (
        (yamlio.dump, yamlio._Dumper, {"sort_keys": False, "width": 4096}),
        (yamlio.dump_flux, yamlio._FluxDumper, {"sort_keys": True, "width": 80}),
    ):
        expected = yaml.dump(
            obj, Dumper=dumper, default_flow_style=False, allow_unicode=True, **options
        )
        assert fast(obj) == expected, dumper


def test_the_resolver_memo_is_only_shared_by_classes_that_resolve_alike() -> None:
    # `_PLAIN_TAGS` remembers what the standard implicit resolvers make of a plain scalar; a
    # class with resolvers of its own would need a memo of its own
    standard = yaml.resolver.Resolver.yaml_implicit_resolvers
    for cls in (yamlio._Loader, yamlio._FastStrictLoader, yamlio._Dumper, yamlio._FluxDumper):
        assert cls.yaml_implicit_resolvers is standard, cls


@pytest.mark.parametrize(
    "text",
    ["a: [1, 2\n", "a: b: c\n", "a:\n  - b\n c: d\n", "\ta: 1\n", "a: 'open\n", "--- |\n  x\n a\n"],
)
def test_libyaml_parses_but_the_errors_people_read_stay_pyyaml_s(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as pure:
        list(yaml.load_all(text, Loader=yaml.SafeLoader))
    for load in (yamlio.load, yamlio.load_all):
        with pytest.raises(yaml.YAMLError) as ours:
            load(text)
        assert yamlio.one_line(ours.value) == yamlio.one_line(pure.value)
