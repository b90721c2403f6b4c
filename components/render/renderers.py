"""Renderers: a stack's config in, the stack's files in the GitOps repository out.

Pure functions, no I/O: what they need from disk (the install manifest, the repository
template) is loaded by the caller and passed in, so `fluxboot render` and `pulumi up` produce
the same bytes from the same inputs. Output is deterministic: keys in the order written here,
files sorted by path, LF endings, no timestamps.

Layout (README, "The repository it produces"):
  clusters/<c>/flux-system/                   Flux install + sync, as `flux bootstrap` writes it  managed
  clusters/<c>/core-apps.yaml, apps.yaml      Flux Kustomizations          managed
  clusters/<c>/notifications/*.yaml           Provider, Alert              managed
  core-apps/sources/*.yaml                    HelmRepositories             fleet
  core-apps/clusters/<c>/, apps/clusters/<c>/ per-cluster overlays         scaffold
  core-apps/base/, apps/base/                 the seed's applications      scaffold (new repos)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from components.common import yamlio
from components.common.flux import FLUX_NAMESPACE
from components.common.repofiles import Owner, RepoFile, RepoFiles
from components.config.model import (
    KustomizationSettings,
    NotificationAlert,
    NotificationProvider,
    StackConfig,
)
from components.flux_release.bootstrap import render_flux_system
from components.flux_release.manifests import InstallManifest
from components.render.templates import Template

KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
NOTIFICATION_API = "notification.toolkit.fluxcd.io/v1beta3"
KUSTOMIZE_CONFIG_API = "kustomize.config.k8s.io/v1beta1"
SOURCES_DIR = "core-apps/sources"


def _meta(name: str) -> dict[str, str]:
    return {"name": name, "namespace": FLUX_NAMESPACE}


def _kustomize_config(resources: list[str]) -> dict[str, Any]:
    """A kustomization.yaml (the kustomize kind, not Flux's) listing `resources`."""
    return {"apiVersion": KUSTOMIZE_CONFIG_API, "kind": "Kustomization", "resources": resources}


def flux_kustomization(
    name: str, path: str, settings: KustomizationSettings, cluster: str, depends_on: list[str]
) -> dict[str, Any]:
    """A Flux Kustomization of this cluster, synced from the `flux-system` GitRepository."""
    spec: dict[str, Any] = {
        "interval": settings.interval,
        "retryInterval": settings.retry_interval,
        "timeout": settings.timeout,
    }
    if depends_on:
        spec["dependsOn"] = [{"name": d} for d in depends_on]
    spec.update(
        {
            "sourceRef": {"kind": "GitRepository", "name": FLUX_NAMESPACE},
            "path": path,
            "prune": settings.prune,
            "wait": settings.wait,
        }
    )
    # cluster_name is always offered, so overlays can say ${cluster_name} without config
    substitute = {"cluster_name": cluster, **dict(sorted(settings.substitute.items()))}
    post_build: dict[str, Any] = {"substitute": substitute}
    if settings.substitute_from:
        post_build["substituteFrom"] = [
            {"kind": s.kind, "name": s.name, **({"optional": True} if s.optional else {})}
            for s in settings.substitute_from
        ]
    spec["postBuild"] = post_build
    return {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "metadata": _meta(name),
        "spec": spec,
    }


def helm_repository(
    name: str, url: str, interval: str, is_oci: bool, secret_ref: str | None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"interval": interval}
    if is_oci:
        spec["type"] = "oci"
    spec["url"] = url
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    return {
        "apiVersion": SOURCE_API,
        "kind": "HelmRepository",
        "metadata": _meta(name),
        "spec": spec,
    }


def notification_provider(name: str, provider: NotificationProvider) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": provider.type}
    for key, value in (
        ("channel", provider.channel),
        ("username", provider.username),
        ("address", provider.address),
    ):
        if value is not None:
            spec[key] = value
    # the credential itself is a Pulumi secret, written to this Secret by the cluster side
    spec["secretRef"] = {"name": provider.secret_name}
    return {
        "apiVersion": NOTIFICATION_API,
        "kind": "Provider",
        "metadata": _meta(name),
        "spec": spec,
    }


def notification_alert(name: str, alert: NotificationAlert, cluster: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "providerRef": {"name": alert.provider_ref},
        "eventSeverity": alert.event_severity,
        # Flux has no wildcard for namespaces in eventSources: one entry per namespace and kind
        "eventSources": [
            {"kind": src.kind, "name": src.name, "namespace": ns}
            for ns in alert.namespaces
            for src in alert.event_sources
        ],
    }
    if alert.exclusion_list:
        spec["exclusionList"] = list(alert.exclusion_list)
    # every event names its cluster, so one channel can serve the whole fleet
    spec["eventMetadata"] = {"cluster": cluster}
    return {"apiVersion": NOTIFICATION_API, "kind": "Alert", "metadata": _meta(name), "spec": spec}


def _object_file(path: str, obj: Mapping[str, Any], owner: Owner = "managed") -> RepoFile:
    """One object, one file; Kubernetes objects open with `---`, kustomization.yaml does not."""
    text = yamlio.dump(obj)
    if obj.get("apiVersion") != KUSTOMIZE_CONFIG_API:
        text = "---\n" + text
    return RepoFile(path=path, content=text, owner=owner)


def render_cluster_kustomizations(cfg: StackConfig) -> list[RepoFile]:
    """clusters/<c>/core-apps.yaml and apps.yaml."""
    c = cfg.cluster
    ks = cfg.settings.kustomizations
    return [
        _object_file(
            f"clusters/{c}/core-apps.yaml",
            flux_kustomization("core-apps", f"./core-apps/clusters/{c}", ks.core_apps, c, []),
        ),
        _object_file(
            f"clusters/{c}/apps.yaml",
            flux_kustomization("apps", f"./apps/clusters/{c}", ks.apps, c, ["core-apps"]),
        ),
    ]


def render_sources(cfg: StackConfig) -> list[RepoFile]:
    """core-apps/sources/<name>.yaml and their kustomization.yaml: fleet files, same for every stack."""
    return list(
        _render_sources(
            tuple((s.name, s.url, s.interval, s.is_oci, s.secret_ref) for s in cfg.settings.sources)
        )
    )


_SourceArgs = tuple[str, str, str, bool, str | None]


# Fleet files depend on the sources alone, so a process rendering a fleet serialises them once.
# Keyed by exactly the arguments `helm_repository` takes; a tuple of frozen RepoFiles.
@functools.lru_cache(maxsize=8)
def _render_sources(sources: tuple[_SourceArgs, ...]) -> tuple[RepoFile, ...]:
    files = [
        _object_file(
            f"{SOURCES_DIR}/{name}.yaml",
            helm_repository(name, url, interval, is_oci, secret_ref),
            owner="fleet",
        )
        for name, url, interval, is_oci, secret_ref in sorted(sources, key=lambda s: s[0])
    ]
    resources = [f.path.rsplit("/", 1)[1] for f in files]
    files.append(
        _object_file(
            f"{SOURCES_DIR}/kustomization.yaml", _kustomize_config(resources), owner="fleet"
        )
    )
    return tuple(files)


def render_notifications(cfg: StackConfig) -> list[RepoFile]:
    """clusters/<c>/notifications/: one Provider or Alert per file, and their kustomization.yaml."""
    c = cfg.cluster
    n = cfg.settings.notifications
    base = notifications_dir(c)
    files = [
        _object_file(f"{base}/provider-{name}.yaml", notification_provider(name, p))
        for name, p in sorted(n.providers.items())
    ]
    files += [
        _object_file(f"{base}/alert-{name}.yaml", notification_alert(name, a, c))
        for name, a in sorted(n.alerts.items())
    ]
    if not files:
        return []
    files.append(
        _object_file(
            f"{base}/kustomization.yaml",
            _kustomize_config([f.path.rsplit("/", 1)[1] for f in files]),
        )
    )
    return files


def notifications_dir(cluster: str) -> str:
    return f"clusters/{cluster}/notifications"


# The files `render_notifications` writes: one per Provider and per Alert, and their list.
_NOTIFICATION_FILE = re.compile(r"(provider|alert)-[a-z0-9]([-a-z0-9]*[a-z0-9])?\.yaml")


def stale_managed_files(
    cluster: str, files: RepoFiles, read: Callable[[str], str | None]
) -> list[str]:
    """Managed files an earlier render of `cluster` wrote that this render no longer writes.

    `pulumi up` knows them from its state; without state, the repository says it itself: the
    managed `clusters/<c>/notifications/kustomization.yaml` lists every Provider and Alert file
    the last render wrote. Those (and that list, when no notification is left) that `files`
    lacks are stale. Only names this renderer writes are taken, so a file people added by hand
    is never removed. `read(path)` is the file's text on the branch, or None.
    """
    base = notifications_dir(cluster)
    listing = f"{base}/kustomization.yaml"
    old = read(listing)
    if old is None:
        return []
    try:
        doc = yamlio.load(old)
    except yaml.YAMLError:
        return []  # not what this renderer wrote: nothing is known to be stale
    listed = doc.get("resources") if isinstance(doc, dict) else None
    names = [r for r in listed or [] if isinstance(r, str) and _NOTIFICATION_FILE.fullmatch(r)]
    return [p for p in (f"{base}/{n}" for n in [*names, "kustomization.yaml"]) if p not in files]


def render_scaffolds(cfg: StackConfig, template: Template) -> list[RepoFile]:
    """The repository template's files for this cluster (and the seed's bases for a new repository)."""
    return template.render(
        {
            "cluster": cfg.cluster,
            "flux_version": cfg.settings.flux.version,
        }
    )


def render_repo_files(cfg: StackConfig, template: Template, manifest: InstallManifest) -> RepoFiles:
    """Every file this stack writes to the GitOps repository."""
    flux, git = cfg.settings.flux, cfg.settings.git
    return RepoFiles(
        [
            *render_flux_system(cfg.cluster, flux, git, manifest),
            *render_cluster_kustomizations(cfg),
            *render_notifications(cfg),
            *render_sources(cfg),
            *render_scaffolds(cfg, template),
        ]
    )
