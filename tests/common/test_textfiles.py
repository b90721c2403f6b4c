"""Bounded reads: refused above the bound, and never allocating the bound itself."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from components.common.textfiles import UnreadableFileError, read_text


def test_a_small_file_under_a_large_bound_costs_its_size_not_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text("a: 1\n" * 1000)
    tracemalloc.start()
    try:
        assert read_text(path, "small.yaml", 64 << 20) == "a: 1\n" * 1000
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"reading 5 KB under a 64 MiB bound peaked at {peak} bytes"


@pytest.mark.parametrize("size", [0, 1, 99_999, 100_000])
def test_files_up_to_the_bound_are_read_whole(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * size)
    assert read_text(path, "f", 100_000) == "x" * size


def test_one_byte_over_the_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100_001)
    with pytest.raises(UnreadableFileError, match="larger than 100000 bytes"):
        read_text(path, "f", 100_000)


def test_a_file_whose_size_the_system_does_not_know_is_still_bounded() -> None:
    # /proc files report size 0 and are read in steps
    text = read_text(Path("/proc/self/status"), "status", 1 << 20)
    assert text.startswith("Name:")
    with pytest.raises(UnreadableFileError, match="larger than 10 bytes"):
        read_text(Path("/proc/self/status"), "status", 10)
