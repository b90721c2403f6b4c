"""Finding, downloading, verifying and caching Flux install manifests.

Downloads are tested against a local HTTP server on 127.0.0.1 serving files made at test time
from the shared real manifests; nothing here reaches the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from components.common import derived
from components.common.errors import ManifestError
from components.flux_release import manifests
from components.flux_release.manifests import (
    DEFAULT_URL_TEMPLATE,
    URL_ENV,
    load_install_manifest,
    manifests_url,
)
from tests.flux_testdata import manifest_path, settings


class _Server:
    """A static file server that counts the requests it answers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                file = server.root / self.path.lstrip("/")
                if not file.is_file():
                    self.send_error(404)
                    return
                body = file.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.template = f"http://127.0.0.1:{self.httpd.server_port}/{{version}}/install.yaml"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(manifests.MIRROR_ENV, raising=False)
    monkeypatch.delenv(URL_ENV, raising=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "www"
    (root / "v2.9.4").mkdir(parents=True)
    (root / "v2.9.4" / "install.yaml").write_bytes(manifest_path("v2.9.4").read_bytes())
    (root / "v2.1.0").mkdir()
    (root / "v2.1.0" / "install.yaml").write_text("<html>not found</html>\n")
    srv = _Server(root)
    yield srv
    srv.close()


def _cache_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_file())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------- URL pattern


def test_default_url_is_the_release_asset() -> None:
    assert manifests_url("v2.9.4") == (
        "https://github.com/fluxcd/flux2/releases/download/v2.9.4/install.yaml"
    )
    assert DEFAULT_URL_TEMPLATE.count("{version}") == 1


def test_url_template_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_ENV, "https://mirror.example.com/flux/{version}/install.yaml")
    assert manifests_url("v2.8.8") == "https://mirror.example.com/flux/v2.8.8/install.yaml"


def test_url_template_without_placeholder_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_ENV, "https://mirror.example.com/install.yaml")
    with pytest.raises(ManifestError, match=r"FLUXBOOT_MANIFESTS_URL.*\{version\}"):
        manifests_url("v2.9.4")


# --------------------------------------------------------------------------------- downloads


def test_download_stores_in_cache_and_second_call_hits_cache(
    server: _Server, tmp_path: Path
) -> None:
    flux = settings("v2.9.4")
    first = load_install_manifest(flux, tmp_path, url_template=server.template)
    assert first.text == manifest_path("v2.9.4").read_text()
    assert first.origin == server.template.format(version="v2.9.4")
    assert server.requests == ["/v2.9.4/install.yaml"]
    cached = tmp_path / "cache" / "flux-gitops" / "flux" / "v2.9.4" / "install.yaml"
    # no temporary file left behind; the objects parsed to check the download are kept too
    assert _cache_files(tmp_path) == sorted([cached, manifests.parsed_cache_file(first.sha256)])

    second = load_install_manifest(flux, tmp_path, url_template=server.template)
    assert server.requests == ["/v2.9.4/install.yaml"], "the cache must answer the second call"
    assert second.text == first.text
    assert second.origin == str(cached)


def test_download_uses_environment_template(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, server.template)
    load_install_manifest(settings("v2.9.4"), tmp_path)
    assert server.requests == ["/v2.9.4/install.yaml"]


def test_pinned_digest_that_matches_is_accepted(server: _Server, tmp_path: Path) -> None:
    flux = settings("v2.9.4", manifestsSha256=_sha(manifest_path("v2.9.4")))
    assert (
        load_install_manifest(flux, tmp_path, url_template=server.template).sha256
        == flux.manifests_sha256
    )


def test_unknown_version_is_a_clear_error(server: _Server, tmp_path: Path) -> None:
    flux = settings("v2.9.4", version="v2.99.0")
    with pytest.raises(ManifestError, match=r"^flux-gitops:flux\.version: v2\.99\.0 .*404"):
        load_install_manifest(flux, tmp_path, url_template=server.template)
    assert _cache_files(tmp_path) == []


def test_checksum_mismatch_writes_nothing(server: _Server, tmp_path: Path) -> None:
    flux = settings("v2.9.4", manifestsSha256="0" * 64)
    with pytest.raises(
        ManifestError, match=r"^flux-gitops:flux\.manifestsSha256: .*not the pinned 0{64}"
    ):
        load_install_manifest(flux, tmp_path, url_template=server.template)
    assert _cache_files(tmp_path) == []


def test_not_a_manifest_is_not_cached(server: _Server, tmp_path: Path) -> None:
    flux = settings("v2.9.4", version="v2.1.0")
    with pytest.raises(
        ManifestError, match=r"^flux-gitops:flux\.version: .*not a Kubernetes install manifest"
    ):
        load_install_manifest(flux, tmp_path, url_template=server.template)
    assert _cache_files(tmp_path) == []


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    template = f"http://127.0.0.1:{port}/{{version}}/install.yaml"
    with pytest.raises(
        ManifestError, match=r"^flux-gitops:flux\.version: cannot download .*manifestsPath"
    ):
        load_install_manifest(settings("v2.9.4"), tmp_path, url_template=template, timeout=5)
    assert _cache_files(tmp_path) == []


def test_cache_entry_not_matching_a_new_pin_is_fetched_again(
    server: _Server, tmp_path: Path
) -> None:
    cached = tmp_path / "cache" / "flux-gitops" / "flux" / "v2.9.4" / "install.yaml"
    cached.parent.mkdir(parents=True)
    cached.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: stale\n")
    flux = settings("v2.9.4", manifestsSha256=_sha(manifest_path("v2.9.4")))
    got = load_install_manifest(flux, tmp_path, url_template=server.template)
    assert server.requests == ["/v2.9.4/install.yaml"]
    assert got.sha256 == flux.manifests_sha256
    assert _sha(cached) == flux.manifests_sha256


def test_no_download_when_disabled(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"not available; looked in: .*cache"):
        load_install_manifest(settings("v2.9.4"), tmp_path, download=False)


# ---------------------------------------------------------------------------- local lookups


def test_manifests_path_is_relative_to_project_and_never_downloads(
    server: _Server, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "flux").mkdir(parents=True)
    (project / "flux" / "gotk.yaml").write_bytes(manifest_path("v2.9.4").read_bytes())
    got = load_install_manifest(
        settings("v2.9.4", manifestsPath="flux/gotk.yaml"), project, url_template=server.template
    )
    assert got.origin == str(project / "flux" / "gotk.yaml")
    with pytest.raises(ManifestError, match=r"^flux-gitops:flux\.manifestsPath: .*missing\.yaml"):
        load_install_manifest(
            settings("v2.9.4", manifestsPath="missing.yaml"), project, url_template=server.template
        )
    assert server.requests == []


def test_manifests_path_checked_against_pin(tmp_path: Path) -> None:
    path = manifest_path("v2.9.4")
    with pytest.raises(ManifestError, match=r"^flux-gitops:flux\.manifestsSha256: "):
        load_install_manifest(
            settings("v2.9.4", manifestsPath=str(path), manifestsSha256="1" * 64), tmp_path
        )


def test_mirror_directory_comes_before_cache_and_download(server: _Server, tmp_path: Path) -> None:
    mirror = manifest_path("v2.9.4").parents[1]
    got = load_install_manifest(settings("v2.9.4"), tmp_path, mirror, url_template=server.template)
    assert got.origin == str(mirror / "v2.9.4" / "gotk-components.yaml")
    assert server.requests == []


# ------------------------------------------------------------------------- the parsed cache


def _fresh(text: str, origin: str = "test") -> manifests.InstallManifest:
    """The manifest as a new process would see it: nothing parsed in this one yet."""
    manifests._documents.cache_clear()
    return manifests.InstallManifest("v2.9.4", text, origin)


def _no_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str, origin: str) -> None:
        raise AssertionError("the YAML was parsed although the parsed cache has it")

    monkeypatch.setattr(manifests, "_parse", refuse)


def test_parsed_objects_are_read_back_from_the_cache_instead_of_the_yaml(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = manifest_path("v2.9.4").read_text()
    first = _fresh(text)
    parsed = first.documents
    entry = manifests.parsed_cache_file(first.sha256)
    assert entry.is_file()
    _no_yaml(monkeypatch)
    again = _fresh(text, "elsewhere").documents
    # the same objects, key order included (gotk-components.yaml is written from them)
    assert again == parsed
    assert json.dumps(again) == json.dumps(parsed)


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # torn write
        lambda raw: raw.replace(b'"code": "', b'"code": "0', 1),  # made by other code
        lambda raw: b"[]",
        lambda raw: b'{"code": 1}',
    ],
    ids=["truncated", "other-code", "not-an-entry", "no-documents"],
)
def test_a_damaged_cache_entry_is_parsed_again_and_rewritten(
    damage: Callable[[bytes], bytes],
) -> None:
    text = manifest_path("v2.9.4").read_text()
    expected = _fresh(text).documents
    entry = manifests.parsed_cache_file(hashlib.sha256(text.encode()).hexdigest())
    entry.write_bytes(damage(entry.read_bytes()))
    assert _fresh(text).documents == expected
    assert json.loads(derived.get_text(entry) or "")["documents"] == expected


def test_an_entry_is_only_used_for_the_text_it_was_made_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = manifest_path("v2.9.4").read_text()
    sha = hashlib.sha256(text.encode()).hexdigest()
    _fresh(text).documents  # noqa: B018
    entry = manifests.parsed_cache_file(sha)
    # an entry copied under another text's name says whose it is, and is not believed
    other = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n"
    other_sha = hashlib.sha256(other.encode()).hexdigest()
    manifests.parsed_cache_file(other_sha).write_bytes(entry.read_bytes())
    assert [d["kind"] for d in _fresh(other).documents] == ["Namespace"]


def test_the_parsed_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(derived.CACHE_ENV, "off")
    text = manifest_path("v2.9.4").read_text()
    manifest = _fresh(text)
    assert manifest.documents
    assert not manifests.parsed_cache_file(manifest.sha256).exists()


def test_objects_json_would_not_give_back_are_not_cached() -> None:
    # a timestamp and an integer key: JSON would turn them into strings
    for text in (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  at: 2026-11-26\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  1: one\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: .nan\n",
    ):
        manifest = _fresh(text)
        assert manifest.documents
        assert not manifests.parsed_cache_file(manifest.sha256).exists(), text


def test_a_cache_that_cannot_be_written_only_costs_the_parse(tmp_path: Path) -> None:
    parsed = manifests.parsed_cache_file("x").parent
    parsed.parent.mkdir(parents=True)
    parsed.write_text("a file where a directory goes")
    text = manifest_path("v2.9.4").read_text()
    assert _fresh(text).documents == _fresh(text).documents
