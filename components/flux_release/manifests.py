"""Where the Flux install manifest of a release comes from.

Order of lookup for `flux.version` (first hit wins):
1. `flux.manifestsPath` from the stack config (air-gapped clusters), relative to the project;
   nothing else is tried when it is set, and nothing is downloaded;
2. a local mirror directory laid out as `<dir>/<version>/gotk-components.yaml` or
   `<dir>/<version>/install.yaml` (`--manifests-dir` or the `FLUXBOOT_MANIFESTS_DIR` environment
   variable);
3. the user cache, `$XDG_CACHE_HOME/flux-gitops/flux/<version>/install.yaml`;
4. a download of the release's published install manifest,
   `https://github.com/fluxcd/flux2/releases/download/<version>/install.yaml`
   (or the `FLUXBOOT_MANIFESTS_URL` template, for a mirror), stored atomically in the cache.

When `flux.manifestsSha256` is set, the text must have that digest, wherever it came from; a
download that does not match is rejected before anything is written to the cache.

Parsing the YAML is most of what one stack's render costs in a fresh process (a `pulumi
preview` in CI): ~35 ms for the 270 KB of a release, where JSON of the same objects loads in
~2 ms. So the parsed objects are kept as JSON named by the text's sha256
(the parsed entries of `components.common.derived`), and read back instead of the YAML when they
are there.

What the two kinds of file contain (fluxcd/flux2 `.github/workflows/release.yaml`,
`pkg/manifestgen/install`): the release asset `install.yaml` is `kustomize build
manifests/install`, i.e. every controller (the image controllers and source-watcher included),
the network policies and RBAC, without `flux install`'s customisation: RBAC names have no
`-flux-system` suffix, there is no `app.kubernetes.io/version` label, no `nodeSelector`, and the
controllers' `--events-addr` names the namespace literally. A `gotk-components.yaml` is
`flux install --export` output, where all of that is applied. Either form is accepted here;
`components.flux_release.install_objects` turns both into what `flux install` would produce.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.common import derived, yamlio
from components.common.errors import ManifestError, quote
from components.common.textfiles import UnreadableFileError, read_text
from components.config.model import FluxSettings

MIRROR_ENV = "FLUXBOOT_MANIFESTS_DIR"
URL_ENV = "FLUXBOOT_MANIFESTS_URL"
# The release asset every fluxcd/flux2 release publishes (with its digest in the release's
# `flux_<version>_checksums.txt`, so `flux.manifestsSha256` can be taken from there).
DEFAULT_URL_TEMPLATE = "https://github.com/fluxcd/flux2/releases/download/{version}/install.yaml"
DOWNLOAD_TIMEOUT = 60.0  # seconds, per connect/read; the asset is about 1 MB
MAX_MANIFEST_BYTES = 32 * 1024 * 1024
_VERSION_KEY = "flux-gitops:flux.version"
_SHA_KEY = "flux-gitops:flux.manifestsSha256"


@dataclass(frozen=True)
class InstallManifest:
    """The install manifest text of one Flux release, and where it was found."""

    version: str
    text: str
    origin: str

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @functools.cached_property
    def documents(self) -> list[dict[str, Any]]:
        """The parsed objects (parsed once per manifest text, however often they are asked
        for, and read from the parsed cache when it has them; see the module docstring)."""
        return _documents(self.text, self.origin, self.sha256)


@functools.lru_cache(maxsize=16)
def _documents(text: str, origin: str, sha256: str) -> list[dict[str, Any]]:
    use_cache = derived.enabled()
    if use_cache:
        docs = _read_parsed(sha256)
        if docs is not None:
            return docs
    docs = _parse(text, origin)
    if use_cache:
        _write_parsed(sha256, docs)
    return docs


def _parse(text: str, origin: str) -> list[dict[str, Any]]:
    try:
        docs = yamlio.load_all_fast(text)  # ~1 MB of YAML: libyaml parses it ~9x faster
    except Exception as err:
        raise ManifestError(
            f"{origin}: not a YAML install manifest: {yamlio.one_line(err)}"
        ) from None
    if not docs or not all(isinstance(d, dict) and "kind" in d for d in docs):
        raise ManifestError(f"{origin}: not a Kubernetes install manifest")
    return docs


def cache_dir() -> Path:
    return derived.base() / "flux"


def parsed_cache_file(sha256: str) -> Path:
    """Where the parsed objects of the manifest text with this digest are kept."""
    return derived.entry("parsed", f"{sha256}.json")


def _read_parsed(sha256: str) -> list[dict[str, Any]] | None:
    """The cached objects of the text with this digest, or None when there is no whole entry."""
    text = derived.get_text(parsed_cache_file(sha256))
    try:
        entry = json.loads(text) if text is not None else None
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    docs = entry.get("documents")
    if entry.get("sha256") != sha256 or not isinstance(docs, list) or not docs:
        return None
    if not all(isinstance(d, dict) and "kind" in d for d in docs):
        return None
    return docs


def _write_parsed(sha256: str, docs: list[dict[str, Any]]) -> None:
    """Keep `docs` in the parsed cache, when JSON holds them exactly (it does for every
    manifest Flux publishes)."""
    if not derived.json_exact(docs):
        return
    entry = {"sha256": sha256, "documents": docs}
    try:
        text = json.dumps(entry, allow_nan=False)
    except ValueError:  # NaN or infinity: JSON has no such numbers
        return
    derived.put_text(parsed_cache_file(sha256), text)


def manifests_url(version: str, url_template: str | None = None) -> str:
    """The URL the install manifest of `version` is downloaded from.

    `url_template` (else `$FLUXBOOT_MANIFESTS_URL`, else the GitHub release asset) must contain
    `{version}`, like `https://mirror.example.com/flux2/{version}/install.yaml`.
    """
    template = url_template or os.environ.get(URL_ENV) or DEFAULT_URL_TEMPLATE
    if "{version}" not in template:
        raise ManifestError(
            f"{URL_ENV}: {quote(template)} has no {{version}} placeholder; write it like "
            "https://mirror.example.com/flux2/{version}/install.yaml"
        )
    return template.replace("{version}", version)


def _candidates(
    flux: FluxSettings, project_dir: Path, mirror_dir: Path | None
) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    # A mirror that was named but is not there is an error, never skipped: falling through to
    # the cache or a download would hide the mistake behind a download failure.
    if mirror_dir is not None and not mirror_dir.is_dir():
        raise ManifestError(
            f"--manifests-dir {mirror_dir}: no such directory (a mirror of install manifests, "
            "laid out <dir>/<version>/gotk-components.yaml)"
        )
    from_env = os.environ.get(MIRROR_ENV)
    if mirror_dir is None and from_env and not Path(from_env).is_dir():
        raise ManifestError(
            f"{MIRROR_ENV}={from_env}: no such directory (a mirror of install manifests, "
            "laid out <dir>/<version>/gotk-components.yaml)"
        )
    if flux.manifests_path:
        found.append((project_dir / flux.manifests_path, "flux-gitops:flux.manifestsPath"))
        return found
    mirror = mirror_dir or (Path(from_env) if from_env else None)
    if mirror is not None:
        # either form: `flux install --export` output, or the release asset
        found.append((mirror / flux.version / "gotk-components.yaml", "manifests mirror"))
        found.append((mirror / flux.version / "install.yaml", "manifests mirror"))
    found.append((_cache_file(flux.version), "cache"))
    return found


def _key_of(what: str) -> str:
    """The config key a candidate comes from, as a message prefix ("" for the mirror)."""
    return f"{what}: " if what.startswith("flux-gitops:") else ""


def _cache_file(version: str) -> Path:
    return cache_dir() / version / "install.yaml"


def load_install_manifest(
    flux: FluxSettings,
    project_dir: Path,
    mirror_dir: Path | None = None,
    *,
    download: bool = True,
    url_template: str | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> InstallManifest:
    """The install manifest of `flux.version`, verified against `flux.manifestsSha256` if pinned.

    Local files first (see the module docstring); then, unless `download` is false or
    `flux.manifestsPath` is set, the release asset is downloaded into the cache.
    """
    tried = []
    for path, what in _candidates(flux, project_dir, mirror_dir):
        tried.append(f"{path} ({what})")
        if not path.is_file():
            if what.startswith("flux-gitops:"):
                raise ManifestError(f"{what}: {path} does not exist or is not a file")
            continue
        try:
            text = read_text(path, str(path), MAX_MANIFEST_BYTES)
        except UnreadableFileError as err:
            if what == "cache":
                continue  # a damaged cache entry: fetch it again
            raise ManifestError(f"{_key_of(what)}{err}") from None
        manifest = InstallManifest(flux.version, text, str(path))
        if flux.manifests_sha256 and manifest.sha256 != flux.manifests_sha256:
            if what == "cache":
                # A cache entry written before the pin (or damaged): fetch it again.
                continue
            raise ManifestError(
                f"{_SHA_KEY}: {path} has sha256 {manifest.sha256}, "
                f"not the pinned {flux.manifests_sha256}"
            )
        return manifest
    if download:
        try:
            return download_install_manifest(flux, url_template=url_template, timeout=timeout)
        except ManifestError as err:
            # say where it was looked for first, so a mirror without this version is no mystery
            raise ManifestError(f"{err} (looked first in: {'; '.join(tried)})") from None
    raise ManifestError(
        f"the install manifest of Flux {flux.version} is not available; looked in: "
        + "; ".join(tried)
    )


def download_install_manifest(
    flux: FluxSettings, *, url_template: str | None = None, timeout: float = DOWNLOAD_TIMEOUT
) -> InstallManifest:
    """Download the install manifest of `flux.version`, verify it, and store it in the cache.

    Nothing is written unless the download is complete, parses as an install manifest and
    matches `flux.manifestsSha256` (when pinned). The cache file is replaced atomically, so a
    concurrent `pulumi preview` never reads half a file.
    """
    import urllib.error  # here: http.client and ssl cost every render ~10 ms to import
    import urllib.request

    url = manifests_url(flux.version, url_template)
    air_gapped = "set flux-gitops:flux.manifestsPath to a local copy for air-gapped use"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: bytes = response.read(MAX_MANIFEST_BYTES + 1)
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise ManifestError(
                f"{_VERSION_KEY}: {flux.version} has no published install manifest "
                f"({url} answered 404); is it a Flux release? See "
                "https://github.com/fluxcd/flux2/releases"
            ) from None
        raise ManifestError(
            f"{_VERSION_KEY}: downloading the install manifest of {flux.version} from {url} "
            f"failed: HTTP {err.code} {err.reason}"
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as err:
        # ValueError: http.client.InvalidURL, for a FLUXBOOT_MANIFESTS_URL that is no URL
        reason = getattr(err, "reason", err)
        raise ManifestError(
            f"{_VERSION_KEY}: cannot download the install manifest of {flux.version} from "
            f"{url}: {reason}; check the network or {URL_ENV}, or {air_gapped}"
        ) from None
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{_VERSION_KEY}: {url} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{_VERSION_KEY}: {url} is not UTF-8 text") from None
    manifest = InstallManifest(flux.version, text, url)
    if flux.manifests_sha256 and manifest.sha256 != flux.manifests_sha256:
        raise ManifestError(
            f"{_SHA_KEY}: {url} has sha256 {manifest.sha256}, not the pinned "
            f"{flux.manifests_sha256}; nothing was stored"
        )
    try:
        manifest.documents  # noqa: B018 - parse now: an HTML error page must not be cached
    except ManifestError as err:
        raise ManifestError(f"{_VERSION_KEY}: {err}; nothing was stored") from None
    derived.store(_cache_file(flux.version), text)
    return manifest
