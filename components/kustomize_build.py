"""Build a Flux Kustomization's `path` the way kustomize-controller does, and say where each object came from.

kustomize-controller builds `spec.path` of the source artifact with kustomize (load restrictions
off, plugins off). When the directory has no kustomization file it generates one first: every
`.yaml`/`.yml` file of the directory tree, recursively, except that a sub-directory holding its
own kustomization file is added as one resource and not descended into; a YAML file that is not
Kubernetes YAML fails the build. Then it writes the Kustomization's `targetNamespace`, `patches`
and `images` into that (existing or generated) kustomization before building
(https://fluxcd.io/flux/components/kustomize/kustomizations/#generating-a-kustomizationyaml-file).

Two builders share that preparation:
- `KubectlBuilder` runs `kubectl kustomize` (kustomize v4+), the real thing, on a scratch copy of
  the repository, with `buildMetadata: [originAnnotations]` added so every object names its file;
- `PythonBuilder` follows `resources:` and `namespace:` only; it is what is left when kubectl is
  missing, so that the other checks still see the objects (the caller reports the build as skipped).
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components import yamlio

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
SKIPPED_MESSAGE = "kustomize build: kubectl (with kustomize v4+) not found"
# Kinds a kustomize `namespace:` leaves alone (cluster-scoped); enough for the repositories here.
_CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "PriorityClass",
        "PersistentVolume",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "APIService",
    }
)
_KUSTOMIZE_VERSION = re.compile(r"Kustomize Version:\s*v?(\d+)\.")


@dataclass(frozen=True)
class SourcedObject:
    """A Kubernetes object and the repository file it was read from (POSIX, repo-relative)."""

    obj: dict[str, Any]
    file: str


@dataclass
class BuildResult:
    objects: list[SourcedObject] = field(default_factory=list)
    error: str | None = None


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def generated_resources(directory: Path) -> tuple[list[str], str | None]:
    """The resources of the kustomization Flux generates for `directory`, or an error."""
    resources: list[str] = []
    for current, dirs, files in os.walk(directory):
        dirs.sort()
        here = Path(current)
        keep = []
        for d in dirs:
            if kustomization_file(here / d) is not None:
                resources.append((here / d).relative_to(directory).as_posix())
            else:
                keep.append(d)
        dirs[:] = keep
        for name in sorted(files):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = here / name
            rel = path.relative_to(directory).as_posix()
            try:
                docs = yamlio.load_all(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as err:
                return [], f"failed to decode Kubernetes YAML from {rel}: {_one_line(str(err))}"
            for doc in docs:
                if not isinstance(doc, Mapping) or not doc.get("kind"):
                    return [], f"failed to decode Kubernetes YAML from {rel}: missing kind"
            resources.append(rel)
    # os.walk lists a directory's files after deciding on its sub-directories; kustomize walks
    # in lexical order, which only changes the order of the output
    return sorted(resources), None


def flux_kustomization_overlay(
    base: Mapping[str, Any] | None, resources: list[str] | None, spec: Mapping[str, Any]
) -> dict[str, Any]:
    """The kustomization kustomize-controller builds: the directory's own (or a generated one)
    with the Flux Kustomization's targetNamespace, patches and images written in."""
    kus: dict[str, Any] = dict(base or {})
    kus.setdefault("apiVersion", "kustomize.config.k8s.io/v1beta1")
    kus.setdefault("kind", "Kustomization")
    if resources is not None:
        kus["resources"] = resources
    if isinstance(spec.get("targetNamespace"), str):
        kus["namespace"] = spec["targetNamespace"]
    if isinstance(spec.get("patches"), list) and spec["patches"]:
        kus["patches"] = [*(kus.get("patches") or []), *spec["patches"]]
    if isinstance(spec.get("images"), list) and spec["images"]:
        images = {i.get("name"): i for i in kus.get("images") or [] if isinstance(i, Mapping)}
        for image in spec["images"]:
            if isinstance(image, Mapping):
                images[image.get("name")] = dict(image)
        kus["images"] = list(images.values())
    return kus


def _one_line(text: str) -> str:
    return " ".join(text.split())


# recent kubectl reports through klog: E1126 07:30:30.185057 9440 run.go:72] "command failed" err="..."
_KLOG_ERR = re.compile(r'[EWIF]\d{4} [^\]]*\] "command failed" err="(.*)"\Z')


def _kubectl_error(stderr: str) -> str:
    """The error of a failed `kubectl kustomize`, on one line, without klog's decoration."""
    text = _one_line(stderr)
    m = _KLOG_ERR.match(text)
    if m:
        text = m.group(1).replace('\\"', '"')
    return text.removeprefix("error: ")


@functools.lru_cache(maxsize=8)
def _kubectl_kustomize_major(kubectl: str) -> int | None:
    try:
        done = subprocess.run(
            [kubectl, "version", "--client"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = _KUSTOMIZE_VERSION.search(done.stdout + done.stderr)
    return int(m.group(1)) if m else None


def find_kubectl() -> str | None:
    """Path of a kubectl on PATH whose built-in kustomize is v4 or newer, else None."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    major = _kubectl_kustomize_major(kubectl)
    return kubectl if major is not None and major >= 4 else None


class _Builder:
    """Shared by both builders: the repository root and path checks."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _directory(self, path: str) -> tuple[str, str | None]:
        rel = posixpath.normpath(path.strip() or ".")
        if rel.startswith("/"):
            rel = rel.lstrip("/") or "."
        if rel == ".." or rel.startswith("../"):
            return rel, f"path {path} leaves the repository"
        if not (self.root / rel).is_dir():
            return rel, f"path {path} does not exist in the repository"
        return rel, None

    def _overlay(self, path: str, spec: Mapping[str, Any]) -> _Overlay | str:
        """The kustomization Flux would build at `path`, or an error: the directory's own
        kustomization file with the Kustomization's edits, or one generated as Flux does."""
        rel, error = self._directory(path)
        if error:
            return error
        directory = self.root / rel
        existing = kustomization_file(directory)
        if existing is None:
            resources, error = generated_resources(directory)
            if error:
                return error
            return _Overlay(
                rel, directory, None, None, flux_kustomization_overlay(None, resources, spec)
            )
        original = existing.read_text(encoding="utf-8")
        try:
            base = yamlio.load(original)
        except yaml.YAMLError as err:
            return f"{rel}/{existing.name}: {_one_line(str(err))}"
        if not isinstance(base, Mapping):
            return f"{rel}/{existing.name}: not a kustomization"
        return _Overlay(
            rel, directory, existing, original, flux_kustomization_overlay(base, None, spec)
        )

    def build(self, path: str, spec: Mapping[str, Any]) -> BuildResult:
        raise NotImplementedError


@dataclass
class _Overlay:
    """A directory to build and the kustomization to build it with."""

    rel: str
    directory: Path
    existing: Path | None  # the directory's own kustomization file, if it has one
    original: str | None  # that file's text, to restore after a build that rewrote it
    kustomization: dict[str, Any]


class KubectlBuilder(_Builder):
    """`kubectl kustomize` on a scratch copy of the repository (the copy takes the Flux edits)."""

    def __init__(self, root: Path, kubectl: str, scratch: Path) -> None:
        super().__init__(scratch / "repo")
        shutil.copytree(root, self.root, symlinks=True)
        self.kubectl = kubectl

    def build(self, path: str, spec: Mapping[str, Any]) -> BuildResult:
        overlay = self._overlay(path, spec)
        if isinstance(overlay, str):
            return BuildResult(error=overlay)
        rel, directory, original = overlay.rel, overlay.directory, overlay.original
        target = overlay.existing or directory / "kustomization.yaml"
        kus = overlay.kustomization
        metadata = list(kus.get("buildMetadata") or [])
        if "originAnnotations" not in metadata:
            metadata.append("originAnnotations")
        kus["buildMetadata"] = metadata
        target.write_text(yamlio.dump(kus), encoding="utf-8")
        try:
            done = subprocess.run(
                [self.kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", "."],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            if original is None:
                target.unlink()
            else:
                target.write_text(original, encoding="utf-8")
        if done.returncode != 0:
            message = _kubectl_error(done.stderr).replace(str(self.root) + "/", "")
            return BuildResult(error=f"kustomize build failed: {message or 'no reason given'}")
        try:
            docs = yamlio.load_all(done.stdout)
        except yaml.YAMLError as err:  # pragma: no cover - kustomize writes valid YAML
            return BuildResult(error=f"kustomize build output is not YAML: {err}")
        objects = []
        for doc in docs:
            if isinstance(doc, dict):
                objects.append(SourcedObject(doc, self._origin(doc, rel, target.name)))
        return BuildResult(objects=objects)

    @staticmethod
    def _origin(doc: dict[str, Any], rel: str, kfile: str) -> str:
        meta = doc.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        origin = annotations.pop(ORIGIN_ANNOTATION, None)
        if not annotations and "annotations" in meta:
            del meta["annotations"]
        path = None
        if isinstance(origin, str):
            try:
                loaded = yaml.safe_load(origin)
            except yaml.YAMLError:
                loaded = None
            if isinstance(loaded, Mapping) and isinstance(loaded.get("path"), str):
                path = loaded["path"]
        if path is None:  # generated (configMapGenerator...) or remote: the kustomization
            return posixpath.normpath(posixpath.join(rel, kfile))
        return posixpath.normpath(posixpath.join(rel, path))


class PythonBuilder(_Builder):
    """Follows `resources:` (files and directories) and `namespace:`; nothing else of kustomize."""

    def build(self, path: str, spec: Mapping[str, Any]) -> BuildResult:
        overlay = self._overlay(path, spec)
        if isinstance(overlay, str):
            return BuildResult(error=overlay)
        result = BuildResult()
        try:
            result.objects = self._accumulate(overlay.directory, overlay.kustomization, set())
        except _BuildError as err:
            result.error = f"kustomize build failed: {err}"
        return result

    def _accumulate(
        self, directory: Path, kus: Mapping[str, Any], seen: set[Path]
    ) -> list[SourcedObject]:
        if directory in seen:
            raise _BuildError(f"cycle through {self._rel(directory)}")
        seen = seen | {directory}
        out: list[SourcedObject] = []
        for entry in kus.get("resources") or []:
            if not isinstance(entry, str) or "://" in entry or entry.startswith("git@"):
                continue  # remote bases are not followed offline
            target = (directory / entry).resolve()
            if target.is_dir():
                kfile = kustomization_file(target)
                if kfile is None:
                    raise _BuildError(f"{self._rel(target)}: no kustomization file")
                sub = yamlio.load(kfile.read_text(encoding="utf-8")) or {}
                out.extend(self._accumulate(target, sub, seen))
            elif target.is_file():
                rel = self._rel(target)
                for doc in yamlio.load_all(target.read_text(encoding="utf-8")):
                    if isinstance(doc, dict):
                        out.append(SourcedObject(doc, rel))
            else:
                raise _BuildError(f"{self._rel(directory)}: resource {entry} not found")
        namespace = kus.get("namespace")
        if isinstance(namespace, str):
            for o in out:
                if o.obj.get("kind") not in _CLUSTER_SCOPED:
                    o.obj.setdefault("metadata", {})["namespace"] = namespace
        return out

    def _rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)


class _BuildError(Exception):
    pass


def make_builder(root: Path, scratch: Path) -> tuple[_Builder, bool]:
    """The best builder available, and whether it is the real kustomize."""
    kubectl = find_kubectl()
    if kubectl is None:
        return PythonBuilder(root), False
    return KubectlBuilder(root, kubectl, scratch), True


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="fluxboot-")
