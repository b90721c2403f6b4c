"""`fluxboot status`: what `flux get all -A` shows, read with the official Kubernetes client.

Every Flux source (`common.flux.SOURCE_KINDS`), Kustomization
and HelmRelease in all namespaces, with its Ready condition, revision, whether it is suspended, and
the Ready message. The API version of each group is the one the server prefers, so the command
works across Flux releases; a kind the cluster has no CRD for is left out.

Revision, as `flux get` reads it: a source's `status.artifact.revision`, a Kustomization's
`lastAppliedRevision`, a HelmRelease's chart version of its latest release
(`status.history[0].chartVersion`); `lastAttemptedRevision` when there is nothing applied yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components.adapters.kube_client import quiet_insecure_requests
from components.common.errors import FluxGitopsError
from components.common.flux import HELM_GROUP, KUSTOMIZE_GROUP, SOURCE_GROUP, SOURCE_KINDS

# (group, kind, plural) in the order `flux get all` lists them
FLUX_KINDS: tuple[tuple[str, str, str], ...] = (
    *((SOURCE_GROUP, kind, plural) for kind, plural in SOURCE_KINDS.items()),
    (KUSTOMIZE_GROUP, "Kustomization", "kustomizations"),
    (HELM_GROUP, "HelmRelease", "helmreleases"),
)
_TIMEOUT = 15


class StatusError(FluxGitopsError):
    """The cluster cannot be reached or the kubeconfig cannot be used."""


@dataclass(frozen=True)
class Row:
    """One Flux object as the status table shows it."""

    kind: str
    namespace: str
    name: str
    ready: str  # True, False, Unknown, or "-" for objects that have no Ready condition by design
    suspended: bool
    revision: str
    message: str

    @property
    def is_ready(self) -> bool:
        return self.ready in ("True", "-")


def _ready(obj: Mapping[str, Any]) -> tuple[str, str]:
    status = obj.get("status") or {}
    for c in status.get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == "Ready":
            return str(c.get("status") or "Unknown"), " ".join(str(c.get("message") or "").split())
    spec = obj.get("spec") or {}
    if obj.get("kind") == "HelmRepository" and spec.get("type") == "oci":
        # OCI HelmRepositories are not reconciled: Flux sets no Ready condition on them
        return "-", ""
    return "Unknown", "waiting to be reconciled"


def _revision(obj: Mapping[str, Any]) -> str:
    status = obj.get("status") or {}
    artifact = status.get("artifact")
    if isinstance(artifact, Mapping) and artifact.get("revision"):
        return str(artifact["revision"])
    if status.get("lastAppliedRevision"):
        return str(status["lastAppliedRevision"])
    history = status.get("history")
    if obj.get("kind") == "HelmRelease" and isinstance(history, list) and history:
        first = history[0]
        if isinstance(first, Mapping) and first.get("chartVersion"):
            return str(first["chartVersion"])
    return str(status.get("lastAttemptedRevision") or "")


def row_of(obj: Mapping[str, Any]) -> Row:
    meta = obj.get("metadata") or {}
    ready, message = _ready(obj)
    return Row(
        kind=str(obj.get("kind")),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        ready=ready,
        suspended=bool((obj.get("spec") or {}).get("suspend")),
        revision=_revision(obj),
        message=message,
    )


def list_flux_objects(api_client: Any) -> list[dict[str, Any]]:
    """Every Flux object of the kinds `flux get all` shows, in all namespaces."""
    from kubernetes import client

    with quiet_insecure_requests():
        return _list(client, api_client)


def _list(client: Any, api_client: Any) -> list[dict[str, Any]]:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        groups = client.ApisApi(api_client).get_api_versions(_request_timeout=_TIMEOUT)
        preferred = {
            g.name: g.preferred_version.version for g in groups.groups if g.preferred_version
        }
        custom = client.CustomObjectsApi(api_client)
        objects: list[dict[str, Any]] = []
        for group, kind, plural in FLUX_KINDS:
            version = preferred.get(group)
            if version is None:
                continue
            try:
                found: dict[str, Any] = custom.list_cluster_custom_object(
                    group, version, plural, _request_timeout=_TIMEOUT
                )
            except ApiException as err:
                if err.status == 404:  # this Flux has no such kind
                    continue
                raise
            for item in found.get("items") or []:
                item.setdefault("kind", kind)
                objects.append(item)
    except ApiException as err:
        raise StatusError(f"the API server refused: {err.status} {err.reason}") from None
    except HTTPError as err:
        raise StatusError(f"cannot reach the API server: {err}") from None
    return objects


def rows(objects: Iterable[Mapping[str, Any]]) -> list[Row]:
    order = {kind: i for i, (_, kind, _) in enumerate(FLUX_KINDS)}
    return sorted(
        (row_of(o) for o in objects), key=lambda r: (order.get(r.kind, 99), r.namespace, r.name)
    )


def table(found: list[Row]) -> str:
    header = ("KIND", "NAMESPACE", "NAME", "READY", "SUSPENDED", "REVISION", "MESSAGE")
    cells = [header] + [
        (
            r.kind,
            r.namespace,
            r.name,
            r.ready,
            "True" if r.suspended else "False",
            r.revision,
            r.message,
        )
        for r in found
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header) - 1)]
    lines = []
    for c in cells:
        head = "  ".join(v.ljust(w) for v, w in zip(c[:-1], widths, strict=True))
        lines.append(f"{head}  {c[-1]}".rstrip())
    return "\n".join(lines) + "\n"
