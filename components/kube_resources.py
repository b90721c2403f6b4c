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

# The built-in kinds a Flux install holds, as (apiVersion, kind); anything else is refused with a
# clear message rather than guessed at.
_BUILT_IN: frozenset[tuple[str, str]] = frozenset(
    {
        ("v1", "Namespace"),
        ("v1", "ServiceAccount"),
        ("v1", "Service"),
        ("v1", "ResourceQuota"),
        ("v1", "LimitRange"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("apps/v1", "Deployment"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("policy/v1", "PodDisruptionBudget"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    }
)
_NOT_INPUTS = {"status"}
_UNSAFE = re.compile(r"[^a-z0-9.-]+")


def type_token(api_version: str, kind: str) -> str:
    """pulumi-kubernetes' type token of a kind: `kubernetes:core/v1:Namespace`,
    `kubernetes:apps/v1:Deployment`, `kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition`."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


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
    """Declare `obj` as the pulumi_kubernetes resource of its kind, named `name`.

    Built-in kinds are registered under pulumi-kubernetes' own type token (the one its typed
    class `k8s.apps.v1.Deployment` etc. uses, so state and URNs are the same) with the object's
    fields as they are, which are already the provider's wire names. The typed classes would
    translate every nested key through Python type hints first: for the 11 Flux CRDs, whose
    OpenAPI schemas nest `JSONSchemaProps` hundreds deep, that alone took over a second of every
    `pulumi preview` (tens of thousands of `typing.get_type_hints` calls).
    """
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
    if (api_version, kind) not in _BUILT_IN:
        known = ", ".join(f"{k} ({v})" for v, k in sorted(_BUILT_IN))
        raise ValueError(
            f"{kind} {body.get('metadata', {}).get('name')!r} ({api_version}): no Pulumi resource "
            f"type is mapped for this kind; known: {known}"
        )
    props = {k: v for k, v in body.items() if k not in _NOT_INPUTS}
    return pulumi.CustomResource(type_token(api_version, kind), name, props, opts)
