"""Branch names: `git check-ref-format --branch` is the oracle, plus the project's two extras."""

from __future__ import annotations

import subprocess

import pytest

from components.common.git_refs import branch_problem

NAMES = [
    "main",
    "feature/x",
    "release-1.2",
    "HEAD/x",
    "x/HEAD",
    "a@b",
    "@x",
    "x@",
    "{a}",
    "é",
    "main\n",
    "main\r",
    "\nmain",
    "HEAD",
    "-x",
    "-",
    "",
    "a..b",
    "a/.b",
    ".a",
    "a.lock",
    "a/b.lock/c",
    "a/",
    "/a",
    "a//b",
    "a.",
    "a@{b",
    "a\\b",
    "a b",
    "a~b",
    "a^b",
    "a:b",
    "a?b",
    "a*b",
    "a[b",
    "a\tb",
    "a\x7fb",
    "a\x01",
]
# refused by this project although Git takes them (see components/git_refs.py)
PROJECT_ONLY = {"@", "refs/heads/main", "refs/x"}


def git_accepts(name: str) -> bool:
    done = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.mark.parametrize("name", NAMES)
def test_branch_rules_are_gits(name: str) -> None:
    assert (branch_problem(name) is None) == git_accepts(name), repr(name)


@pytest.mark.parametrize("name", sorted(PROJECT_ONLY))
def test_project_refuses_names_that_make_odd_refs(name: str) -> None:
    assert git_accepts(name)
    assert branch_problem(name) is not None
