"""`fluxboot validate --server` against a real kube-apiserver 1.34 with the Flux v2.9.4 CRDs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components.cli.main import main
from tests.conftest import GOLDEN_DIR, PROJECT_DIR
from tests.e2e.control_plane import LocalControlPlane
from tests.flux_testdata import install_objects, manifests_dir
from tests.integration.test_cel_rules import _install
from tests.repo_check.test_validate import edit, first

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(apiserver: LocalControlPlane) -> Path:
    """Flux v2.9.4's CRDs and the flux-system namespace on the server; its kubeconfig."""
    from kubernetes import client

    api = apiserver.client()
    _install(api, [d for d in install_objects("v2.9.4") if d["kind"] == "CustomResourceDefinition"])
    client.CoreV1Api(api).create_namespace({"metadata": {"name": "flux-system"}})
    api.close()
    return apiserver.kubeconfig_path


def _validate(
    capsys: pytest.CaptureFixture[str], repo: Path, kubeconfig: Path, *extra: str
) -> tuple[int, list[str]]:
    code = main(
        [
            "--project",
            str(PROJECT_DIR),
            "--manifests-dir",
            str(manifests_dir()),
            "validate",
            str(repo),
            "--stack",
            "k8s-01",
            "--server",
            "--kubeconfig",
            str(kubeconfig),
            *extra,
        ]
    )
    return code, capsys.readouterr().out.splitlines()


VMCLUSTER = (
    "apps/base/vmcluster/vmcluster.yaml: VMCluster monitoring/vmcluster: warning: API server: "
    "not dry-run: the cluster serves no operator.victoriametrics.com/v1beta1 VMCluster (yet)"
)
LONDON = "apps/base/postgres-exporter/london/helmrelease.yaml: HelmRelease flux-system/postgres-exporter-london: "


def test_server_answers_per_file_beside_the_offline_findings(
    cluster: Path, apiserver: LocalControlPlane, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(GOLDEN_DIR / "k8s-01", repo)
    # every object of the rendered tree: install, CRDs, sync, sources, releases; the VMCluster's
    # CRD comes with its operator's chart, so the server cannot judge it yet
    assert _validate(capsys, repo, cluster) == (0, [VMCLUSTER])
    strategy = {"name": "RemediateOnFailure", "retryInterval": "1m"}
    edit(
        repo / "apps/base/postgres-exporter/london/helmrelease.yaml",
        first(lambda d: d["spec"].setdefault("upgrade", {}).update(strategy=strategy)),
    )
    code, out = _validate(capsys, repo, cluster)
    assert code == 1
    assert out == [
        LONDON + 'API server: spec.upgrade.strategy: Invalid value: "object": .retryInterval '
        "can only be set when .name is 'RetryOnFailure'",
        LONDON + "spec.upgrade.strategy: .retryInterval can only be set when .name is "
        "'RetryOnFailure'",
        VMCLUSTER,
    ]
    # a dry run: nothing was stored
    stored = apiserver.kubectl(
        "get", "helmreleases,kustomizations,gitrepositories", "-A", "-o", "name"
    )
    assert stored.strip() == ""


def test_json_lists_the_server_findings(
    cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(GOLDEN_DIR / "k8s-01", repo)
    edit(
        repo / "apps/base/postgres-exporter/london/helmrelease.yaml",
        first(lambda d: d["spec"].update(unknownField=True)),
    )
    code, out = _validate(capsys, repo, cluster, "--format", "json")
    found = [f for f in json.loads("\n".join(out)) if f["message"].startswith("API server:")]
    assert code == 1
    assert [(f["file"], f["severity"]) for f in found] == [
        ("apps/base/postgres-exporter/london/helmrelease.yaml", "error"),
        ("apps/base/vmcluster/vmcluster.yaml", "warning"),
    ]
    assert ".spec.unknownField: field not declared in schema" in found[0]["message"]
