"""A real kube-apiserver + etcd for the whole session (../shared/tools/kube-apiserver.sh).

Started once, stopped at the end; every test that asks for it is skipped with the reason when
the script, its build or the start is missing. Tests get a kubernetes ApiClient and the kubeconfig.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components import yamlio

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRIPT_ENV = "KUBE_APISERVER_SCRIPT"
MANIFESTS_ENV = "FLUX_MANIFESTS_DIR"


def _script() -> Path:
    configured = os.environ.get(SCRIPT_ENV)
    if configured:
        return Path(configured)
    return PROJECT_ROOT.parent / "shared" / "tools" / "kube-apiserver.sh"


def manifests_dir() -> Path:
    configured = os.environ.get(MANIFESTS_ENV)
    return Path(configured) if configured else PROJECT_ROOT.parent / "shared" / "flux"


def install_objects(version: str) -> list[dict[str, Any]]:
    """The parsed gotk-components.yaml of a release, or a skip when it is not on this machine."""
    path = manifests_dir() / version / "gotk-components.yaml"
    if not path.is_file():
        pytest.skip(f"Flux {version} install manifest not found at {path} (set {MANIFESTS_ENV})")
    return [d for d in yamlio.load_all(path.read_text()) if isinstance(d, dict)]


@dataclass(frozen=True)
class ApiServer:
    """A running API server: its kubeconfig path and text."""

    kubeconfig_path: Path

    @property
    def kubeconfig_text(self) -> str:
        return self.kubeconfig_path.read_text()

    def client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(
            config_file=str(self.kubeconfig_path), persist_config=False
        )


@pytest.fixture(scope="session")
def flux_manifest() -> Callable[[str], list[dict[str, Any]]]:
    """`flux_manifest("v2.9.4")`: the install objects of a release (skips when absent)."""
    return install_objects


@pytest.fixture(scope="session")
def apiserver() -> Iterator[ApiServer]:
    pytest.importorskip("kubernetes", reason="the kubernetes client library is not installed")
    script = _script()
    if not script.is_file():
        pytest.skip(f"{script} not found (set {SCRIPT_ENV}): no API server to test against")
    try:
        started = subprocess.run(
            ["bash", str(script), "start"], capture_output=True, text=True, timeout=90, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.skip("kube-apiserver.sh start did not finish within 90 s")
    if started.returncode != 0:
        reason = (started.stderr or started.stdout).strip().splitlines()
        pytest.skip(f"kube-apiserver could not be started: {reason[-1] if reason else 'no output'}")
    path = Path(started.stdout.strip().splitlines()[-1])
    try:
        yield ApiServer(path)
    finally:
        subprocess.run(["bash", str(script), "stop"], capture_output=True, timeout=60, check=False)
