"""Uninstall Flux the way `flux uninstall` promises: workloads stay, nothing hangs.

Deleting Flux naively (controllers, then CRDs) goes wrong in two ways:

* while kustomize-controller and helm-controller run, deleting a Kustomization or HelmRelease
  makes them garbage-collect what it applied (the workloads), unless the object is suspended
  (kustomize-controller's finalizer skips pruning when `spec.suspend` is true, helm-controller
  skips the Helm uninstall likewise);
* once the controllers are gone, every Flux object still carries `finalizers.fluxcd.io`, so
  deleting a CRD (which deletes its objects) waits forever for a finalizer nobody removes.

A controller re-adds its finalizer on every reconcile, suspended or not (it adds it before it
looks at `spec.suspend`), so stripping finalizers only sticks once the controllers are stopped.
The order here is therefore, like `flux uninstall` (fluxcd/flux2 `cmd/flux/uninstall.go`, which
deletes the components, then the finalizers, then the CRDs, then the namespace), with one safety
step in front:

1. suspend every Flux object that has `spec.suspend` (Kustomizations, HelmReleases, sources,
   image automation, alerts/providers), in all namespaces: from now on a deletion cannot prune;
2. stop the controllers: delete the Deployments labelled `app.kubernetes.io/part-of=flux` in the
   Flux namespace and wait, bounded, for their pods to be gone;
3. remove the Flux finalizers (`finalizers.fluxcd.io`, and any other `*fluxcd.io*` one) from every
   object of every `*.toolkit.fluxcd.io` CRD, in all namespaces;
4. (`uninstall_flux(..., delete=True)` only) delete the remaining Flux components, the CRDs, and
   the namespace unless `keep_namespace`. Under Pulumi, step 4 is Pulumi's own deletion of the
   FluxInstall resources (pulumi-kubernetes treats an object already gone, like the controller
   Deployments of step 2, as deleted: `await.Deletion` ignores NotFound).

Under Pulumi, `components.flux_uninstall` runs steps 1-3 when `pulumi destroy` deletes it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from components.adapters.kube_client import (
    KubeconfigSource,
    api_client,
    kube_client,
    quiet_insecure_requests,
)
from components.common.errors import cap
from components.common.flux import FLUX_NAMESPACE

log = logging.getLogger(__name__)

FLUX_GROUP_SUFFIX = ".toolkit.fluxcd.io"
FLUX_FINALIZER = "finalizers.fluxcd.io"
PART_OF_SELECTOR = "app.kubernetes.io/part-of=flux"
DEFAULT_TIMEOUT = 120.0


def is_flux_finalizer(name: str) -> bool:
    """Whether a Flux controller adds this finalizer (so nobody removes it once they are gone)."""
    return name == FLUX_FINALIZER or "fluxcd.io" in name


@dataclass
class UninstallReport:
    """What an uninstall did, object by object, as `<kind>/<namespace>/<name>` strings."""

    suspended: list[str] = field(default_factory=list)
    controllers_stopped: list[str] = field(default_factory=list)
    finalizers_removed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # Objects still held by a finalizer that is not Flux's: someone else's to release.
    foreign_finalizers: list[str] = field(default_factory=list)
    # Objects the API server refused to delete, with its reason (a policy, RBAC).
    failed: list[str] = field(default_factory=list)

    def notices(self) -> list[str]:
        """What the person running the uninstall must see: what is left, and why."""
        lines = [
            f"left to its owner (held by a finalizer that is not Flux's): {ref}"
            for ref in self.foreign_finalizers
        ]
        lines += [f"not deleted: {failure}" for failure in self.failed]
        return lines


@dataclass(frozen=True)
class _FluxCrd:
    name: str
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    suspendable: bool


def _status(err: Exception) -> int | None:
    status = getattr(err, "status", None)
    return status if isinstance(status, int) else None


def _ignore_missing(err: Exception) -> None:
    if _status(err) != 404:
        raise err


def _reason(err: Exception) -> str:
    """The API server's answer, on one short line: status, reason and its message."""
    status, reason = getattr(err, "status", None), getattr(err, "reason", None)
    message = ""
    body = getattr(err, "body", None)
    if isinstance(body, (str, bytes)):
        try:
            loaded = json.loads(body)
            message = str(loaded.get("message", "")) if isinstance(loaded, dict) else ""
        except ValueError:
            message = ""
    head = " ".join(str(x) for x in (status, reason) if x) or type(err).__name__
    return cap(f"{head}: {message}" if message else head, 300)


def _delete(deleter: Any, ref: str, report: UninstallReport, *args: Any) -> None:
    """Delete one object: recorded as deleted, or (anything but "not found") as failed with the
    API server's reason; never silently counted as gone."""
    try:
        deleter(*args)
    except Exception as err:
        if _status(err) != 404:
            report.failed.append(f"{ref}: {_reason(err)}")
            return
    report.deleted.append(ref)


# ------------------------------------------------------------------------------ discovery


def _flux_crds(api: Any) -> list[_FluxCrd]:
    client = kube_client()

    found: list[_FluxCrd] = []
    for crd in client.ApiextensionsV1Api(api).list_custom_resource_definition().items:
        spec = crd.spec
        if not spec.group.endswith(FLUX_GROUP_SUFFIX):
            continue
        served = [v for v in spec.versions if v.served]
        if not served:
            continue
        version = next((v for v in served if v.storage), served[0])
        props: dict[str, Any] = {}
        schema = version.schema.open_apiv3_schema if version.schema else None
        if schema is not None and schema.properties and "spec" in schema.properties:
            props = schema.properties["spec"].properties or {}
        found.append(
            _FluxCrd(
                name=crd.metadata.name,
                group=spec.group,
                version=version.name,
                plural=spec.names.plural,
                kind=spec.names.kind,
                namespaced=spec.scope == "Namespaced",
                suspendable="suspend" in props,
            )
        )
    return sorted(found, key=lambda c: c.name)


def _objects(api: Any, crd: _FluxCrd) -> list[dict[str, Any]]:
    client = kube_client()

    custom = client.CustomObjectsApi(api)
    try:
        listed = custom.list_cluster_custom_object(crd.group, crd.version, crd.plural)
    except Exception as err:  # a CRD deleted meanwhile has no objects left
        _ignore_missing(err)
        return []
    items = listed.get("items", [])
    return [i for i in items if isinstance(i, dict)]


def _ref(crd: _FluxCrd, obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{crd.kind}/{meta.get('namespace', '')}/{meta.get('name', '')}"


def _patch(api: Any, crd: _FluxCrd, obj: Mapping[str, Any], body: dict[str, Any]) -> None:
    client = kube_client()

    custom = client.CustomObjectsApi(api)
    meta = obj["metadata"]
    try:
        if crd.namespaced:
            custom.patch_namespaced_custom_object(
                crd.group, crd.version, meta["namespace"], crd.plural, meta["name"], body
            )
        else:
            custom.patch_cluster_custom_object(
                crd.group, crd.version, crd.plural, meta["name"], body
            )
    except Exception as err:
        _ignore_missing(err)


# ------------------------------------------------------------------------------ the steps


def suspend_all(api: Any, crds: Sequence[_FluxCrd], report: UninstallReport) -> None:
    """Step 1: `spec.suspend: true` on every Flux object whose kind has it."""
    for crd in crds:
        if not crd.suspendable:
            continue
        for obj in _objects(api, crd):
            if obj.get("spec", {}).get("suspend") is True:
                continue
            # A JSON merge patch touches only spec.suspend; the object may be mid-deletion,
            # which still accepts spec changes.
            _patch(api, crd, obj, {"spec": {"suspend": True}})
            report.suspended.append(_ref(crd, obj))


def stop_controllers(api: Any, namespace: str, timeout: float, report: UninstallReport) -> None:
    """Step 2: delete the Flux controllers' Deployments and wait for their pods to go."""
    client = kube_client()

    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    try:
        deployments = apps.list_namespaced_deployment(
            namespace, label_selector=PART_OF_SELECTOR
        ).items
    except Exception as err:
        _ignore_missing(err)
        deployments = []
    for dep in deployments:
        try:
            # Background propagation: the Deployment goes now, its ReplicaSets and pods after it
            # (foreground would leave it behind until the garbage collector confirms).
            apps.delete_namespaced_deployment(
                dep.metadata.name, namespace, propagation_policy="Background"
            )
        except Exception as err:
            _ignore_missing(err)
        report.controllers_stopped.append(f"Deployment/{namespace}/{dep.metadata.name}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            pods = core.list_namespaced_pod(namespace, label_selector=PART_OF_SELECTOR).items
        except Exception as err:
            _ignore_missing(err)
            pods = []
        if not pods:
            return
        if time.monotonic() > deadline:
            names = ", ".join(p.metadata.name for p in pods)
            log.warning("Flux controller pods still terminating after %.0fs: %s", timeout, names)
            return
        time.sleep(1.0)


def strip_finalizers(api: Any, crds: Sequence[_FluxCrd], report: UninstallReport) -> None:
    """Step 3: remove Flux's finalizers from every Flux object, keeping anyone else's."""
    for crd in crds:
        for obj in _objects(api, crd):
            meta = obj.get("metadata", {})
            finalizers = list(meta.get("finalizers") or [])
            keep = [f for f in finalizers if not is_flux_finalizer(f)]
            if keep:
                report.foreign_finalizers.append(f"{_ref(crd, obj)} ({', '.join(keep)})")
            if keep == finalizers:
                continue
            if _release(api, crd, obj):
                report.finalizers_removed.append(_ref(crd, obj))


def _release(api: Any, crd: _FluxCrd, obj: Mapping[str, Any]) -> bool:
    """Drop Flux's finalizers from one object; False when it vanished meanwhile."""
    current: Mapping[str, Any] | None = obj
    for _ in range(5):
        if current is None:
            return False
        meta = current["metadata"]
        keep = [f for f in meta.get("finalizers") or [] if not is_flux_finalizer(f)]
        # resourceVersion makes the merge patch conditional: a concurrent writer gets a 409
        # instead of silently losing (or regaining) a finalizer; then read again and retry.
        body = {"metadata": {"finalizers": keep, "resourceVersion": meta.get("resourceVersion")}}
        try:
            _patch(api, crd, current, body)
            return True
        except Exception as err:
            if _status(err) != 409:
                raise
            current = _reread(api, crd, current)
    raise RuntimeError(f"{_ref(crd, obj)}: finalizers keep changing; is a Flux controller running?")


def _reread(api: Any, crd: _FluxCrd, obj: Mapping[str, Any]) -> dict[str, Any] | None:
    client = kube_client()

    custom = client.CustomObjectsApi(api)
    meta = obj["metadata"]
    try:
        if crd.namespaced:
            got = custom.get_namespaced_custom_object(
                crd.group, crd.version, meta["namespace"], crd.plural, meta["name"]
            )
        else:
            got = custom.get_cluster_custom_object(crd.group, crd.version, crd.plural, meta["name"])
    except Exception as err:
        _ignore_missing(err)
        return None
    return got if isinstance(got, dict) else None


def prepare_uninstall(
    api: Any, *, namespace: str = FLUX_NAMESPACE, timeout: float = DEFAULT_TIMEOUT
) -> UninstallReport:
    """Steps 1-3: afterwards, deleting components, CRDs, namespace prunes nothing, never hangs."""
    report = UninstallReport()
    crds = _flux_crds(api)
    suspend_all(api, crds, report)
    stop_controllers(api, namespace, timeout, report)
    strip_finalizers(api, crds, report)
    return report


def _delete_components(api: Any, namespace: str, report: UninstallReport) -> None:
    """Everything `flux install` created in and for the namespace, found by its part-of label."""
    client = kube_client()

    core = client.CoreV1Api(api)
    net = client.NetworkingV1Api(api)
    rbac = client.RbacAuthorizationV1Api(api)
    namespaced = [
        ("Service", core.list_namespaced_service, core.delete_namespaced_service),
        (
            "ServiceAccount",
            core.list_namespaced_service_account,
            core.delete_namespaced_service_account,
        ),
        ("NetworkPolicy", net.list_namespaced_network_policy, net.delete_namespaced_network_policy),
        (
            "ResourceQuota",
            core.list_namespaced_resource_quota,
            core.delete_namespaced_resource_quota,
        ),
    ]
    for kind, lister, deleter in namespaced:
        try:
            items = lister(namespace, label_selector=PART_OF_SELECTOR).items
        except Exception as err:
            _ignore_missing(err)
            continue
        for item in items:
            ref = f"{kind}/{namespace}/{item.metadata.name}"
            _delete(deleter, ref, report, item.metadata.name, namespace)
    # Cluster-wide RBAC of this installation: part-of=flux and instance=<namespace>, so a second
    # Flux in another namespace keeps its own.
    selector = f"{PART_OF_SELECTOR},app.kubernetes.io/instance={namespace}"
    for kind, lister, deleter in (
        ("ClusterRoleBinding", rbac.list_cluster_role_binding, rbac.delete_cluster_role_binding),
        ("ClusterRole", rbac.list_cluster_role, rbac.delete_cluster_role),
    ):
        for item in lister(label_selector=selector).items:
            _delete(deleter, f"{kind}//{item.metadata.name}", report, item.metadata.name)


def uninstall_flux(
    kubeconfig: KubeconfigSource,
    *,
    keep_namespace: bool,
    namespace: str = FLUX_NAMESPACE,
    delete: bool = True,
    context: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    out: TextIO | None = None,
) -> UninstallReport:
    """Uninstall Flux without Pulumi, keeping every workload Flux deployed.

    `kubeconfig` is a kubeconfig map, kubeconfig text, a file path, or None for the default
    kubeconfig; `context` picks a context in it. Suspends every Flux object, stops the
    controllers and removes Flux's finalizers; then, with `delete` (the default), deletes the
    remaining components, the Flux CRDs (which deletes their objects, now free to go) and the
    namespace unless `keep_namespace`. `delete=False` stops after the finalizers, which is what
    `pulumi destroy` needs before it deletes the install itself.

    What is left behind (objects held by another tool's finalizer, objects the API server would
    not delete) is printed to `out` (stderr: under `pulumi destroy`, the engine shows a dynamic
    provider's stderr), not only returned. urllib3's InsecureRequestWarning is kept quiet.
    """
    with quiet_insecure_requests():
        report = _uninstall(kubeconfig, keep_namespace, namespace, delete, context, timeout)
    for line in report.notices():
        print(line, file=out or sys.stderr)
    return report


def _uninstall(
    kubeconfig: KubeconfigSource,
    keep_namespace: bool,
    namespace: str,
    delete: bool,
    context: str | None,
    timeout: float,
) -> UninstallReport:
    api = api_client(kubeconfig, context)
    try:
        report = prepare_uninstall(api, namespace=namespace, timeout=timeout)
        if not delete:
            return report
        client = kube_client()

        _delete_components(api, namespace, report)
        ext = client.ApiextensionsV1Api(api)
        for crd in _flux_crds(api):
            _delete(
                ext.delete_custom_resource_definition,
                f"CustomResourceDefinition//{crd.name}",
                report,
                crd.name,
            )
        if not keep_namespace:
            _delete(
                client.CoreV1Api(api).delete_namespace, f"Namespace//{namespace}", report, namespace
            )
        return report
    finally:
        api.close()
