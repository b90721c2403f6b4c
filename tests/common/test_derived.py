"""The on-disk cache of derived data: entries are whole or absent, and failing to keep one
costs nothing but time."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import pytest

from components.common import derived


@pytest.fixture(autouse=True)
def _cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))


def test_text_comes_back_whole_or_not_at_all(tmp_path: Path) -> None:
    path = derived.entry("rendered", "x.yaml")
    assert derived.get_text(path) is None
    derived.put_text(path, "a: ü\n")
    assert derived.get_text(path) == "a: ü\n"
    raw = path.read_bytes()
    for damaged in (raw[:-1], raw + b"x", raw.replace(b"a", b"b"), b"", b"no digest"):
        path.write_bytes(damaged)
        assert derived.get_text(path) is None, damaged
    assert [p.name for p in path.parent.iterdir()] == ["x.yaml"]  # no temporary files left


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    (tmp_path / "flux-gitops").write_text("a file where the cache directory goes")
    derived.put_text(derived.entry("rendered", "x.yaml"), "text")
    assert derived.get_text(derived.entry("rendered", "x.yaml")) is None


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no"])
def test_it_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert derived.enabled()
    monkeypatch.setenv(derived.CACHE_ENV, value)
    assert not derived.enabled()


def test_json_exact_refuses_what_json_would_change() -> None:
    assert derived.json_exact([{"a": [1, 1.5, True, None, "s", {}]}])
    for lossy in ({1: "a"}, {"a": (1, 2)}, {"a": datetime.date(2026, 1, 1)}, {"a": {1}}, b"x"):
        assert not derived.json_exact(lossy), lossy


def test_any_change_to_the_code_is_another_fingerprint(tmp_path: Path) -> None:
    package = tmp_path / "components"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "sub" / "b.py").write_text("B = 2\n")
    (package / "notes.txt").write_text("not code")
    first = derived.source_digest(package)
    (package / "notes.txt").write_text("still not code")
    assert derived.source_digest(package) == first
    (package / "sub" / "b.py").write_text("B = 3\n")
    changed = derived.source_digest(package)
    assert changed != first
    (package / "sub" / "c.py").write_text("")
    assert derived.source_digest(package) != changed
    (package / "sub" / "c.py").unlink()
    (package / "sub" / "b.py").rename(package / "b.py")  # same bytes, another module
    assert derived.source_digest(package) != changed
    assert derived.source_digest(package, "PyYAML 6.0.4") != derived.source_digest(package)


def test_entries_of_other_code_are_elsewhere_and_only_one_older_version_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert derived.key("a", "b") != derived.key("a", "c") != derived.key("ab")
    made = []
    for version in ("v1", "v2", "v3", "v2"):
        monkeypatch.setattr(derived, "code_fingerprint", lambda v=version: v * 20)
        path = derived.entry("rendered", derived.key("a"))
        if derived.get_text(path) is None:
            derived.put_text(path, version)
            made.append(version)
        assert derived.get_text(path) == version
        time.sleep(0.01)  # distinct modification times
    assert made == ["v1", "v2", "v3"]  # v2 was still there: the previous version is kept
    kept = sorted(d.name[:2] for d in (derived.base() / "derived").iterdir())
    assert kept == ["v2", "v3"]
