"""The CI templates parse, run the README's commands, and preview every stack."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import PROJECT_DIR

STACK_JOBS = PROJECT_DIR / ".ci" / "stack_jobs.py"


def readme_commands() -> list[str]:
    """The commands in the README's ```sh blocks of the Quick start section."""
    text = (PROJECT_DIR / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [
        line.strip()
        for block in re.findall(r"```sh\n(.*?)```", quick, re.S)
        for line in block.splitlines()
    ]


def test_readme_names_the_two_commands_and_ci_runs_the_test_one() -> None:
    assert readme_commands() == ["make quickstart", "make test"]
    assert (PROJECT_DIR / ".ci" / "run").read_text().rstrip().splitlines()[-1] == "make test"


def test_gitlab_pipeline_tests_then_generates_per_stack_jobs() -> None:
    doc = yaml.safe_load((PROJECT_DIR / ".gitlab-ci.yml").read_text())
    assert doc["test"]["script"] == ["make test"]
    assert "python3 .ci/stack_jobs.py gitlab" in doc["stack-jobs"]["script"][0]
    assert doc["stacks"]["trigger"]["include"] == [{"artifact": "stacks.yml", "job": "stack-jobs"}]
    assert doc["stacks"]["needs"] == ["test", "stack-jobs"]


def _run(project: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, str(project / ".ci" / "stack_jobs.py"), *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_generated_child_pipeline_has_one_preview_job_per_stack_file(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / ".ci").mkdir(parents=True)
    shutil.copy(STACK_JOBS, project / ".ci" / "stack_jobs.py")
    for name in ("Pulumi.yaml", "Pulumi.k8s-01.yaml", "Pulumi.k8s-02.yaml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    (project / "Pulumi.k8s-03.yaml").write_text("config: {}\n")  # a new cluster is a new stack file
    preview = yaml.safe_load(_run(project, "gitlab", "preview"))
    jobs = {k: v for k, v in preview.items() if not k.startswith(".") and k != "stages"}
    assert sorted(jobs) == ["preview:k8s-01", "preview:k8s-02", "preview:k8s-03"]
    for name, job in jobs.items():
        stack = name.split(":", 1)[1]
        assert job["variables"]["STACK"] == stack
        assert job["script"][-2] == '.venv/bin/fluxboot render "$STACK" --list > /dev/null'
        assert job["script"][-1] == 'pulumi preview --diff --non-interactive --stack "$STACK"'
        assert "when" not in job
    up = yaml.safe_load(_run(project, "gitlab", "up"))
    assert up["up:k8s-02"]["when"] == "manual"
    assert up["up:k8s-02"]["script"][-1] == 'pulumi up --yes --non-interactive --stack "$STACK"'
    assert json.loads(_run(project, "github")) == ["k8s-01", "k8s-02", "k8s-03"]


def test_github_workflow_previews_each_stack_on_pull_requests() -> None:
    doc = yaml.safe_load((PROJECT_DIR / ".github" / "workflows" / "flux-gitops.yml").read_text())
    jobs = doc["jobs"]
    assert [s.get("run") for s in jobs["test"]["steps"] if "run" in s] == ["make test"]
    assert "stack_jobs.py github" in jobs["stacks"]["steps"][1]["run"]
    for name, command in (("preview", "pulumi preview --diff"), ("up", "pulumi up --yes")):
        job = jobs[name]
        assert job["needs"] == ["test", "stacks"]
        assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
        runs = [s["run"] for s in job["steps"] if "run" in s]
        assert runs[-2].startswith(".venv/bin/fluxboot render") and runs[-1].startswith(command)
    assert jobs["preview"]["if"] == "github.event_name == 'pull_request'"
    assert jobs["up"]["environment"] == "production"


def test_pulumi_uses_the_virtualenv_the_makefile_builds() -> None:
    """Dynamic providers (Git writer, uninstall hook, deploy key) import `components` from it."""
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    assert project["name"] == "flux-gitops"
    assert project["runtime"]["name"] == "python"
    venv = project["runtime"]["options"]["virtualenv"]
    assert re.search(
        rf"^VENV\s+\?=\s+{re.escape(venv)}$", (PROJECT_DIR / "Makefile").read_text(), re.M
    )
    assert (PROJECT_DIR / "requirements.txt").read_text().splitlines()[-1] == "-e ."
