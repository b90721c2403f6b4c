"""`fluxboot status`: what `flux get all -A` shows, read with the official Kubernetes client.

Every Flux source (GitRepository, OCIRepository, HelmRepository, HelmChart, Bucket), Kustomization
and HelmRelease in all namespaces, with its Ready condition, revision, whether it is suspended, and
the Ready message. The API version of each group is the one the server prefers, so the command
works across Flux releases; a kind the cluster has no CRD for is left out.

Revision, as `flux get` reads it: a source's `status.artifact.revision`, a Kustomization's
`lastAppliedRevision`, a HelmRelease's chart version of its latest release
(`status.history[0].chartVersion`); `lastAttemptedRevision` when there is nothing applied yet.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import yamlio
from components.errors import FluxGitopsError
from components.kube_warnings import quiet_insecure_requests
from components.textfiles import UnreadableFileError, read_text

# (group, kind, plural) in the order `flux get all` lists them
FLUX_KINDS: tuple[tuple[str, str, str], ...] = (
    ("source.toolkit.fluxcd.io", "GitRepository", "gitrepositories"),
    ("source.toolkit.fluxcd.io", "OCIRepository", "ocirepositories"),
    ("source.toolkit.fluxcd.io", "HelmRepository", "helmrepositories"),
    ("source.toolkit.fluxcd.io", "HelmChart", "helmcharts"),
    ("source.toolkit.fluxcd.io", "Bucket", "buckets"),
    ("kustomize.toolkit.fluxcd.io", "Kustomization", "kustomizations"),
    ("helm.toolkit.fluxcd.io", "HelmRelease", "helmreleases"),
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


# A kubeconfig is a few KB; embedded certificates for many clusters stay far below this.
MAX_KUBECONFIG_BYTES = 16 * 1024 * 1024


def check_kubeconfig(paths: str, given: bool) -> None:
    """Read each file of a kubeconfig path list (`a:b`, as $KUBECONFIG) as the client will, but
    with this project's checks: a binary, oversized, malformed or alias-bomb file is refused with
    its name, before the client's own loader (plain PyYAML, no bounds) sees it."""
    for part in paths.split(os.pathsep):
        if not part:
            continue
        path = Path(part).expanduser()
        if not path.exists() and not given:
            continue  # the client skips missing files of $KUBECONFIG, and so does this
        try:
            yamlio.load(read_text(path, str(path), MAX_KUBECONFIG_BYTES))
        except UnreadableFileError as err:
            raise StatusError(str(err)) from None
        except yaml.YAMLError as err:
            raise StatusError(f"{path}: not a kubeconfig: {yamlio.one_line(err)}") from None


def client_for(kubeconfig: Path | None, context: str | None) -> Any:
    """An ApiClient for `context` of `kubeconfig` (default: $KUBECONFIG or ~/.kube/config)."""
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    # read $KUBECONFIG now: the client reads it once, when it is imported
    default = os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
    check_kubeconfig(str(kubeconfig) if kubeconfig else default, kubeconfig is not None)
    try:
        return kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else default, context=context
        )
    except ConfigException as err:
        where = str(kubeconfig) if kubeconfig else "the default kubeconfig"
        raise StatusError(f"{where}: {err}") from None
    except OSError as err:
        raise StatusError(f"{err.filename or kubeconfig}: {err.strerror}") from None
    except (yaml.YAMLError, UnicodeError, ValueError, TypeError, AttributeError) as err:
        # a well-formed YAML file that is no kubeconfig (a list, a string) trips the client
        where = str(kubeconfig) if kubeconfig else "the default kubeconfig"
        raise StatusError(f"{where}: not a kubeconfig ({type(err).__name__})") from None


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
