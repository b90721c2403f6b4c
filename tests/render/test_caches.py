"""The per-process caches behind fleet rendering (bench/run.py) give what the uncached code gives.

No timings here: only that a cache hit is the same text, that different inputs do not collide,
that what callers get cannot change what the next caller gets, and that problems found in a
cached file are still reported, under each file's own path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.common import derived, yamlio
from components.common.errors import ValidationError
from components.common.repofiles import RepoFile, RepoFiles
from components.config.model import GitSettings
from components.flux_release import bootstrap, crds
from components.flux_release.bootstrap import components_text, render_flux_system
from components.flux_release.install_objects import header, install_objects
from components.flux_release.manifests import InstallManifest
from components.render import pipeline
from components.render.pipeline import render_stack, validate_files
from components.render.renderers import render_sources
from tests.conftest import PROJECT_DIR
from tests.flux_testdata import manifest, manifests_dir, settings

GIT = GitSettings.model_validate({"url": "ssh://git@example.com/fleet.git"})


def test_gotk_components_cache_hit_is_the_uncached_text() -> None:
    m, flux = manifest(), settings()
    uncached = header(flux) + yamlio.dump_all_flux(install_objects(m, flux))
    assert components_text(flux, m) == uncached
    again = InstallManifest(m.version, m.text, "elsewhere")  # same bytes, other origin
    assert components_text(flux, again) is components_text(flux, m)
    (first, *_) = render_flux_system("a", flux, GIT, m)
    (second, *_) = render_flux_system("b", flux, GIT, again)
    assert first.content == second.content == uncached


def test_gotk_components_cache_keys_on_the_flux_settings_and_the_manifest() -> None:
    m = manifest()
    plain = components_text(settings(), m)
    tolerant = components_text(settings(tolerationKeys=["infra"]), m)
    assert tolerant != plain and "key: infra" in tolerant
    other = manifest("v2.8.8")
    assert components_text(settings("v2.8.8"), other) != plain
    # the objects handed out by install_objects are the caller's to change
    install_objects(m, settings())[0]["metadata"]["name"] = "changed"
    assert components_text(settings(), m) == plain


def test_sources_are_the_callers_to_change(project: Path) -> None:
    rendered = render_stack(project, "k8s-01", manifests_dir())
    files = render_sources(rendered.config)
    files.append(RepoFile("x.yaml", "", "fleet"))
    files.clear()
    again = render_sources(rendered.config)
    assert {f.path for f in again} == {
        p for p in rendered.files if p.startswith("core-apps/sources/")
    }
    assert all(rendered.files[f.path] == f for f in again)


def test_validation_of_a_cached_text_still_fails_under_each_path() -> None:
    schemas = crds.for_manifest(manifest())
    bad = (
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
        "metadata: {name: x, namespace: flux-system}\nspec: {interval: soon, url: https://x}\n"
    )
    for path in ("a.yaml", "b/c.yaml", "a.yaml"):
        with pytest.raises(ValidationError) as err:
            validate_files(RepoFiles([RepoFile(path, bad, "managed")]), schemas, "v2.9.4")
        assert str(err.value).startswith(f"{path}: HelmRepository flux-system/x: spec.interval")
    with pytest.raises(ValidationError, match="not valid YAML"):  # (text from the template)
        validate_files(RepoFiles([RepoFile("y.yaml", "a: [\n", "scaffold")]), schemas, "v")
    # the same text against another release's schemas is checked again, not taken from the cache
    assert crds.for_manifest(manifest("v2.8.8")) is not schemas


def test_fast_strict_loader_is_the_strict_loader() -> None:
    text = manifest().text
    assert yamlio.load_all_fast(text) == yamlio.load_all(text)
    with pytest.raises(Exception, match="duplicate key 'a'"):
        yamlio.load_all_fast("a: 1\na: 2\n")


def test_fleet_render_is_byte_identical_to_the_golden_files() -> None:
    for stack in ("k8s-01", "k8s-02", "k8s-01"):  # the second k8s-01 comes from warm caches
        files = render_stack(PROJECT_DIR, stack, manifests_dir()).files
        golden = PROJECT_DIR / "tests" / "golden" / stack
        for path, f in files.items():
            assert f.content == (golden / path).read_text(), path


# -------------------------------------------- the on-disk cache (components.common.derived)


@pytest.fixture
def disk_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty cache directory, and no gotk-components.yaml kept in this process."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(derived.CACHE_ENV, raising=False)
    bootstrap._components_cache.clear()
    return derived.entry("rendered", "x").parent


def _dumps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the install serialisations from now on."""
    calls: list[int] = []
    real = yamlio.dump_all_flux

    def counting(objs: list[Any]) -> str:
        calls.append(len(objs))
        return real(objs)

    monkeypatch.setattr(yamlio, "dump_all_flux", counting)
    return calls


def test_a_fresh_process_reads_gotk_components_back_instead_of_serialising_it(
    disk_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m, flux = manifest(), settings()
    uncached = header(flux) + yamlio.dump_all_flux(install_objects(m, flux))
    assert components_text(flux, m) == uncached
    assert len(list(disk_cache.iterdir())) == 1
    calls = _dumps(monkeypatch)
    monkeypatch.setattr(bootstrap, "install_objects", lambda *a: pytest.fail("customised"))
    bootstrap._components_cache.clear()  # as in a new process
    assert components_text(flux, m) == uncached
    assert calls == []
    monkeypatch.setattr(bootstrap, "install_objects", install_objects)
    # other settings: another entry
    components_text(settings(tolerationKeys=["infra"]), m)
    assert len(calls) == 1 and len(list(disk_cache.iterdir())) == 2


def test_new_code_does_not_read_what_the_old_code_wrote(
    disk_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m, flux = manifest(), settings()
    components_text(flux, m)
    calls = _dumps(monkeypatch)
    monkeypatch.setattr(derived, "code_fingerprint", lambda: "another version of the code")
    bootstrap._components_cache.clear()
    components_text(flux, m)
    assert len(calls) == 1
    assert len(list(disk_cache.parents[1].glob("*/rendered/*.yaml"))) == 2


def test_a_damaged_entry_is_serialised_again_and_replaced(
    disk_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m, flux = manifest(), settings()
    good = components_text(flux, m)
    (entry,) = disk_cache.iterdir()
    entry.write_bytes(entry.read_bytes().replace(b"replicas: 1", b"replicas: 9", 1))
    calls = _dumps(monkeypatch)
    bootstrap._components_cache.clear()
    assert components_text(flux, m) == good
    assert len(calls) == 1
    bootstrap._components_cache.clear()
    assert components_text(flux, m) == good
    assert len(calls) == 1  # the entry was written again, whole


def test_the_disk_cache_can_be_turned_off(
    disk_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(derived.CACHE_ENV, "off")
    calls = _dumps(monkeypatch)
    components_text(settings(), manifest())
    assert len(calls) == 1 and not disk_cache.exists()


_BAD_SOURCE = (
    "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
    "metadata: {name: x, namespace: flux-system}\nspec: {interval: soon, url: https://x}\n"
)
_GOOD_RELEASE = (
    "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
    "metadata: {name: x, namespace: flux-system}\n"
    "spec: {interval: 1m, chart: {spec: {chart: x, sourceRef: {kind: HelmRepository, name: x}}}}\n"
)


def _as_a_new_process() -> crds.CrdSchemas:
    """The release's schemas as a fresh process has them: nothing compiled, nothing checked."""
    crds._cache.clear()
    pipeline._validated.clear()
    return crds.for_manifest(manifest())


def _check(schemas: crds.CrdSchemas) -> str:
    files = RepoFiles([RepoFile("ok.yaml", _GOOD_RELEASE, "scaffold")])
    validate_files(files, schemas, "v2.9.4")
    files = RepoFiles([RepoFile("bad.yaml", _BAD_SOURCE, "managed")])
    with pytest.raises(ValidationError) as err:
        validate_files(files, schemas, "v2.9.4")
    return str(err.value)


def test_a_fresh_process_reads_verdicts_back_instead_of_compiling_the_schemas(
    disk_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _check(_as_a_new_process())
    assert "bad.yaml: HelmRepository flux-system/x: spec.interval" in first
    assert len(list((disk_cache.parent / "verdicts").iterdir())) == 2  # one per render

    def refuse(*args: Any) -> None:
        raise AssertionError("compiled although the verdict cache has the answer")

    monkeypatch.setattr(crds, "_compile_versions", refuse)
    assert _check(_as_a_new_process()) == first


def test_a_verdict_is_not_read_for_other_code_another_release_or_a_damaged_entry(
    disk_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _check(_as_a_new_process())
    verdicts = disk_cache.parent / "verdicts"
    for entry in verdicts.iterdir():
        entry.write_text(entry.read_text().replace('"problems": [', '"problems": ["forged", '))
    forged = verdicts / "forged.json"
    for entry in verdicts.iterdir():
        # an entry renamed to another key says whose it is, and is not believed either
        forged.write_bytes(entry.read_bytes())
    assert _check(_as_a_new_process()) == first  # the forged problems were not believed
    compiled: list[str] = []
    real = crds._compile_versions

    def counting(doc: Any, name: str, group: str, kind: str) -> Any:
        compiled.append(kind)
        return real(doc, name, group, kind)

    monkeypatch.setattr(crds, "_compile_versions", counting)
    monkeypatch.setattr(derived, "code_fingerprint", lambda: "another version of the code")
    assert _check(_as_a_new_process()) == first
    assert sorted(compiled) == ["HelmRelease", "HelmRepository"]
    # schemas not read from a release's manifest have no name for it: nothing is kept
    before = sorted(disk_cache.parents[1].rglob("*.json"))
    schemas = crds.CrdSchemas.from_documents(manifest().documents)
    pipeline._validated.clear()
    assert _check(schemas) == first
    assert sorted(disk_cache.parents[1].rglob("*.json")) == before
