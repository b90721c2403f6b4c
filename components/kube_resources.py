"""One Kubernetes object (a plain dict, as rendered) -> one typed pulumi_kubernetes resource.

Typed resources (`kubernetes:apps/v1:Deployment`, ...) rather than a `yaml.v2.ConfigGroup`: every
object is its own line in `pulumi preview`, with its own diff and its own dependencies, and its
Pulumi name is derived from what it is (`<component>-<kind>-<namespace>-<name>`), so it stays the
same across Flux upgrades and an upgrade is an in-place update, never a replacement. Flux custom
resources (GitRepository, Kustomization, ...) become `apiextensions.CustomResource`s.

Every object carries `pulumi.com/patchForce: "true"`. Flux syncs the same bytes from Git with
server-side apply under its own field manager (kustomize-controller); when `pulumi up` upgrades a
field Flux also applied, the API server reports a conflict unless the apply is forced. Forcing is
right here: Pulumi applies what is about to be committed, which Flux will apply too.
See pulumi-kubernetes "Managing resources with Server-Side Apply".
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

PATCH_FORCE = "pulumi.com/patchForce"

# (apiVersion, kind) -> resource class; objects of other kinds are refused with a clear message.
_TYPED: dict[tuple[str, str], type[pulumi.CustomResource]] = {
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

# Top-level fields whose Python argument name differs from the Kubernetes one.
_ARG_NAMES = {
    "roleRef": "role_ref",
    "aggregationRule": "aggregation_rule",
    "automountServiceAccountToken": "automount_service_account_token",
    "imagePullSecrets": "image_pull_secrets",
    "binaryData": "binary_data",
    "stringData": "string_data",
}
_NOT_ARGS = {"apiVersion", "kind", "status"}
_UNSAFE = re.compile(r"[^a-z0-9.-]+")


def is_flux_custom_resource(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).split("/")[0].endswith(".toolkit.fluxcd.io")


def resource_name(prefix: str, obj: Mapping[str, Any]) -> str:
    """`<prefix>-<kind>-<namespace>-<name>` (no namespace part for cluster-scoped objects)."""
    meta = obj.get("metadata", {})
    parts = [prefix, str(obj["kind"]).lower()]
    if meta.get("namespace"):
        parts.append(str(meta["namespace"]))
    parts.append(str(meta["name"]))
    return _UNSAFE.sub("-", "-".join(parts).lower())


def forced_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """`metadata` with the patchForce annotation: every object this program applies has it, so
    that it takes over what `flux bootstrap`, Terraform or kustomize-controller applied before
    (their field managers would otherwise make the apply fail with a conflict)."""
    return {**metadata, "annotations": {**(metadata.get("annotations") or {}), PATCH_FORCE: "true"}}


def with_patch_force(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `obj` whose metadata carries the patchForce annotation."""
    out = copy.deepcopy(dict(obj))
    out["metadata"] = forced_metadata(out.get("metadata") or {})
    return out


def kube_resource(
    name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """Declare `obj` as the pulumi_kubernetes resource of its kind, named `name`."""
    body = with_patch_force(obj)
    api_version, kind = str(body.get("apiVersion", "")), str(body.get("kind", ""))
    if is_flux_custom_resource(body):
        return k8s.apiextensions.CustomResource(
            name,
            api_version=api_version,
            kind=kind,
            metadata=body["metadata"],
            spec=body.get("spec"),
            opts=opts,
        )
    cls = _TYPED.get((api_version, kind))
    if cls is None:
        known = ", ".join(f"{k} ({v})" for v, k in sorted(_TYPED))
        raise ValueError(
            f"{kind} {body.get('metadata', {}).get('name')!r} ({api_version}): no Pulumi resource "
            f"type is mapped for this kind; known: {known}"
        )
    kwargs = {_ARG_NAMES.get(k, k): v for k, v in body.items() if k not in _NOT_ARGS}
    return cls(name, opts=opts, **kwargs)
