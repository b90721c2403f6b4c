"""Shared fixtures: the project directory, the real Flux manifests, throwaway projects, goldens."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests import flux_testdata

PROJECT_DIR = Path(__file__).resolve().parents[1]
GOLDEN_DIR = PROJECT_DIR / "tests" / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from the current renderers (review the diff before committing)",
    )


@pytest.fixture(scope="session")
def manifests_dir() -> Path:
    found = flux_testdata.manifests_dir()
    if not (found / "v2.9.4" / "gotk-components.yaml").is_file():
        pytest.skip(
            "real Flux install manifests not found: set FLUX_MANIFESTS_DIR or place ../shared/flux beside the project"
        )
    return found


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of this project's config and template in tmp_path, free to break."""
    dest = tmp_path / "project"
    dest.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.k8s-01.yaml", "Pulumi.k8s-02.yaml"):
        shutil.copy(PROJECT_DIR / name, dest / name)
    shutil.copytree(PROJECT_DIR / "repo-template", dest / "repo-template")
    return dest


# ------------------------------------------------------------------ toolchain and control plane


@pytest.fixture(scope="session")
def toolchain_bin() -> Path:
    """The bin directory of the e2e toolchain (tests/e2e/toolchain), built here when missing.

    Where Go is present the toolchain is built (once, cached by its pins) rather than the test
    skipped; only without Go is a test that needs it skipped, with that reason.
    """
    if shutil.which("go") is None:
        pytest.skip("Go is not installed: the real-engine toolchain is built from Go modules")
    from tests.e2e.toolchain import toolchain

    try:
        return toolchain.build(
            toolchain.ENGINE_TOOLS, out=lambda line: print(line, file=sys.__stderr__, flush=True)
        )
    except toolchain.BuildError as err:
        pytest.fail(f"the e2e toolchain could not be built: {err}")
