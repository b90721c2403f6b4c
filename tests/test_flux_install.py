"""FluxInstall under Pulumi mocks, fed the real v2.9.4 install manifest."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.common import yamlio
from components.flux_install import FluxInstall, FluxInstallArgs
from components.kube_resources import PATCH_FORCE, kube_resource, resource_name
from tests.flux_testdata import manifests_dir
from tests.pulumi_harness import Recording, run


def _objects(version: str) -> list[dict[str, Any]]:
    path = manifests_dir() / version / "gotk-components.yaml"
    if not path.is_file():
        pytest.skip(f"Flux {version} install manifest not found at {path} (set FLUX_MANIFESTS_DIR)")
    return [d for d in yamlio.load_all(path.read_text()) if isinstance(d, dict)]


def _install(
    version: str = "v2.9.4", keep_namespace: bool = False
) -> tuple[Recording, list[dict[str, Any]], dict[str, Any]]:
    objects = _objects(version)
    seen: dict[str, Any] = {}

    def program() -> Any:
        provider = k8s.Provider("k8s", kubeconfig="{}", enable_server_side_apply=True)
        install = FluxInstall(
            "flux",
            FluxInstallArgs(version=version, objects=objects, keep_namespace=keep_namespace),
            pulumi.ResourceOptions(providers=[provider]),
        )
        return pulumi.Output.all(
            install.version, install.components, install.crd_names, install.namespace
        ).apply(
            lambda v: seen.update(version=v[0], components=v[1], crd_names=v[2], namespace=v[3])
        )

    return run(program), objects, seen


def test_one_typed_resource_per_object_with_stable_names() -> None:
    rec, objects, _ = _install()
    k8s_resources = rec.of_type("kubernetes:")
    assert len(k8s_resources) == len(objects) == 32
    assert rec.resources["flux-namespace-flux-system"].type == "kubernetes:core/v1:Namespace"
    crd = rec.resources["flux-customresourcedefinition-kustomizations.kustomize.toolkit.fluxcd.io"]
    assert crd.type == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
    dep = rec.resources["flux-deployment-flux-system-kustomize-controller"]
    assert dep.type == "kubernetes:apps/v1:Deployment"
    assert rec.resources["flux-clusterrolebinding-cluster-reconciler-flux-system"].type == (
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
    )
    # every object is a child of the component
    component = rec.resources["flux"]
    assert component.type == "flux-gitops:flux_install:FluxInstall"
    assert all(r.parent == component.urn for r in k8s_resources)


def test_inputs_are_the_manifest_plus_patch_force() -> None:
    rec, objects, _ = _install()
    by_name = {resource_name("flux", o): o for o in objects}
    for name, obj in by_name.items():
        inputs = rec.resources[name].inputs
        assert inputs["metadata"]["annotations"][PATCH_FORCE] == "true"
        meta = {k: v for k, v in inputs["metadata"].items() if k != "annotations"}
        assert meta == {k: v for k, v in obj["metadata"].items() if k != "annotations"}
        for key in ("spec", "rules", "subjects", "roleRef"):
            if key in obj:
                assert inputs[key] == obj[key], f"{name}.{key} changed on its way to the engine"


def test_order_namespace_then_crds_then_the_rest() -> None:
    rec, _, _ = _install()
    ns = rec.resources["flux-namespace-flux-system"]
    crds = rec.of_type("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    others = [r for r in rec.of_type("kubernetes:") if r not in crds and r is not ns]
    assert len(crds) == 11 and len(others) == 20
    assert ns.dependencies == []
    for crd in crds:
        assert ns.urn in crd.dependencies
    crd_urns = {c.urn for c in crds}
    for other in others:
        assert crd_urns <= set(other.dependencies), other.name
        assert ns.urn in other.dependencies


def test_provider_on_every_kubernetes_resource() -> None:
    rec, _, _ = _install()
    provider = rec.resources["k8s"]
    assert provider.type == "pulumi:providers:kubernetes"
    for r in rec.of_type("kubernetes:"):
        assert r.provider == f"{provider.urn}::k8s-id", r.name


@pytest.mark.parametrize("keep", [False, True])
def test_keep_namespace_retains_only_the_namespace(keep: bool) -> None:
    rec, _, _ = _install(keep_namespace=keep)
    assert rec.resources["flux-namespace-flux-system"].retain_on_delete is keep
    assert not any(
        r.retain_on_delete
        for r in rec.of_type("kubernetes:")
        if r.type != "kubernetes:core/v1:Namespace"
    )


def test_outputs() -> None:
    rec, _, seen = _install()
    assert seen == {
        "version": "v2.9.4",
        "namespace": "flux-system",
        "components": [
            "helm-controller",
            "kustomize-controller",
            "notification-controller",
            "source-controller",
        ],
        "crd_names": sorted(seen["crd_names"]),
    }
    assert "kustomizations.kustomize.toolkit.fluxcd.io" in seen["crd_names"]
    registered = rec.outputs[rec.resources["flux"].urn]
    assert registered["version"] == "v2.9.4"
    assert registered["crdNames"] == seen["crd_names"]


def test_upgrade_keeps_every_resource_name() -> None:
    """v2.7.5 -> v2.9.4 is an update of the same resources: no CRD is replaced (deleted)."""
    old = {resource_name("flux", o) for o in _objects("v2.7.5")}
    new = {resource_name("flux", o) for o in _objects("v2.9.4")}
    assert {n for n in old if "customresourcedefinition" in n} <= new
    assert old == new


def test_extra_components_and_unknown_kinds() -> None:
    _, _, seen = _install("v2.9.3-extras")
    assert "image-automation-controller" in seen["components"]

    def bad() -> None:
        kube_resource(
            "x",
            {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}},
            pulumi.ResourceOptions(),
        )

    with pytest.raises(ValueError, match="CronJob 'c'"):
        run(bad)


def test_exactly_one_namespace_required() -> None:
    objects = [o for o in _objects("v2.9.4") if o["kind"] != "Namespace"]
    with pytest.raises(ValueError, match="0 Namespaces"):
        run(lambda: FluxInstall("flux", FluxInstallArgs(version="v2.9.4", objects=objects)))


# pulumi-kubernetes' typed class of each built-in kind a Flux install holds
TYPED_CLASSES: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ResourceQuota"): k8s.core.v1.ResourceQuota,
    ("v1", "LimitRange"): k8s.core.v1.LimitRange,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): (
        k8s.apiextensions.v1.CustomResourceDefinition
    ),
}


def test_built_in_kinds_keep_pulumi_kubernetes_type_tokens() -> None:
    """kube_resource registers each kind under the token its typed class uses: the URNs in users'
    state were made with the typed classes, and a changed token would replace the object."""

    def program() -> None:
        for (api_version, kind), cls in TYPED_CLASSES.items():
            meta = {"name": "x", "namespace": "ns"}
            required: dict[str, Any] = {}
            if kind.endswith("Binding"):
                required["role_ref"] = {"apiGroup": "g", "kind": "k", "name": "n"}
            if kind == "CustomResourceDefinition":
                required["spec"] = {
                    "group": "g",
                    "names": {},
                    "scope": "Namespaced",
                    "versions": [],
                }
            cls(f"typed-{kind.lower()}", metadata=meta, **required)
            kube_resource(
                f"raw-{kind.lower()}",
                {"apiVersion": api_version, "kind": kind, "metadata": meta},
                pulumi.ResourceOptions(),
            )

    rec = run(program)
    for _, kind in TYPED_CLASSES:
        typed, raw = rec.resources[f"typed-{kind.lower()}"], rec.resources[f"raw-{kind.lower()}"]
        assert raw.type == typed.type, kind


def test_inputs_are_the_objects_fields_under_their_kubernetes_names() -> None:
    """What the provider receives is the object as written (wire names such as roleRef), plus
    the patchForce annotation; `status` is never an input."""
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "s", "namespace": "n"}],
        "status": {"ignored": True},
    }
    rec = run(lambda: kube_resource("b", binding, pulumi.ResourceOptions()) and None)
    inputs = rec.resources["b"].inputs
    assert inputs["roleRef"] == binding["roleRef"] and inputs["subjects"] == binding["subjects"]
    assert inputs["metadata"]["annotations"] == {PATCH_FORCE: "true"}
    assert "status" not in inputs
