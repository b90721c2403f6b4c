"""Where the Flux install manifest of a release comes from.

Order of lookup for `flux.version` (first hit wins):
1. `flux.manifestsPath` from the stack config (air-gapped clusters), relative to the project;
2. a local mirror directory laid out as `<dir>/<version>/gotk-components.yaml`
   (`--manifests-dir` or the `FLUXBOOT_MANIFESTS_DIR` environment variable);
3. the user cache, `$XDG_CACHE_HOME/flux-gitops/flux/<version>/install.yaml`.
When `flux.manifestsSha256` is set, the text must have that digest, wherever it came from.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import yamlio
from components.config import FluxSettings
from components.errors import ManifestError

MIRROR_ENV = "FLUXBOOT_MANIFESTS_DIR"


@dataclass(frozen=True)
class InstallManifest:
    """The install manifest text of one Flux release, and where it was found."""

    version: str
    text: str
    origin: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @functools.cached_property
    def documents(self) -> list[dict[str, Any]]:
        """The parsed objects (parsed once per manifest, however often they are asked for)."""
        return _parse(self.text, self.origin)


@functools.lru_cache(maxsize=16)
def _parse(text: str, origin: str) -> list[dict[str, Any]]:
    try:
        docs = yamlio.load_all(text)
    except Exception as err:
        raise ManifestError(f"{origin}: not a YAML install manifest: {err}") from None
    if not all(isinstance(d, dict) and "kind" in d for d in docs):
        raise ManifestError(f"{origin}: not a Kubernetes install manifest")
    return docs


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flux-gitops" / "flux"


def _candidates(
    flux: FluxSettings, project_dir: Path, mirror_dir: Path | None
) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    if flux.manifests_path:
        found.append((project_dir / flux.manifests_path, "flux-gitops:flux.manifestsPath"))
        return found
    mirror = mirror_dir or (Path(os.environ[MIRROR_ENV]) if os.environ.get(MIRROR_ENV) else None)
    if mirror is not None:
        found.append((mirror / flux.version / "gotk-components.yaml", "manifests mirror"))
    found.append((cache_dir() / flux.version / "install.yaml", "cache"))
    return found


def load_install_manifest(
    flux: FluxSettings, project_dir: Path, mirror_dir: Path | None = None
) -> InstallManifest:
    """The install manifest of `flux.version`, verified against `flux.manifestsSha256` if pinned."""
    tried = []
    for path, what in _candidates(flux, project_dir, mirror_dir):
        tried.append(f"{path} ({what})")
        if not path.is_file():
            if what.startswith("flux-gitops:"):
                raise ManifestError(f"{what}: {path} does not exist or is not a file")
            continue
        manifest = InstallManifest(flux.version, path.read_text(encoding="utf-8"), str(path))
        if flux.manifests_sha256 and manifest.sha256 != flux.manifests_sha256:
            raise ManifestError(
                f"flux-gitops:flux.manifestsSha256: {path} has sha256 {manifest.sha256}, "
                f"not the pinned {flux.manifests_sha256}"
            )
        return manifest
    raise ManifestError(
        f"the install manifest of Flux {flux.version} is not available; looked in: "
        + "; ".join(tried)
    )
