"""The uninstall against a real control plane: workloads stay, Flux goes, nothing hangs.

The control plane (Kubernetes 1.34 with its controller manager, kwok playing the nodes) runs the
Flux Deployments' pods but no Flux controller, so Flux's finalizers behave exactly as they do
once the controllers are stopped: nobody removes them. That is the situation `pulumi destroy`
creates, and the reason the last test shows a plain CRD deletion hanging without the uninstall.

Each test installs Flux v2.9.4 (the real CRDs, CEL rules included) into its own namespace.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pulumi.runtime import rpc

from components.adapters.uninstall import uninstall_flux
from components.flux_uninstall import FluxUninstallProvider

pytestmark = pytest.mark.integration

VERSION = "v2.9.4"
SETTLE = 15.0  # seconds within which everything must be gone
_counter = itertools.count()


def _wait(predicate: Callable[[], bool], timeout: float = SETTLE, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def _status(err: Exception) -> int | None:
    return getattr(err, "status", None)


@dataclass
class FluxCluster:
    """Flux in `namespace`, Flux objects with finalizers, and a workload Flux applied."""

    api: Any
    namespace: str
    apps_namespace: str
    crd_names: list[str]

    # -- reading
    def crds_left(self) -> list[str]:
        from kubernetes import client

        ext = client.ApiextensionsV1Api(self.api)
        return [
            c.metadata.name
            for c in ext.list_custom_resource_definition().items
            if c.metadata.name in self.crd_names
        ]

    def get(
        self, group: str, version: str, plural: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        from kubernetes import client

        try:
            got = client.CustomObjectsApi(self.api).get_namespaced_custom_object(
                group, version, namespace, plural, name
            )
        except Exception as err:
            if _status(err) == 404:
                return None
            raise
        return got if isinstance(got, dict) else None

    def flux_objects(self) -> list[dict[str, Any] | None]:
        return [self.get(g, v, p, ns, n) for g, v, p, ns, n in FLUX_OBJECTS(self)]

    def workload(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self.api).read_namespaced_deployment("podinfo", self.apps_namespace)

    def namespace_phase(self) -> str | None:
        from kubernetes import client

        try:
            ns = client.CoreV1Api(self.api).read_namespace(self.namespace)
        except Exception as err:
            if _status(err) == 404:
                return None
            raise
        return str(ns.status.phase)

    def controllers(self) -> list[str]:
        from kubernetes import client

        deps = client.AppsV1Api(self.api).list_namespaced_deployment(self.namespace).items
        return [d.metadata.name for d in deps]


def FLUX_OBJECTS(c: FluxCluster) -> list[tuple[str, str, str, str, str]]:
    return [
        ("source.toolkit.fluxcd.io", "v1", "gitrepositories", c.namespace, "flux-system"),
        ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", c.namespace, "flux-system"),
        ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", c.namespace, "apps"),
        ("source.toolkit.fluxcd.io", "v1", "helmrepositories", c.namespace, "podinfo"),
        ("helm.toolkit.fluxcd.io", "v2", "helmreleases", c.apps_namespace, "podinfo"),
    ]


def _flux_object_bodies(ns: str, apps_ns: str) -> list[dict[str, Any]]:
    fin = {"finalizers": ["finalizers.fluxcd.io"]}
    return [
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": ns, **fin},
            "spec": {
                "interval": "1m",
                "url": "ssh://git@example.com/fleet.git",
                "ref": {"branch": "main"},
                "secretRef": {"name": "flux-system"},
            },
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "flux-system", "namespace": ns, **fin},
            "spec": {
                "interval": "10m",
                "path": "./clusters/k8s-01",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            },
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": ns, **fin},
            "spec": {
                "interval": "10m",
                "path": "./apps/clusters/k8s-01",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            },
        },
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": "podinfo", "namespace": ns, **fin},
            "spec": {"interval": "1h", "url": "https://stefanprodan.github.io/podinfo"},
        },
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": apps_ns, **fin},
            "spec": {
                "interval": "10m",
                "chart": {
                    "spec": {
                        "chart": "podinfo",
                        "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": ns},
                    }
                },
            },
        },
    ]


def _workload(apps_ns: str, flux_ns: str) -> dict[str, Any]:
    labels = {"app": "podinfo"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "podinfo",
            "namespace": apps_ns,
            # kustomize-controller labels what it applies with the Kustomization's name/namespace
            "labels": {
                "kustomize.toolkit.fluxcd.io/name": "apps",
                "kustomize.toolkit.fluxcd.io/namespace": flux_ns,
            },
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.7.0"}
                    ]
                },
            },
        },
    }


def _retarget(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """An install object of `flux-system` moved to `namespace` (names, labels, subjects)."""
    return json.loads(
        json.dumps(obj)
        .replace('"flux-system"', json.dumps(namespace))
        .replace("-flux-system", f"-{namespace}")
    )


def _create(api: Any, obj: dict[str, Any]) -> None:
    from kubernetes import client, utils

    if obj["kind"] == "CustomResourceDefinition":
        client.ApiextensionsV1Api(api).create_custom_resource_definition(obj)
    elif "toolkit.fluxcd.io" in obj["apiVersion"]:
        group, version = obj["apiVersion"].split("/")
        plural = {
            "GitRepository": "gitrepositories",
            "Kustomization": "kustomizations",
            "HelmRepository": "helmrepositories",
            "HelmRelease": "helmreleases",
        }[obj["kind"]]
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            group, version, obj["metadata"]["namespace"], plural, obj
        )
    else:
        utils.create_from_dict(api, obj)


def _crds_established(api: Any, names: list[str]) -> bool:
    from kubernetes import client

    ext = client.ApiextensionsV1Api(api)
    for name in names:
        conds = ext.read_custom_resource_definition(name).status.conditions or []
        if not any(c.type == "Established" and c.status == "True" for c in conds):
            return False
    return True


def _force_cleanup(cluster: FluxCluster) -> None:
    """Leave no Flux CRD behind for the next test, whatever the test did."""
    from kubernetes import client

    custom = client.CustomObjectsApi(cluster.api)
    for g, v, p, ns, n in FLUX_OBJECTS(cluster):
        with contextlib.suppress(Exception):  # already gone
            custom.patch_namespaced_custom_object(g, v, ns, p, n, {"metadata": {"finalizers": []}})
    ext = client.ApiextensionsV1Api(cluster.api)
    for name in cluster.crds_left():
        with contextlib.suppress(Exception):
            ext.delete_custom_resource_definition(name)
    assert _wait(lambda: not cluster.crds_left(), timeout=30), (
        f"CRDs left after cleanup: {cluster.crds_left()}"
    )


@pytest.fixture
def flux_cluster(
    apiserver: Any, flux_manifest: Callable[[str], list[dict[str, Any]]]
) -> Iterator[FluxCluster]:
    from kubernetes import client

    objects = flux_manifest(VERSION)
    n = next(_counter)
    ns, apps_ns = (
        f"flux-it-{n}-{int(time.time()) % 100000}",
        f"apps-it-{n}-{int(time.time()) % 100000}",
    )
    api = apiserver.client()
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    others = [_retarget(o, ns) for o in objects if o["kind"] != "CustomResourceDefinition"]
    namespace_obj = next(o for o in others if o["kind"] == "Namespace")
    cluster = FluxCluster(api, ns, apps_ns, [c["metadata"]["name"] for c in crds])
    assert _wait(lambda: not cluster.crds_left(), timeout=30), (
        "CRDs of an earlier test still terminating"
    )
    _create(api, namespace_obj)
    client.CoreV1Api(api).create_namespace({"metadata": {"name": apps_ns}})
    for crd in crds:
        _create(api, copy.deepcopy(crd))
    assert _wait(lambda: _crds_established(api, cluster.crd_names)), "Flux CRDs not established"
    for obj in others:
        if obj["kind"] != "Namespace":
            _create(api, obj)
    for body in _flux_object_bodies(ns, apps_ns):
        _create(api, body)
    _create(api, _workload(apps_ns, ns))
    try:
        yield cluster
    finally:
        _force_cleanup(cluster)
        api.close()


# ------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize(
    "keep_namespace", [False, True], ids=["remove-namespace", "keep-namespace"]
)
def test_uninstall_flux_function(
    flux_cluster: FluxCluster, apiserver: Any, keep_namespace: bool
) -> None:
    c = flux_cluster
    assert all(
        o is not None and o["metadata"]["finalizers"] == ["finalizers.fluxcd.io"]
        for o in c.flux_objects()
    )

    report = uninstall_flux(
        apiserver.kubeconfig, keep_namespace=keep_namespace, namespace=c.namespace
    )

    assert _wait(lambda: not c.crds_left()), f"Flux CRDs still there: {c.crds_left()}"
    assert c.flux_objects() == [None] * 5
    # The workload Flux applied is untouched.
    assert c.workload().metadata.labels["kustomize.toolkit.fluxcd.io/name"] == "apps"
    assert c.controllers() == []
    if keep_namespace:
        assert c.namespace_phase() == "Active"
    else:
        # the namespace controller empties and removes it; nothing holds it
        assert _wait(lambda: c.namespace_phase() is None, timeout=60)
    assert len(report.suspended) == 5
    assert len(report.finalizers_removed) == 5
    assert report.foreign_finalizers == []
    assert sorted(r.split("/")[-1] for r in report.controllers_stopped) == [
        "helm-controller",
        "kustomize-controller",
        "notification-controller",
        "source-controller",
    ]


def test_pulumi_destroy_order(flux_cluster: FluxCluster, apiserver: Any) -> None:
    """The dynamic provider's delete(), then what Pulumi deletes after it, in that order."""
    from kubernetes import client

    c = flux_cluster
    kubeconfig = rpc.wrap_rpc_secret(apiserver.kubeconfig)  # as the engine hands a secret over
    FluxUninstallProvider().delete(
        "flux-uninstall",
        {"namespace": c.namespace, "kubeconfig": kubeconfig, "context": None, "timeout": 30},
    )

    # Suspended and released, not deleted: deletion is Pulumi's next step.
    objs = c.flux_objects()
    assert all(
        o is not None and o["spec"]["suspend"] is True and not o["metadata"].get("finalizers")
        for o in objs
    )
    assert c.controllers() == []
    assert c.crds_left() != []

    # FluxSync: GitRepository and Kustomization flux-system go at once (no finalizer left).
    custom = client.CustomObjectsApi(c.api)
    custom.delete_namespaced_custom_object(
        "kustomize.toolkit.fluxcd.io", "v1", c.namespace, "kustomizations", "flux-system"
    )
    custom.delete_namespaced_custom_object(
        "source.toolkit.fluxcd.io", "v1", c.namespace, "gitrepositories", "flux-system"
    )
    assert (
        c.get("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", c.namespace, "flux-system")
        is None
    )
    # FluxInstall: CRDs (taking the remaining Flux objects with them), then the namespace.
    ext = client.ApiextensionsV1Api(c.api)
    for name in c.crd_names:
        ext.delete_custom_resource_definition(name)
    assert _wait(lambda: not c.crds_left()), f"Flux CRDs still there: {c.crds_left()}"
    assert c.flux_objects() == [None] * 5
    assert c.workload().metadata.name == "podinfo"


def test_without_uninstall_crd_deletion_hangs(flux_cluster: FluxCluster) -> None:
    """The control: deleting the CRDs straight away leaves them stuck on the Flux finalizers."""
    from kubernetes import client

    c = flux_cluster
    ext = client.ApiextensionsV1Api(c.api)
    for name in c.crd_names:
        ext.delete_custom_resource_definition(name)
    assert not _wait(lambda: not c.crds_left(), timeout=4)
    stuck = ext.read_custom_resource_definition("kustomizations.kustomize.toolkit.fluxcd.io")
    assert stuck.metadata.deletion_timestamp is not None
    # the fixture's cleanup releases them


# ------------------------------------------------------------- what is left is said, loudly


def _insecure(kubeconfig: str) -> str:
    """The same kubeconfig, skipping TLS verification (what makes urllib3 warn per request)."""
    lines = [
        "    insecure-skip-tls-verify: true"
        if line.strip().startswith("certificate-authority-data:")
        else line
        for line in kubeconfig.splitlines()
    ]
    return "\n".join(lines) + "\n"


def test_objects_held_by_another_tools_finalizer_are_printed_without_tls_noise(
    flux_cluster: FluxCluster, apiserver: Any
) -> None:
    import io
    import warnings

    from kubernetes import client

    c = flux_cluster
    client.CustomObjectsApi(c.api).patch_namespaced_custom_object(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        c.namespace,
        "kustomizations",
        "apps",
        {"metadata": {"finalizers": ["finalizers.fluxcd.io", "example.com/guard"]}},
    )
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        report = uninstall_flux(
            _insecure(apiserver.kubeconfig),
            keep_namespace=True,
            namespace=c.namespace,
            delete=False,
            timeout=30,
            out=out,
        )
    assert [str(w.message) for w in seen if "Unverified HTTPS" in str(w.message)] == []
    held = f"Kustomization/{c.namespace}/apps (example.com/guard)"
    assert report.foreign_finalizers == [held]
    assert out.getvalue() == (
        f"left to its owner (held by a finalizer that is not Flux's): {held}\n"
    )


def test_an_object_the_api_server_refuses_to_delete_is_printed_not_counted_as_deleted(
    flux_cluster: FluxCluster, apiserver: Any
) -> None:
    """A ValidatingAdmissionPolicy (another tool's rule) forbids deleting the namespace's
    Services: the uninstall goes on with the rest, and says which objects it left."""
    import io

    from kubernetes import client

    c = flux_cluster
    admission = client.AdmissionregistrationV1Api(c.api)
    name = f"keep-services-{c.namespace}"
    admission.create_validating_admission_policy(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["DELETE"],
                            "resources": ["services"],
                        }
                    ]
                },
                "validations": [{"expression": "false", "message": "services are kept here"}],
            },
        }
    )
    admission.create_validating_admission_policy_binding(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": c.namespace}
                    }
                },
            },
        }
    )
    core = client.CoreV1Api(c.api)
    services = [s.metadata.name for s in core.list_namespaced_service(c.namespace).items]
    assert services

    def denied() -> bool:
        try:
            core.delete_namespaced_service(services[0], c.namespace, dry_run="All")
        except Exception as err:
            return _status(err) in (403, 422)
        return False

    try:
        assert _wait(denied, timeout=30), "the admission policy never took effect"
        out = io.StringIO()
        report = uninstall_flux(
            apiserver.kubeconfig, keep_namespace=True, namespace=c.namespace, out=out
        )
    finally:
        admission.delete_validating_admission_policy_binding(name)
        admission.delete_validating_admission_policy(name)
    refs = [f"Service/{c.namespace}/{s}" for s in services]
    assert not set(refs) & set(report.deleted)
    assert [f.split(": ", 1)[0] for f in report.failed] == refs
    assert all("services are kept here" in f for f in report.failed)
    printed = out.getvalue().splitlines()
    assert [line.split(": ", 2)[1] for line in printed] == refs
    assert all(line.startswith("not deleted: ") for line in printed)
    # everything else went as usual
    assert _wait(lambda: not c.crds_left()), f"Flux CRDs still there: {c.crds_left()}"
