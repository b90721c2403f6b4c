"""Real Flux install manifests for tests: `$FLUX_MANIFESTS_DIR` or `../shared/flux`.

Never copied into the project; a test that needs one is skipped with the reason when absent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from components.config.model import FluxSettings
from components.flux_release.manifests import InstallManifest

PROJECT = Path(__file__).resolve().parents[1]

# directory -> (Flux version, extra components it holds)
RELEASES: dict[str, tuple[str, list[str]]] = {
    "v2.7.5": ("v2.7.5", []),
    "v2.8.8": ("v2.8.8", []),
    "v2.9.4": ("v2.9.4", []),
    "v2.9.3-extras": ("v2.9.3", ["image-reflector-controller", "image-automation-controller"]),
}


def mirror_path() -> Path:
    """Where the mirror of real Flux install manifests is looked for (it may be absent)."""
    env = os.environ.get("FLUX_MANIFESTS_DIR")
    return Path(env) if env else PROJECT.parent / "shared" / "flux"


def manifests_dir() -> Path:
    """The mirror of real Flux install manifests; the calling test skips where there is none
    (since a named mirror that is missing is an error, passing its path on would fail instead)."""
    path = mirror_path()
    if not path.is_dir():
        pytest.skip(f"real Flux install manifests not found at {path}: set FLUX_MANIFESTS_DIR")
    return path


def manifest_path(directory: str) -> Path:
    path = manifests_dir() / directory / "gotk-components.yaml"
    if not path.is_file():
        pytest.skip(f"Flux install manifest {path} is absent (set FLUX_MANIFESTS_DIR)")
    return path


def manifest(directory: str = "v2.9.4") -> InstallManifest:
    path = manifest_path(directory)
    return InstallManifest(RELEASES[directory][0], path.read_text(encoding="utf-8"), str(path))


def install_objects(directory: str = "v2.9.4") -> list[dict[str, Any]]:
    """The parsed gotk-components.yaml of a release directory, as committed by `flux install`."""
    return [d for d in manifest(directory).documents if isinstance(d, dict)]


def settings(directory: str = "v2.9.4", **values: Any) -> FluxSettings:
    """FluxSettings for a release directory (camelCase keys, as in a stack file)."""
    version, extras = RELEASES[directory]
    return FluxSettings.model_validate({"version": version, "componentsExtra": extras, **values})


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return (obj["kind"], meta.get("namespace", ""), meta["name"])


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {key(o): o for o in objects}


def diff_paths(a: Any, b: Any, path: str = "") -> list[str]:
    """Every JSON path where two parsed documents differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in [*a, *(k for k in b if k not in a)]:
            if k not in a or k not in b:
                out.append(f"{path}/{k}")
            else:
                out.extend(diff_paths(a[k], b[k], f"{path}/{k}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            p
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for p in diff_paths(x, y, f"{path}/{i}")
        ]
    return [] if a == b else [path or "/"]
