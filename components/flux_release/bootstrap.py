"""The `clusters/<c>/flux-system/` directory, and the objects it builds to. Pure, no I/O.

Names and layout are those of `flux bootstrap` (fluxcd/flux2 `pkg/manifestgen/sync`,
`pkg/bootstrap`): `gotk-components.yaml` (the install), `gotk-sync.yaml` (GitRepository and
Kustomization `flux-system` in namespace `flux-system`, secretRef `flux-system`) and a
`kustomization.yaml` listing both. So are their bytes (`yamlio.dump_flux`, durations as Go
writes them), checked against flux2's own generators (tests/e2e/test_oracle.py). So a cluster bootstrapped by `flux bootstrap` or by the
Terraform provider is taken over in place: the same objects under the same names, no reinstall.

`flux_system_objects` is what `kubectl kustomize clusters/<c>/flux-system` builds from these
files, the user's `flux.patches` included, which is what Pulumi applies: Flux, syncing the same
directory, then never disagrees with Pulumi.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from components.common import derived, yamlio
from components.common.durations import go_duration
from components.common.flux import FLUX_NAMESPACE, KUSTOMIZE_GROUP, SOURCE_GROUP, SYNC_NAME
from components.common.repofiles import RepoFile
from components.config.model import FluxSettings, GitSettings, Patch
from components.flux_release.install_objects import GEN_WARNING, header, install_objects
from components.flux_release.kustomize_patches import apply_patches
from components.flux_release.manifests import InstallManifest

COMPONENTS_FILE = "gotk-components.yaml"
SYNC_FILE = "gotk-sync.yaml"
KUSTOMIZATION_FILE = "kustomization.yaml"


def flux_system_dir(cluster: str) -> str:
    return f"clusters/{cluster}/flux-system"


def sync_objects(cluster: str, flux: FluxSettings, git: GitSettings) -> list[dict[str, Any]]:
    """GitRepository and Kustomization `flux-system` of a stack, as `flux bootstrap` writes them."""
    return bootstrap_sync_objects(
        cluster, git.url, git.branch, go_duration(git.interval), go_duration(flux.sync_interval)
    )


def bootstrap_sync_objects(
    cluster: str, url: str, branch: str, source_interval: str, sync_interval: str
) -> list[dict[str, Any]]:
    """GitRepository and Kustomization `flux-system`: the source of the repository, and the
    Kustomization that applies `clusters/<cluster>` from it."""
    meta = {"name": SYNC_NAME, "namespace": FLUX_NAMESPACE}
    repository = {
        "apiVersion": f"{SOURCE_GROUP}/v1",
        "kind": "GitRepository",
        "metadata": dict(meta),
        "spec": {
            "interval": source_interval,
            "ref": {"branch": branch},
            "secretRef": {"name": SYNC_NAME},
            "url": url,
        },
    }
    kustomization = {
        "apiVersion": f"{KUSTOMIZE_GROUP}/v1",
        "kind": "Kustomization",
        "metadata": dict(meta),
        "spec": {
            "interval": sync_interval,
            "path": f"./clusters/{cluster}",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": SYNC_NAME},
        },
    }
    return [repository, kustomization]


def _patch_entry(patch: Patch) -> dict[str, Any]:
    entry: dict[str, Any] = {"patch": patch.patch}
    if patch.target is not None:
        entry["target"] = patch.target.model_dump(by_alias=True, exclude_none=True)
    return entry


def kustomization(flux: FluxSettings) -> dict[str, Any]:
    """The kustomization.yaml of flux-system: both files, then `flux.patches` in order."""
    doc: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [COMPONENTS_FILE, SYNC_FILE],
    }
    if flux.patches:
        doc["patches"] = [_patch_entry(p) for p in flux.patches]
    return doc


# gotk-components.yaml depends only on the manifest and the flux settings, not on the cluster,
# and serialising its ~270 KB is most of what rendering a stack costs: kept per process, keyed
# by (manifest sha256, flux settings as JSON), and on disk under the same key (the rendered
# cache of `components.common.derived`), so a fresh process that renders the same install again
# neither customises nor serialises it: it reads 270 KB. The values are str, so callers cannot
# mutate them.
_COMPONENTS_CACHE_SIZE = 8
_components_cache: OrderedDict[tuple[str, str], str] = OrderedDict()
_components_lock = threading.Lock()


def components_text(flux: FluxSettings, manifest: InstallManifest) -> str:
    """gotk-components.yaml: the header and the install objects, as `flux install --export`."""
    key = (manifest.sha256, flux.model_dump_json())
    with _components_lock:
        found = _components_cache.get(key)
        if found is not None:
            _components_cache.move_to_end(key)
            return found
    stored = derived.entry("rendered", f"{derived.key(*key)}.yaml") if derived.enabled() else None
    text = derived.get_text(stored) if stored is not None else None
    if text is None:
        text = header(flux) + yamlio.dump_all_flux(install_objects(manifest, flux))
        if stored is not None:
            derived.put_text(stored, text)
    with _components_lock:
        _components_cache[key] = text
        while len(_components_cache) > _COMPONENTS_CACHE_SIZE:
            _components_cache.popitem(last=False)
    return text


def sync_text(cluster: str, flux: FluxSettings, git: GitSettings) -> str:
    """gotk-sync.yaml as `flux bootstrap` writes it (fluxcd/flux2 pkg/manifestgen/sync): the
    warning, then the GitRepository and the Kustomization, each after a `---`."""
    return f"{GEN_WARNING}\n---\n" + yamlio.dump_all_flux(sync_objects(cluster, flux, git))


def render_flux_system(
    cluster: str, flux: FluxSettings, git: GitSettings, manifest: InstallManifest
) -> list[RepoFile]:
    """The three managed files of `clusters/<cluster>/flux-system/`."""
    base = flux_system_dir(cluster)
    components = components_text(flux, manifest)
    return [
        RepoFile(f"{base}/{COMPONENTS_FILE}", components, "managed"),
        RepoFile(f"{base}/{SYNC_FILE}", sync_text(cluster, flux, git), "managed"),
        RepoFile(f"{base}/{KUSTOMIZATION_FILE}", yamlio.dump_flux(kustomization(flux)), "managed"),
    ]


def flux_system_objects(
    cluster: str, flux: FluxSettings, git: GitSettings, manifest: InstallManifest
) -> list[dict[str, Any]]:
    """What `kubectl kustomize clusters/<cluster>/flux-system` builds: the objects to apply.

    The install objects, then the sync objects, with `flux.patches` applied in order.
    Raises ManifestError for a manifest that does not fit the settings and PatchError
    (naming `flux-gitops:flux.patches[i]`) for a patch that cannot be applied.
    """
    objects = [*install_objects(manifest, flux), *sync_objects(cluster, flux, git)]
    return apply_patches(objects, flux.patches)
