"""The local control plane itself: a port taken between picking and binding it is no failure."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e import control_plane
from tests.e2e.control_plane import LocalControlPlane


def test_a_port_taken_before_the_api_server_binds_it_means_a_restart_on_other_ports(
    toolchain_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("kubernetes", reason="the kubernetes client library is not installed")
    with socket.socket() as taken:
        # what another process does between free_port() and the bind: listen on the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        picks = [port]
        real = control_plane.free_port
        monkeypatch.setattr(control_plane, "free_port", lambda: picks.pop() if picks else real())
        with LocalControlPlane(bin_dir=toolchain_bin, workdir=tmp_path / "plane") as plane:
            assert plane.api_port != port
            assert plane.kubectl("get", "nodes", "-o", "name").split() == [
                "node/kwok-node-0",
                "node/kwok-node-1",
            ]
    log = (tmp_path / "plane" / "kube-apiserver.log").read_text()
    assert "address already in use" not in log  # the log of the second start
