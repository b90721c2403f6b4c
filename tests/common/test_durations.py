"""Durations as Go prints them: the cases Go's own tests list for time.Duration.String."""

from __future__ import annotations

import pytest

from components.common.durations import go_duration, nanoseconds


@pytest.mark.parametrize(
    ("text", "go"),
    [
        ("0s", "0s"),
        ("30s", "30s"),
        ("1m", "1m0s"),  # flux's default GitRepository interval
        ("10m", "10m0s"),  # and its Kustomization interval
        ("90s", "1m30s"),
        ("1h", "1h0m0s"),
        ("1h30m", "1h30m0s"),
        ("1.5h", "1h30m0s"),
        ("2h0m0s", "2h0m0s"),
        ("1.5s", "1.5s"),
        ("1.05s", "1.05s"),
        ("500ms", "500ms"),
        ("1.5ms", "1.5ms"),
        ("0.5ms", "500µs"),
        ("1h1m1.001s", "1h1m1.001s"),
        ("25h", "25h0m0s"),
    ],
)
def test_go_duration(text: str, go: str) -> None:
    assert go_duration(text) == go


def test_go_duration_reads_what_it_writes() -> None:
    for text in ("1m", "1h30m", "1.5s", "500ms", "25h"):
        assert nanoseconds(go_duration(text)) == nanoseconds(text)


@pytest.mark.parametrize("bad", ["", "1", "1d", "m", "1m ", "-1m", "1.m"])
def test_not_a_duration(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        nanoseconds(bad)
