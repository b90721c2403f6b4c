"""`fluxboot push`: the Git writer's result as the command prints it, and its flags."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from components.cli.push import push_stack
from components.config.model import GitSettings
from tests.adapters.test_git_writer import make_remote, stack_files, tip


def _settings(remote: Path, **extra: object) -> GitSettings:
    return GitSettings.model_validate(
        {"url": "ssh://git@gitlab.invalid/fleet.git", "pushUrl": str(remote), **extra}
    )


def test_push_stack_prints_the_commit_then_up_to_date(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    out = io.StringIO()

    result = push_stack(_settings(remote), "k8s-01", stack_files("k8s-01"), out=out)
    push_stack(_settings(remote), "k8s-01", stack_files("k8s-01"), out=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == f"pushed {result.commit} to main of {remote} (7 files)"
    assert "  A clusters/k8s-01/apps.yaml" in lines
    assert lines[-1] == f"main of {remote} is up to date at {tip(remote)[:12]}"


def test_dry_run_prints_the_diff_and_changes_nothing(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    before = tip(remote)
    out = io.StringIO()

    result = push_stack(
        _settings(remote), "k8s-01", stack_files("k8s-01"), branch="main", dry_run=True, out=out
    )

    assert result.dry_run and result.commit is None
    text = out.getvalue()
    assert text.startswith(f"dry run: would commit 7 files to main of {remote}\n")
    assert "+apps: k8s-01" in text
    assert tip(remote) == before


def test_push_stack_uses_branch_mode_from_settings(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    out = io.StringIO()
    result = push_stack(
        _settings(remote, pushMode="branch"), "k8s-01", stack_files("k8s-01"), out=out
    )
    assert result.branch == "flux-gitops/k8s-01"
    assert "to flux-gitops/k8s-01 of" in out.getvalue()


@pytest.mark.parametrize("branch", ["HEAD", "-x", "@", "refs/heads/main", "main\n"])
def test_push_branch_flag_is_checked_with_gits_rules(
    branch: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from components.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["push", "k8s-01", "--repo", "/nowhere", f"--branch={branch}"])
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("fluxboot push: error: argument --branch: ")
    assert "is not a usable Git branch name" in line
