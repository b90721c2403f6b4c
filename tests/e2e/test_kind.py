"""End to end on a real cluster: `pulumi up`, Flux Ready, a clean re-preview, a safe destroy.

Needs the `pulumi` CLI (with the kubernetes provider plugin, which it installs on first use),
`kind` and a Docker engine. Skipped with the reason where any is missing, as on the machines
this project is developed on. Everything runs against a throwaway kind cluster and a local
backend (`file://`); the GitOps repository is a bare repository on this machine, served to the
cluster over Git's smart HTTP protocol (`git http-backend`) on the kind network's gateway.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import pytest
import yaml

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.e2e

MISSING = [tool for tool in ("pulumi", "kind", "docker") if shutil.which(tool) is None]
if MISSING:
    pytest.skip(f"end-to-end test needs {', '.join(MISSING)} on PATH", allow_module_level=True)


def _git_http_backend(root: Path) -> Any:
    """A WSGI app running `git http-backend` (CGI) for the repositories under `root`."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        env = {
            "GIT_PROJECT_ROOT": str(root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": environ["PATH_INFO"],
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "flux",
        }
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=True
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = [
            tuple(line.split(": ", 1)) for line in head.decode().split("\r\n") if ": " in line
        ]
        status = next((v for k, v in headers if k.lower() == "status"), "200 OK")
        start_response(status, [(k, v) for k, v in headers if k.lower() != "status"])
        return [payload]

    return app


@pytest.fixture(scope="module")
def kind_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    name = f"flux-gitops-e2e-{uuid.uuid4().hex[:6]}"
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    subprocess.run(
        [
            "kind",
            "create",
            "cluster",
            "--name",
            name,
            "--kubeconfig",
            str(kubeconfig),
            "--wait",
            "120s",
        ],
        check=True,
    )
    try:
        yield name, kubeconfig
    finally:
        subprocess.run(["kind", "delete", "cluster", "--name", name], check=False)


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A bare repository, and its http:// URL as seen from inside the kind network."""
    root = tmp_path_factory.mktemp("git")
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=main", str(root / "gitops.git")],
        check=True,
    )
    gateway = subprocess.run(
        ["docker", "network", "inspect", "kind", "-f", "{{(index .IPAM.Config 0).Gateway}}"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    server: WSGIServer = make_server(gateway, 0, _git_http_backend(root))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield root / "gitops.git", f"http://{gateway}:{server.server_port}/gitops.git"
    finally:
        server.shutdown()


def _wait_ready(kubeconfig: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "-n", "flux-system", "get", "kustomization", "flux-system",
             "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.stdout.strip() == "True":
            return
        time.sleep(5)
    raise AssertionError("the flux-system Kustomization did not become Ready")


def test_up_ready_preview_clean_destroy_safe(
    kind_cluster: tuple[str, Path], git_server: tuple[Path, str], tmp_path: Path
) -> None:
    from pulumi import automation as auto

    _, kubeconfig = kind_cluster
    bare, url = git_server
    project = tmp_path / "project"
    shutil.copytree(
        PROJECT_DIR, project, ignore=shutil.ignore_patterns(".venv", ".git", "tests", ".quickstart")
    )
    stack_file = project / "Pulumi.k8s-01.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    doc["config"]["flux-gitops:cluster"] = {}
    doc["config"]["flux-gitops:git"] = {"url": url, "pushUrl": str(bare), "createBranch": True}
    stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    backend = tmp_path / "backend"
    backend.mkdir()
    env = {"PULUMI_BACKEND_URL": f"file://{backend}", "PULUMI_CONFIG_PASSPHRASE": "e2e"}
    stack = auto.create_or_select_stack(
        "k8s-01",
        work_dir=str(project),
        opts=auto.LocalWorkspaceOptions(env_vars={**os.environ, **env}),
    )
    stack.set_config(
        "flux-gitops:kubeconfig", auto.ConfigValue(kubeconfig.read_text(), secret=True)
    )
    for key in ("slackWebhookUrl", "slackErrorsWebhookUrl", "gitToken"):
        stack.set_config(
            f"flux-gitops:{key}", auto.ConfigValue("https://hooks.invalid/x", secret=True)
        )

    up = stack.up(on_output=print)
    assert up.summary.result == "succeeded"
    _wait_ready(kubeconfig)

    preview = stack.preview(diff=True)
    assert set(preview.change_summary) <= {"same"}, preview.change_summary

    # a workload Flux applied must survive the destroy
    subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "create",
            "deployment",
            "survivor",
            "--image=registry.k8s.io/pause:3.9",
        ],
        check=True,
    )
    subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "label", "deployment", "survivor",
         "kustomize.toolkit.fluxcd.io/name=apps", "kustomize.toolkit.fluxcd.io/namespace=flux-system"],
        check=True,
    )  # fmt: skip
    started = time.monotonic()
    destroy = stack.destroy(on_output=print)
    assert destroy.summary.result == "succeeded" and time.monotonic() - started < 600
    left = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "get", "deployment", "survivor", "-o", "name"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert left.stdout.strip() == "deployment.apps/survivor"
    crds = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "get", "crd", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "toolkit.fluxcd.io" not in crds
