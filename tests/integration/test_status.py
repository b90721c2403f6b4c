"""`fluxboot status` against a real API server, with statuses written through the status subresource."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cli.main import main
from tests.e2e.control_plane import LocalControlPlane
from tests.flux_testdata import install_objects

pytestmark = pytest.mark.integration
NOW = "2025-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def flux_cluster(apiserver: LocalControlPlane) -> Path:
    """The Flux v2.9.4 CRDs, established, on the test server."""
    from kubernetes import client

    api = apiserver.client()
    ext = client.ApiextensionsV1Api(api)
    crds = [d for d in install_objects("v2.9.4") if d.get("kind") == "CustomResourceDefinition"]
    for crd in crds:
        ext.create_custom_resource_definition(crd)
    deadline = time.monotonic() + 30
    for crd in crds:
        while True:
            got = ext.read_custom_resource_definition(crd["metadata"]["name"])
            conditions = got.status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                break
            assert time.monotonic() < deadline, f"{crd['metadata']['name']} not established"
            time.sleep(0.1)
    core = client.CoreV1Api(api)
    for ns in ("flux-system", "monitoring"):
        core.create_namespace({"metadata": {"name": ns}})
    api.close()
    return apiserver.kubeconfig_path


def _ready(status: str, message: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "Ready",
            "status": status,
            "reason": "Succeeded" if status == "True" else "Failed",
            "message": message,
            "lastTransitionTime": NOW,
        }
    ]


def _put(api: Any, group: str, version: str, plural: str, obj: dict[str, Any]) -> None:
    """Create `obj`, then write its status through the status subresource."""
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    status = obj.pop("status")
    created = custom.create_namespaced_custom_object(group, version, ns, plural, obj)
    created["status"] = status
    custom.replace_namespaced_custom_object_status(group, version, ns, plural, name, created)


def _set_ready(api: Any, group: str, version: str, plural: str, ns: str, name: str) -> None:
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    obj = custom.get_namespaced_custom_object(group, version, ns, plural, name)
    obj["status"]["conditions"] = _ready("True", "Applied revision: main@sha1:0123abcd")
    obj["status"]["lastAppliedRevision"] = "main@sha1:0123abcd"
    custom.replace_namespaced_custom_object_status(group, version, ns, plural, name, obj)


@pytest.mark.integration
def test_status_shows_every_flux_object_and_fails_while_one_is_not_ready(
    flux_cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kubernetes import config

    api = config.new_client_from_config(config_file=str(flux_cluster))
    src, ks, helm = (
        "source.toolkit.fluxcd.io",
        "kustomize.toolkit.fluxcd.io",
        "helm.toolkit.fluxcd.io",
    )
    meta = {"namespace": "flux-system"}
    _put(api, src, "v1", "gitrepositories", {
        "apiVersion": f"{src}/v1", "kind": "GitRepository",
        "metadata": {**meta, "name": "flux-system"},
        "spec": {"interval": "1m", "url": "ssh://git@example.com/repo.git", "ref": {"branch": "main"}},
        "status": {
            "conditions": _ready("True", "stored artifact for revision 'main@sha1:0123abcd'"),
            "artifact": {
                "revision": "main@sha1:0123abcd", "path": "p", "url": "http://x/p",
                "lastUpdateTime": NOW, "digest": "sha256:00",
            },
        },
    })  # fmt: skip
    _put(api, src, "v1", "helmrepositories", {
        "apiVersion": f"{src}/v1", "kind": "HelmRepository",
        "metadata": {**meta, "name": "prometheus-community"},
        "spec": {"interval": "1h", "url": "https://prometheus-community.github.io/helm-charts"},
        "status": {
            "conditions": _ready("True", "stored artifact: revision 'sha256:feed'"),
            "artifact": {
                "revision": "sha256:feed", "path": "i", "url": "http://x/i",
                "lastUpdateTime": NOW, "digest": "sha256:01",
            },
        },
    })  # fmt: skip
    for name, path in (
        ("core-apps", "./core-apps/clusters/k8s-01"),
        ("apps", "./apps/clusters/k8s-01"),
    ):
        ready = name == "core-apps"
        _put(api, ks, "v1", "kustomizations", {
            "apiVersion": f"{ks}/v1", "kind": "Kustomization",
            "metadata": {**meta, "name": name},
            "spec": {
                "interval": "10m", "path": path, "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            },
            "status": {
                "conditions": _ready(
                    "True" if ready else "False",
                    "Applied revision: main@sha1:0123abcd" if ready
                    else "dependency 'flux-system/core-apps' is not ready",
                ),
                **({"lastAppliedRevision": "main@sha1:0123abcd"} if ready else {}),
                "lastAttemptedRevision": "main@sha1:0123abcd",
            },
        })  # fmt: skip
    _put(api, helm, "v2", "helmreleases", {
        "apiVersion": f"{helm}/v2", "kind": "HelmRelease",
        "metadata": {"namespace": "monitoring", "name": "postgres-exporter"},
        "spec": {
            "interval": "30m", "suspend": True,
            "chart": {"spec": {
                "chart": "prometheus-postgres-exporter",
                "sourceRef": {"kind": "HelmRepository", "name": "prometheus-community",
                              "namespace": "flux-system"},
            }},
        },
        "status": {
            "conditions": _ready("True", "Helm install succeeded"),
            "history": [{
                "name": "postgres-exporter", "namespace": "monitoring", "version": 1,
                "chartName": "prometheus-postgres-exporter", "chartVersion": "6.10.2",
                "configDigest": "sha256:00", "digest": "sha256:01", "status": "deployed",
                "firstDeployed": NOW, "lastDeployed": NOW,
            }],
        },
    })  # fmt: skip

    code = main(["status", "--kubeconfig", str(flux_cluster)])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert code == 1
    assert [line.split()[:6] for line in lines] == [
        ["KIND", "NAMESPACE", "NAME", "READY", "SUSPENDED", "REVISION"],
        ["GitRepository", "flux-system", "flux-system", "True", "False", "main@sha1:0123abcd"],
        ["HelmRepository", "flux-system", "prometheus-community", "True", "False", "sha256:feed"],
        ["Kustomization", "flux-system", "apps", "False", "False", "main@sha1:0123abcd"],
        ["Kustomization", "flux-system", "core-apps", "True", "False", "main@sha1:0123abcd"],
        ["HelmRelease", "monitoring", "postgres-exporter", "True", "True", "6.10.2"],
    ]
    assert lines[3].endswith("  dependency 'flux-system/core-apps' is not ready")
    assert "5 Flux objects, 1 not ready" in captured.err
    # the same rows as the pure formatter gives: columns aligned under the header
    assert lines[0].index("READY") == lines[1].index("True")

    _set_ready(api, ks, "v1", "kustomizations", "flux-system", "apps")
    assert main(["status", "--kubeconfig", str(flux_cluster)]) == 0
    assert "5 Flux objects, 0 not ready" in capsys.readouterr().err
    api.close()


@pytest.mark.integration
def test_status_uses_the_stacks_kube_context(
    flux_cluster: Path,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the stack k8s-01 names context k8s-01: make the default kubeconfig have one
    doc = yaml.safe_load(flux_cluster.read_text())
    doc["contexts"].append({"name": "k8s-01", "context": doc["contexts"][0]["context"]})
    doc["current-context"] = "nowhere"
    home_config = project / "kubeconfig"
    home_config.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("KUBECONFIG", str(home_config))
    code = main(["--project", str(project), "status", "k8s-01"])
    captured = capsys.readouterr()
    assert code in (0, 1) and captured.out.startswith("KIND"), captured.err
    assert main(["--project", str(project), "status", "k8s-02"]) == 2
    assert "k8s-02" in capsys.readouterr().err


def test_status_without_a_target_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 2
    assert capsys.readouterr().err == (
        "fluxboot status: name a STACK, or pass --context NAME or --kubeconfig PATH\n"
    )
