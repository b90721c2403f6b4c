"""A real Kubernetes 1.34 control plane per test module (tests/e2e/control_plane.py).

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, built from Go modules by
the e2e toolchain (skipped, with the reason, only where Go is absent). Tests get a kubernetes
ApiClient and the kubeconfig through the `apiserver` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.control_plane import LocalControlPlane
from tests.flux_testdata import install_objects


@pytest.fixture(scope="session")
def flux_manifest() -> Callable[[str], list[dict[str, Any]]]:
    """`flux_manifest("v2.9.4")`: the install objects of a release (skips when absent)."""
    return install_objects


@pytest.fixture(scope="module")
def apiserver(
    toolchain_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalControlPlane]:
    """A fresh control plane per test module (modules create and delete the same CRDs)."""
    pytest.importorskip("kubernetes", reason="the kubernetes client library is not installed")
    with LocalControlPlane(
        bin_dir=toolchain_bin, workdir=tmp_path_factory.mktemp("control-plane")
    ) as plane:
        yield plane
