"""One stack from config to validated files: the path both front ends take.

    StackConfig ──> install manifest (I/O, cached) ──> render (pure) ──> validate (pure)

`fluxboot render` writes the result; the Pulumi program commits it and applies its cluster
objects. Nothing is written anywhere until every step has passed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import yamlio
from components.config import StackConfig
from components.config_sources import load_stack_config
from components.crds import CrdSchemas, for_manifest, is_flux_api
from components.errors import ValidationError
from components.flux_manifests import InstallManifest, load_install_manifest
from components.flux_system import flux_system_objects
from components.render import render_repo_files
from components.repofiles import RepoFiles
from components.templates import Template

TEMPLATE_DIR = "repo-template"


@dataclass(frozen=True)
class StackRender:
    """What one stack writes to the repository, validated."""

    config: StackConfig
    manifest: InstallManifest
    files: RepoFiles

    def cluster_objects(self) -> list[dict[str, Any]]:
        """What Pulumi applies: exactly what `kubectl kustomize clusters/<c>/flux-system` builds
        from the committed files (install objects, then the flux-system GitRepository and
        Kustomization, with `flux.patches` applied), so Flux syncing them never fights Pulumi."""
        flux, git = self.config.settings.flux, self.config.settings.git
        return flux_system_objects(self.config.cluster, flux, git, self.manifest)


@functools.lru_cache(maxsize=4)
def load_template(project_dir: Path) -> Template:
    return Template.load(project_dir / TEMPLATE_DIR)


def validate_files(files: RepoFiles, schemas: CrdSchemas, flux_version: str) -> None:
    """Check every Flux object in `files` against its CRD schema; raise with every problem found."""
    problems: list[str] = []
    for path, f in files.items():
        if not path.endswith((".yaml", ".yml")):
            continue
        try:
            docs = yamlio.load_all_generated(f.content)
        except Exception as err:
            problems.append(f"{path}: not valid YAML: {err}")
            continue
        for doc in docs:
            if not isinstance(doc, dict) or not is_flux_api(str(doc.get("apiVersion", ""))):
                continue
            problems.extend(f"{path}: {msg}" for msg in schemas.validate(doc))
    if problems:
        raise ValidationError([*problems, f"(checked against the CRDs of Flux {flux_version})"])


def render_config(
    config: StackConfig, project_dir: Path, mirror_dir: Path | None = None
) -> StackRender:
    manifest = load_install_manifest(config.settings.flux, project_dir, mirror_dir)
    files = render_repo_files(config, load_template(project_dir), manifest)
    validate_files(files, for_manifest(manifest), config.settings.flux.version)
    return StackRender(config=config, manifest=manifest, files=files)


def render_stack(project_dir: Path, stack: str, mirror_dir: Path | None = None) -> StackRender:
    """Load, validate and render one stack from its YAML files (the CLI's path)."""
    return render_config(load_stack_config(project_dir, stack), project_dir, mirror_dir)


def objects_of(
    files: RepoFiles, kinds: tuple[str, ...] = ("managed", "fleet")
) -> list[dict[str, Any]]:
    """The Kubernetes objects in files of the given kinds (for tests and the cluster side)."""
    out: list[dict[str, Any]] = []
    for f in files.values():
        if f.kind in kinds and f.path.endswith(".yaml"):
            out.extend(d for d in yamlio.load_all(f.content) if isinstance(d, dict))
    return out
