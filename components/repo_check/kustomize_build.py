"""Build a Flux Kustomization's `path` the way kustomize-controller does, and say where each object came from.

kustomize-controller builds `spec.path` of the source artifact with kustomize (load restrictions
off, plugins off). When the directory has no kustomization file it generates one first: every
`.yaml`/`.yml` file of the directory tree, recursively, except that a sub-directory holding its
own kustomization file is added as one resource and not descended into; a YAML file that is not
Kubernetes YAML fails the build. Then it writes the Kustomization's `targetNamespace`, `patches`
and `images` into that (existing or generated) kustomization before building
(https://fluxcd.io/flux/components/kustomize/kustomizations/#generating-a-kustomizationyaml-file).

Both builders are confined to the repository as kustomize-controller is (fluxcd/pkg
`kustomize/filesys` `MakeFsOnDiskSecure`): load restrictions are off, so a kustomization may
name any file of the repository, but every path it reaches, symlinks followed, must lie in or
below the repository root. A resource `../../etc/passwd`, or a symlink to `/etc/shadow`, is a
build error naming it, and is never read.

Two builders share that preparation:
- `KubectlBuilder` runs `kubectl kustomize` (kustomize v4+), the real thing, on a scratch copy of
  the repository, with `buildMetadata: [originAnnotations]` added so every object names its file;
  the copy holds no symlink that leaves the repository, and every path a kustomization names is
  checked before kubectl runs;
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

from components.common import yamlio
from components.common.textfiles import UnreadableFileError, read_text

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


# A manifest in a GitOps repository is a few KB; a file beyond this is no manifest.
MAX_REPO_FILE_BYTES = 16 * 1024 * 1024


class RepoFileError(Exception):
    """A repository file that cannot be used: outside the repository, unreadable, not UTF-8."""


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, every symlink followed, is the repository root or below it."""
    real = os.path.realpath(path)
    base = os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def read_repo_text(root: Path, path: Path) -> str:
    """The text of a repository file, read only when it lies inside the repository."""
    rel = _rel_to(root, path)
    if not inside(root, path):
        raise RepoFileError(f"{rel}: is not in or below the repository (a symlink out of it?)")
    try:
        return read_text(path, rel, MAX_REPO_FILE_BYTES)
    except UnreadableFileError as err:
        raise RepoFileError(str(err)) from None


def _rel_to(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file() or candidate.is_symlink():
            return candidate
    return None


def generated_resources(directory: Path, root: Path | None = None) -> tuple[list[str], str | None]:
    """The resources of the kustomization Flux generates for `directory`, or an error.

    `root` is the repository: a file or directory reached through a symlink out of it is an
    error (it defaults to `directory`)."""
    root = root or directory
    resources: list[str] = []
    for current, dirs, files in os.walk(directory):
        dirs.sort()
        here = Path(current)
        keep = []
        for name in [*dirs, *files]:
            if not inside(root, here / name):  # Flux's walk refuses it, whatever its name
                rel = (here / name).relative_to(directory).as_posix()
                return [], f"{rel}: is not in or below the repository (a symlink out of it?)"
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
                docs = yamlio.load_all(read_repo_text(root, path))
            except RepoFileError as err:
                return [], f"failed to read {rel}: {str(err).partition(': ')[2]}"
            except yaml.YAMLError as err:
                return [], f"failed to decode Kubernetes YAML from {rel}: {yamlio.one_line(err)}"
            for doc in docs:
                if not isinstance(doc, Mapping) or not doc.get("kind"):
                    return [], f"failed to decode Kubernetes YAML from {rel}: missing kind"
            resources.append(rel)
    # os.walk lists a directory's files after deciding on its sub-directories; kustomize walks
    # in lexical order, which only changes the order of the output
    return sorted(resources), None


# Fields of a kustomization that name files or directories (kustomize v5 `types.Kustomization`).
_PATH_LISTS = (
    "resources",
    "components",
    "bases",
    "crds",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "patchesStrategicMerge",
)
_PATH_ENTRIES = ("patches", "patchesJson6902", "replacements")


def _named_paths(kus: Mapping[str, Any]) -> list[str]:
    """Every local path a kustomization names (inline patches and remote URLs are left out)."""
    found: list[str] = []
    for name in _PATH_LISTS:
        for entry in kus.get(name) or []:
            if isinstance(entry, str) and "\n" not in entry:  # with a newline: inline YAML
                found.append(entry)
    for name in _PATH_ENTRIES:
        for entry in kus.get(name) or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                found.append(entry["path"])
    for name in ("configMapGenerator", "secretGenerator"):
        for gen in kus.get(name) or []:
            if not isinstance(gen, Mapping):
                continue
            for item in [*(gen.get("files") or []), *(gen.get("envs") or []), gen.get("env")]:
                if isinstance(item, str):
                    found.append(item.rpartition("=")[2])  # `key=path` or `path`
    openapi = kus.get("openapi")
    if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
        found.append(openapi["path"])
    return found


def confinement_problem(root: Path, directory: Path, kus: Mapping[str, Any]) -> str | None:
    """The first path the kustomization at `directory` (or one it includes) names that is not in
    or below `root`, as Flux's secure filesystem refuses it; None when all are inside.

    Paths that do not exist are left to kustomize (a remote base, or its own "not found").
    """
    seen: set[str] = set()
    todo: list[tuple[Path, Mapping[str, Any]]] = [(directory, kus)]
    while todo:
        here, current = todo.pop()
        key = os.path.realpath(here)
        if key in seen:
            continue
        seen.add(key)
        for named in _named_paths(current):
            target = Path(os.path.normpath(here / named))
            if not (os.path.lexists(target) or os.path.lexists(os.path.realpath(target))):
                continue
            if not inside(root, target):
                return (
                    f"{_rel_to(root, here)}: {named} is not in or below the repository; Flux "
                    "builds with the repository as its root and refuses it"
                )
            sub = kustomization_file(target) if target.is_dir() else None
            if sub is not None:
                try:
                    loaded = yamlio.load(read_repo_text(root, sub))
                except (RepoFileError, yaml.YAMLError):
                    continue  # kustomize reports the file itself
                if isinstance(loaded, Mapping):
                    todo.append((target, loaded))
    return None


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
        if not inside(self.root, self.root / rel):
            return rel, f"path {path} is not in or below the repository (a symlink out of it?)"
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
            resources, error = generated_resources(directory, self.root)
            if error:
                return error
            return _Overlay(
                rel, directory, None, None, flux_kustomization_overlay(None, resources, spec)
            )
        try:
            original = read_repo_text(self.root, existing)
            base = yamlio.load(original)
        except RepoFileError as err:
            return str(err)
        except yaml.YAMLError as err:
            return f"{rel}/{existing.name}: {yamlio.one_line(err)}"
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
        _confined_copy(root, self.root)
        self.kubectl = kubectl

    def build(self, path: str, spec: Mapping[str, Any]) -> BuildResult:
        overlay = self._overlay(path, spec)
        if isinstance(overlay, str):
            return BuildResult(error=overlay)
        rel, directory, original = overlay.rel, overlay.directory, overlay.original
        target = overlay.existing or directory / "kustomization.yaml"
        kus = overlay.kustomization
        # kubectl runs without load restrictions, as kustomize-controller does; the confinement
        # its secure filesystem adds is checked here, before kubectl reads anything
        problem = confinement_problem(self.root, directory, kus)
        if problem:
            return BuildResult(error=f"kustomize build failed: {problem}")
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


def _confined_copy(source: Path, dest: Path) -> None:
    """Copy the repository for the builds, leaving out `.git` (not part of what Flux builds).

    A symlink inside the repository points at the same place in the copy. A symlink out of it
    points, in the copy, at a path beside the copy that does not exist: every check here still
    sees it leave the repository and names it, and kubectl, should it follow it, finds nothing.
    """
    nowhere = dest.parent / "outside-the-repository"
    count = 0
    for current, dirs, files in os.walk(source):
        here = Path(current)
        rel = here.relative_to(source)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        dirs[:] = sorted(d for d in dirs if not (rel == Path(".") and d == ".git"))
        for name in [*dirs, *files]:
            path = here / name
            if not path.is_symlink():
                if name in files:
                    shutil.copyfile(path, dest / rel / name)
                continue
            if name in dirs:
                dirs.remove(name)  # os.walk does not descend into it; the link stands for it
            link = dest / rel / name
            if inside(source, path):
                real = Path(os.path.realpath(path))
                target = dest / real.relative_to(os.path.realpath(source))
                link.symlink_to(os.path.relpath(target, link.parent))
            else:
                count += 1
                link.symlink_to(nowhere / str(count))


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
        real = Path(os.path.realpath(directory))
        if real in seen:
            raise _BuildError(f"cycle through {self._rel(directory)}")
        seen = seen | {real}
        out: list[SourcedObject] = []
        for entry in kus.get("resources") or []:
            if not isinstance(entry, str) or "://" in entry or entry.startswith("git@"):
                continue  # remote bases are not followed offline
            target = Path(os.path.normpath(directory / entry))
            if os.path.lexists(target) and not inside(self.root, target):
                raise _BuildError(
                    f"{self._rel(directory)}: {entry} is not in or below the repository; Flux "
                    "builds with the repository as its root and refuses it"
                )
            try:
                if target.is_dir():
                    kfile = kustomization_file(target)
                    if kfile is None:
                        raise _BuildError(f"{self._rel(target)}: no kustomization file")
                    sub = yamlio.load(read_repo_text(self.root, kfile)) or {}
                    if not isinstance(sub, Mapping):
                        raise _BuildError(f"{self._rel(kfile)}: not a kustomization")
                    out.extend(self._accumulate(target, sub, seen))
                elif target.is_file():
                    rel = self._rel(target)
                    for doc in yamlio.load_all(read_repo_text(self.root, target)):
                        if isinstance(doc, dict):
                            out.append(SourcedObject(doc, rel))
                else:
                    raise _BuildError(f"{self._rel(directory)}: resource {entry} not found")
            except RepoFileError as err:
                raise _BuildError(str(err)) from None
            except yaml.YAMLError as err:
                raise _BuildError(f"{self._rel(target)}: {yamlio.one_line(err)}") from None
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
