"""A real kube-apiserver + etcd for the whole session (../shared/tools/kube-apiserver.sh).

Started once, stopped at the end; every test that asks for it is skipped with the reason when
the script, its build or the start is missing. Tests get a kubernetes ApiClient and the kubeconfig.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.flux_testdata import install_objects

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRIPT_ENV = "KUBE_APISERVER_SCRIPT"
SCRIPT = Path(
    os.environ.get(SCRIPT_ENV) or PROJECT_ROOT.parent / "shared" / "tools" / "kube-apiserver.sh"
)
# where `kube-apiserver.sh build` leaves the binary; each server gets its own state directory
BINARY = Path.home() / ".cache" / "kube-apiserver" / "bin" / "kube-apiserver"


def strip_cel(node: Any) -> Any:
    """A CRD without `x-kubernetes-validations`: kube-apiserver 1.20 predates CEL rules."""
    if isinstance(node, dict):
        return {k: strip_cel(v) for k, v in node.items() if k != "x-kubernetes-validations"}
    if isinstance(node, list):
        return [strip_cel(v) for v in node]
    return node


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    """A port for the API server whose etcd ports (port + 10000, + 10001) are free too."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10001 < 65536 and all(_port_free(p) for p in (port, port + 10000, port + 10001)):
            return port
    raise RuntimeError("no free port for a test kube-apiserver")


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


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A fresh API server per test module (modules create and delete the same CRDs)."""
    pytest.importorskip("kubernetes", reason="the kubernetes client library is not installed")
    if not SCRIPT.is_file():
        pytest.skip(f"{SCRIPT} not found (set {SCRIPT_ENV}): no API server to test against")
    if not BINARY.is_file():
        pytest.skip(f"kube-apiserver not built: {BINARY} (run {SCRIPT} build)")
    if shutil.which("etcd") is None:
        pytest.skip(f"etcd not on PATH (run {SCRIPT} build)")
    home = tmp_path_factory.mktemp("kube-apiserver")
    (home / "bin").mkdir()
    (home / "bin" / "kube-apiserver").symlink_to(BINARY)
    env = {**os.environ, "KUBE_APISERVER_HOME": str(home), "KUBE_APISERVER_PORT": str(_free_port())}
    try:
        try:
            started = subprocess.run(
                ["bash", str(SCRIPT), "start"],
                env=env,
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.skip("kube-apiserver.sh start did not finish within 90 s")
        if started.returncode != 0:
            reason = (started.stderr or started.stdout).strip().splitlines()
            pytest.skip(
                f"kube-apiserver could not be started: {reason[-1] if reason else 'no output'}"
            )
        yield ApiServer(Path(started.stdout.strip().splitlines()[-1]))
    finally:
        subprocess.run(
            ["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60, check=False
        )
