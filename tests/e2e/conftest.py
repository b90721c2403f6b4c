"""Fixtures of the real-engine tests: local control planes, Pulumi projects, a GitOps remote."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.control_plane import ExistingCluster, LocalControlPlane
from tests.e2e.pulumi_cli import PulumiProject

EXISTING_ENV = "FLUX_GITOPS_E2E_KUBECONFIG"
# Set in the jobs of the CI pipeline that tests/e2e/test_ci_pipelines.py runs on this machine: the
# `make test` of its `test` job then leaves that module out, so the pipeline never runs itself.
INSIDE_CI_LOCAL_ENV = "FLUX_GITOPS_INSIDE_CI_LOCAL"
CI_PIPELINE_TESTS = "test_ci_pipelines.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get(INSIDE_CI_LOCAL_ENV):
        return
    inner = [i for i in items if i.path.name == CI_PIPELINE_TESTS]
    if inner:
        config.hook.pytest_deselected(items=inner)
        items[:] = [i for i in items if i.path.name != CI_PIPELINE_TESTS]


Cluster = LocalControlPlane | ExistingCluster


@pytest.fixture
def control_planes(
    toolchain_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Cluster]]:
    """`control_planes("k8s-01")`: a started control plane whose kubeconfig context is that name.

    Every one started is stopped when the test ends, passed or failed. With
    `FLUX_GITOPS_E2E_KUBECONFIG` set, nothing is started: the context of that name in that
    kubeconfig is used (a real cluster per stack; the tests install and destroy Flux there).
    """
    existing = os.environ.get(EXISTING_ENV)
    with contextlib.ExitStack() as stack:

        def start(context: str) -> Cluster:
            if existing:
                return ExistingCluster(toolchain_bin, Path(existing), context)
            workdir = tmp_path_factory.mktemp(f"cluster-{context}")
            return stack.enter_context(
                LocalControlPlane(bin_dir=toolchain_bin, workdir=workdir, context=context)
            )

        yield start


@pytest.fixture
def pulumi_project(toolchain_bin: Path, tmp_path: Path, manifests_dir: Path) -> PulumiProject:
    """A throwaway copy of the program with a local backend; manifests from the test data."""
    return PulumiProject(
        tmp_path / "pulumi",
        toolchain_bin,
        extra_env={"FLUXBOOT_MANIFESTS_DIR": str(manifests_dir)},
    )


@pytest.fixture
def gitops_remote(tmp_path: Path) -> Path:
    """An empty bare repository standing in for the team's GitOps repository."""
    remote = tmp_path / "gitops.git"
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(remote)], check=True
    )
    return remote


class Timeline:
    """Steps and their durations; every test's timeline is printed at the end of the run."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[tuple[str, float]] = []
        self.notes: list[str] = []

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.rows.append((name, time.monotonic() - start))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def render(self) -> str:
        width = max((len(n) for n, _ in self.rows), default=10)
        lines = [f"== {self.title}"]
        lines += [f"  {name:<{width}}  {seconds:6.1f} s" for name, seconds in self.rows]
        lines.append(f"  {'total':<{width}}  {sum(s for _, s in self.rows):6.1f} s")
        return "\n".join([*lines, *self.notes])


TIMELINES: list[Timeline] = []


@pytest.fixture
def timeline(request: pytest.FixtureRequest) -> Timeline:
    t = Timeline(request.node.name)
    TIMELINES.append(t)
    return t


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMELINES:
        terminalreporter.section("end-to-end timelines")
        for t in TIMELINES:
            terminalreporter.write_line(t.render())
