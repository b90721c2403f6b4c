"""One stack from config to validated files: the path both front ends take.

    StackConfig ──> install manifest (I/O, cached) ──> render (pure) ──> validate (pure)

`fluxboot render` writes the result; the Pulumi program commits it and applies its cluster
objects. Nothing is written anywhere until every step has passed.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from components.common import derived, yamlio
from components.common.errors import ConfigError, Problem, ValidationError
from components.common.repofiles import RepoFiles
from components.config.model import StackConfig
from components.config.stack_files import load_stack_config
from components.flux_release.bootstrap import flux_system_objects
from components.flux_release.crds import CrdSchemas, for_manifest, is_flux_api
from components.flux_release.kustomize_patches import PatchError
from components.flux_release.manifests import InstallManifest, load_install_manifest
from components.render.renderers import render_repo_files
from components.render.templates import Template

TEMPLATE_DIR = "repo-template"


@dataclass(frozen=True)
class StackRender:
    """What one stack writes to the repository, validated."""

    config: StackConfig
    manifest: InstallManifest
    files: RepoFiles
    # CEL rules the files' objects reach that the offline check cannot evaluate (crd_rules):
    # not problems, but never passed in silence either; the front ends print them
    unchecked_rules: tuple[str, ...] = ()

    def cluster_objects(self) -> list[dict[str, Any]]:
        """What Pulumi applies: exactly what `kubectl kustomize clusters/<c>/flux-system` builds
        from the committed files (install objects, then the flux-system GitRepository and
        Kustomization, with `flux.patches` applied), so Flux syncing them never fights Pulumi."""
        flux, git = self.config.settings.flux, self.config.settings.git
        return flux_system_objects(self.config.cluster, flux, git, self.manifest)


@functools.lru_cache(maxsize=4)
def load_template(project_dir: Path) -> Template:
    return Template.load(project_dir / TEMPLATE_DIR)


# A file's problems (without its path), and the notes of the CEL rules its objects reach that
# are not checked offline.
Verdict = tuple[tuple[str, ...], tuple[str, ...]]

# What one file's text gives against one release's schemas never changes, and most of a stack's
# files (gotk-components.yaml, the fleet's sources, the seed's bases) are the same text for every
# stack of a fleet: the problems of each text are kept per process, keyed by (schemas, text).
# The key holds the CrdSchemas itself (compared by identity), so an id is never reused.
_VALIDATED_CACHE_SIZE = 512
_validated: OrderedDict[tuple[CrdSchemas, str], Verdict] = OrderedDict()
_validated_lock = threading.Lock()


# A document of a Flux API kind, at the top level of a file this program wrote (its serialisers
# start every document's mapping at column 0).
_FLUX_DOCUMENT = re.compile(r"^apiVersion: [\w.-]*toolkit\.fluxcd\.io/", re.M)


def _file_problems(content: str, schemas: CrdSchemas, *, generated: bool = False) -> Verdict:
    """The problems of one generated file's text, without its path, and the notes of the CEL
    rules its objects reach that are not checked offline.

    A file this program serialised itself (`generated`) is valid YAML by construction, so one
    with no Flux object is not parsed again: gotk-components.yaml (270 KB of CRDs and
    controllers, none of them a Flux object) was a quarter of a cold render. Scaffolds come from
    the template, which people edit: those are always parsed."""
    if generated and not _FLUX_DOCUMENT.search(content):
        return (), ()
    key = (schemas, content)
    with _validated_lock:
        found = _validated.get(key)
        if found is not None:
            _validated.move_to_end(key)
            return found
    problems: list[str] = []
    notes: list[str] = []
    try:
        docs = yamlio.load_all_generated(content)
    except Exception as err:
        problems.append(f"not valid YAML: {err}")
        docs = []
    for doc in docs:
        if not isinstance(doc, dict) or not is_flux_api(str(doc.get("apiVersion", ""))):
            continue
        verdict = schemas.check(doc)
        problems.extend(verdict.errors)
        notes.extend(verdict.unchecked)
    result = (tuple(problems), tuple(notes))
    with _validated_lock:
        _validated[key] = result
        while len(_validated) > _VALIDATED_CACHE_SIZE:
            _validated.popitem(last=False)
    return result


def validate_files(files: RepoFiles, schemas: CrdSchemas, flux_version: str) -> tuple[str, ...]:
    """Check every Flux object in `files` against its CRD (schema and CEL rules); raise with
    every problem found. Returns the notes of the rules not checked offline, once each.

    What one render's files gave is also kept across processes (the verdict entries of
    `components.common.derived`, named by the release and every file's text): a fresh process,
    such as each CI `pulumi preview`, would otherwise compile the CRD schemas and CEL rules of
    every kind its files use, most of what validating costs there, to find what it found last
    time."""
    texts = [
        (path, f.content, f.owner != "scaffold")
        for path, f in files.items()
        if path.endswith((".yaml", ".yml"))
    ]
    stored = _verdicts_entry(texts, schemas)
    verdicts = _read_verdicts(stored, len(texts)) if stored is not None else None
    if verdicts is None:
        verdicts = [
            _file_problems(content, schemas, generated=generated) for _, content, generated in texts
        ]
        if stored is not None:
            entry = {"name": stored.name, "verdicts": [[list(p), list(n)] for p, n in verdicts]}
            derived.put_text(stored, json.dumps(entry))
    problems: list[str] = []
    notes: dict[str, None] = {}
    for (path, _, _), (found, unchecked) in zip(texts, verdicts, strict=True):
        problems.extend(f"{path}: {msg}" for msg in found)
        notes.update(dict.fromkeys(unchecked))
    if problems:
        raise ValidationError([*problems, f"(checked against the CRDs of Flux {flux_version})"])
    return tuple(notes)


def _verdicts_entry(texts: list[tuple[str, str, bool]], schemas: CrdSchemas) -> Path | None:
    if schemas.digest is None or not derived.enabled():
        return None
    parts = [schemas.digest, *(f"{int(generated)}{content}" for _, content, generated in texts)]
    return derived.entry("verdicts", f"{derived.key(*parts)}.json")


def _read_verdicts(path: Path, count: int) -> list[Verdict] | None:
    text = derived.get_text(path)
    try:
        entry = json.loads(text) if text is not None else None
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("name") != path.name:
        return None
    found = entry.get("verdicts")
    if not isinstance(found, list) or len(found) != count:
        return None
    verdicts: list[Verdict] = []
    for item in found:
        if not (isinstance(item, list) and len(item) == 2 and all(map(_strings, item))):
            return None
        verdicts.append((tuple(item[0]), tuple(item[1])))
    return verdicts


def _strings(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def check_patches(config: StackConfig, manifest: InstallManifest) -> None:
    """Apply `flux.patches` to the install as kustomize will (and as Pulumi does): a patch that
    selects nothing or cannot be applied is refused by both front ends, with its key named,
    before anything is written or committed."""
    settings = config.settings
    if not settings.flux.patches:
        return
    try:
        flux_system_objects(config.cluster, settings.flux, settings.git, manifest)
    except PatchError as err:
        if err.index is None:
            raise
        file, key = config.locate(("flux", "patches", err.index))
        raise ConfigError([Problem(file, key, err.detail)]) from None


def render_config(
    config: StackConfig, project_dir: Path, mirror_dir: Path | None = None
) -> StackRender:
    manifest = load_install_manifest(config.settings.flux, project_dir, mirror_dir)
    files = render_repo_files(config, load_template(project_dir), manifest)
    notes = validate_files(files, for_manifest(manifest), config.settings.flux.version)
    check_patches(config, manifest)
    return StackRender(config=config, manifest=manifest, files=files, unchecked_rules=notes)


def render_stack(project_dir: Path, stack: str, mirror_dir: Path | None = None) -> StackRender:
    """Load, validate and render one stack from its YAML files (the CLI's path)."""
    return render_config(load_stack_config(project_dir, stack), project_dir, mirror_dir)


def objects_of(
    files: RepoFiles, owners: tuple[str, ...] = ("managed", "fleet")
) -> list[dict[str, Any]]:
    """The Kubernetes objects in files of the given owners (for tests and the cluster side)."""
    out: list[dict[str, Any]] = []
    for f in files.values():
        if f.owner in owners and f.path.endswith(".yaml"):
            # text this program generated: libyaml, no duplicate-key check (~10x faster on the
            # 270 KB gotk-components.yaml the Pulumi program reads back for its outputs)
            out.extend(d for d in yamlio.load_all_generated(f.content) if isinstance(d, dict))
    return out
