"""The bench's child processes still run against the program as it is (they are not part of the
test suite's timing: only that each measures something and exits 0). The program child once
broke silently when `flux-gitops:git` left the stack file for Pulumi.yaml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR


@pytest.mark.parametrize("child", ["manifest", "counts", "cold-stack", "program"])
def test_bench_child_measures_the_current_program(child: str, manifests_dir: Path) -> None:
    env = {**os.environ, "FLUXBOOT_MANIFESTS_DIR": str(manifests_dir)}
    proc = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "bench" / "run.py"), "--child", child, "--repeats", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data, f"{child} measured nothing"
    if child == "program":
        assert data["resources"] > 0 and data["first"] > 0
