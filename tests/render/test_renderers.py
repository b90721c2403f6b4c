"""Renderers: golden trees of the real stacks, and what each config knob changes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from components.common import yamlio
from components.common.errors import ValidationError
from components.common.repofiles import RepoFile, RepoFiles
from components.config.model import RawConfig, StackConfig, build_stack_config
from components.config.stack_files import load_stack_config
from components.flux_release.crds import for_manifest
from components.flux_release.manifests import load_install_manifest
from components.render.pipeline import load_template, render_stack, validate_files
from components.render.renderers import render_repo_files
from components.render.templates import Template, TemplateError
from tests.conftest import GOLDEN_DIR, PROJECT_DIR
from tests.flux_testdata import manifests_dir

STACKS = ["k8s-01", "k8s-02"]


KNOWN_HOSTS = (
    "example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf"
)


def listing(files: RepoFiles) -> str:
    return "".join(f"{f.owner} {path} {f.guard_path}\n" for path, f in files.items())


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_tree_matches_golden(stack: str, manifests_dir: Path, update_golden: bool) -> None:
    files = render_stack(PROJECT_DIR, stack, manifests_dir).files
    golden = GOLDEN_DIR / stack
    if update_golden:
        shutil.rmtree(golden, ignore_errors=True)
        for path, f in files.items():
            (golden / path).parent.mkdir(parents=True, exist_ok=True)
            (golden / path).write_bytes(f.content.encode())
        (GOLDEN_DIR / f"{stack}.files").write_text(listing(files))
    expected = {
        p.relative_to(golden).as_posix(): p.read_bytes().decode()
        for p in sorted(golden.rglob("*"))
        if p.is_file()
    }
    assert sorted(expected) == sorted(files), (
        "file set differs from the golden (run pytest --update-golden)"
    )
    for path, f in files.items():
        assert f.content == expected[path], f"{path} differs from tests/golden/{stack}/{path}"
    assert listing(files) == (GOLDEN_DIR / f"{stack}.files").read_text()


def _config(overrides: dict[str, Any] | None = None, stack: str = "k8s-05") -> StackConfig:
    base: dict[str, Any] = {
        "git": {"url": "ssh://git@example.com/fleet.git", "knownHosts": KNOWN_HOSTS}
    }
    base.update(overrides or {})
    return build_stack_config(
        RawConfig(stack=stack, project={"fleet": base}, stack_values={}, secret=frozenset())
    )


def _render(cfg: StackConfig) -> RepoFiles:
    manifest = load_install_manifest(cfg.settings.flux, PROJECT_DIR, manifests_dir())
    return render_repo_files(cfg, load_template(PROJECT_DIR), manifest)


def _obj(files: RepoFiles, path: str) -> dict[str, Any]:
    (doc,) = yamlio.load_all(files[path].content)
    assert isinstance(doc, dict)
    return doc


def test_render_is_deterministic_lf_and_newline_terminated() -> None:
    cfg = load_stack_config(PROJECT_DIR, "k8s-01")
    first, second = _render(cfg), _render(cfg)
    assert list(first.items()) == list(second.items())
    assert list(first) == sorted(first)
    for path, f in first.items():
        assert "\r" not in f.content and f.content.endswith("\n"), path


def test_kustomizations_carry_config_and_cluster_name() -> None:
    files = _render(
        _config(
            {
                "kustomizations": {
                    "coreApps": {
                        "interval": "5m",
                        "retryInterval": "30s",
                        "timeout": "3m",
                        "wait": False,
                    },
                    "apps": {
                        "substitute": {"zone": "eu-1", "app_tier": "gold"},
                        "substituteFrom": [{"kind": "Secret", "name": "vars", "optional": True}],
                    },
                }
            }
        )
    )
    core = _obj(files, "clusters/k8s-05/core-apps.yaml")
    assert core["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert core["metadata"] == {"name": "core-apps", "namespace": "flux-system"}
    spec = core["spec"]
    assert (spec["interval"], spec["retryInterval"], spec["timeout"]) == ("5m", "30s", "3m")
    assert spec["path"] == "./core-apps/clusters/k8s-05"
    assert spec["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
    assert (spec["prune"], spec["wait"]) == (True, False)
    assert "dependsOn" not in spec
    assert spec["postBuild"] == {"substitute": {"cluster_name": "k8s-05"}}
    apps = _obj(files, "clusters/k8s-05/apps.yaml")["spec"]
    assert apps["path"] == "./apps/clusters/k8s-05"
    assert apps["dependsOn"] == [{"name": "core-apps"}]
    # cluster_name first, then the user's variables sorted
    assert list(apps["postBuild"]["substitute"].items()) == [
        ("cluster_name", "k8s-05"),
        ("app_tier", "gold"),
        ("zone", "eu-1"),
    ]
    assert apps["postBuild"]["substituteFrom"] == [
        {"kind": "Secret", "name": "vars", "optional": True}
    ]


def test_sources_https_oci_and_private() -> None:
    files = _render(
        _config(
            {
                "sources": [
                    {"name": "zeta", "url": "oci://ghcr.io/example/charts", "interval": "10m"},
                    {
                        "name": "alpha",
                        "url": "https://charts.example.com",
                        "secretRef": "alpha-auth",
                    },
                ]
            }
        )
    )
    assert files["core-apps/sources/zeta.yaml"].owner == "fleet"
    zeta = _obj(files, "core-apps/sources/zeta.yaml")
    assert zeta["apiVersion"] == "source.toolkit.fluxcd.io/v1" and zeta["kind"] == "HelmRepository"
    assert zeta["spec"] == {"interval": "10m", "type": "oci", "url": "oci://ghcr.io/example/charts"}
    alpha = _obj(files, "core-apps/sources/alpha.yaml")["spec"]
    assert alpha == {
        "interval": "1h",
        "url": "https://charts.example.com",
        "secretRef": {"name": "alpha-auth"},
    }
    kustomization = yamlio.load(files["core-apps/sources/kustomization.yaml"].content)
    assert kustomization["resources"] == ["alpha.yaml", "zeta.yaml"]
    assert not files["core-apps/sources/kustomization.yaml"].content.startswith("---")


def test_default_notifications_send_everything_to_slack_flux_without_a_token() -> None:
    files = _render(_config())
    provider = _obj(files, "clusters/k8s-05/notifications/provider-slack.yaml")
    assert provider["apiVersion"] == "notification.toolkit.fluxcd.io/v1beta3"
    assert provider["spec"] == {
        "type": "slack",
        "channel": "#flux",
        "secretRef": {"name": "slack-webhook"},
    }
    alert = _obj(files, "clusters/k8s-05/notifications/alert-flux.yaml")["spec"]
    assert alert["providerRef"] == {"name": "slack"}
    assert alert["eventSeverity"] == "info"
    # HelmChart too: a chart version that cannot be fetched is reported on it alone
    assert {(s["kind"], s["name"], s["namespace"]) for s in alert["eventSources"]} == {
        (k, "*", "flux-system")
        for k in ("Kustomization", "HelmRelease", "GitRepository", "HelmRepository", "HelmChart")
    }
    assert alert["eventMetadata"] == {"cluster": "k8s-05"}
    listed = yamlio.load(files["clusters/k8s-05/notifications/kustomization.yaml"].content)[
        "resources"
    ]
    assert listed == ["provider-slack.yaml", "alert-flux.yaml"]


def test_several_providers_and_alerts_with_namespaces_and_exclusions() -> None:
    files = _render(
        _config(
            {
                "notifications": {
                    "providers": {
                        "ops": {
                            "type": "slack",
                            "channel": "#ops",
                            "address": "https://slack.com/api/chat.postMessage",
                            "secretName": "ops-bot",
                            "secretConfigKey": "opsBotToken",
                            "secretField": "token",
                        }
                    },
                    "alerts": {
                        "errors": {
                            "providerRef": "ops",
                            "eventSeverity": "error",
                            "eventSources": [{"kind": "HelmRelease"}],
                            "namespaces": ["flux-system", "team-a"],
                            "exclusionList": ["^Dependencies.*"],
                        }
                    },
                }
            }
        )
    )
    ops = _obj(files, "clusters/k8s-05/notifications/provider-ops.yaml")["spec"]
    assert ops["address"] == "https://slack.com/api/chat.postMessage" and ops["secretRef"] == {
        "name": "ops-bot"
    }
    errors = _obj(files, "clusters/k8s-05/notifications/alert-errors.yaml")["spec"]
    assert errors["eventSources"] == [
        {"kind": "HelmRelease", "name": "*", "namespace": "flux-system"},
        {"kind": "HelmRelease", "name": "*", "namespace": "team-a"},
    ]
    assert errors["exclusionList"] == ["^Dependencies.*"]
    # a configured providers map replaces the built-in default (merging is fleet <- stack only)
    assert "clusters/k8s-05/notifications/provider-slack.yaml" not in files


def test_no_notifications_when_none_configured() -> None:
    files = _render(_config({"notifications": {"providers": {}, "alerts": {}}}))
    assert not [p for p in files if "/notifications/" in p]


def test_scaffolds_and_their_guards() -> None:
    files = _render(_config())
    core = files["core-apps/clusters/k8s-05/kustomization.yaml"]
    assert core.owner == "scaffold" and core.guard_path == "core-apps/clusters/k8s-05"
    resources = yamlio.load(core.content)["resources"]
    assert resources[0] == "../../sources"
    assert {
        "../../base/local-path-provisioner",
        "../../base/victoriametrics-operator",
        "../../base/kube-prometheus-operator",
    } <= set(resources)
    assert files["apps/clusters/k8s-05/kustomization.yaml"].guard_path == "apps/clusters/k8s-05"
    assert (
        files["core-apps/base/local-path-provisioner/helmrelease.yaml"].guard_path
        == "core-apps/base"
    )
    assert files["apps/base/vmcluster/vmcluster.yaml"].guard_path == "apps/base"
    # Flux post-build variables pass through the template untouched
    assert "${storage_class:=local-path}" in files["apps/base/vmcluster/vmcluster.yaml"].content
    assert "@@" not in "".join(f.content + p for p, f in files.items())


def test_base_helmreleases_reference_the_rendered_sources() -> None:
    files = _render(_config())
    sources = {
        _obj(files, p)["metadata"]["name"]
        for p in files
        if p.startswith("core-apps/sources/") and not p.endswith("kustomization.yaml")
    }
    git_sources = set()
    refs = set()
    for f in files.values():
        for doc in yamlio.load_all(f.content):
            if doc.get("kind") == "GitRepository":
                git_sources.add(doc["metadata"]["name"])
            if doc.get("kind") == "HelmRelease":
                ref = doc["spec"]["chart"]["spec"]["sourceRef"]
                refs.add((ref["kind"], ref["name"]))
    assert refs == {
        ("HelmRepository", "prometheus-community"),
        ("HelmRepository", "victoriametrics"),
        ("GitRepository", "local-path-provisioner"),
    }
    assert {n for k, n in refs if k == "HelmRepository"} <= sources
    assert {n for k, n in refs if k == "GitRepository"} <= git_sources


def test_template_unknown_placeholder_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "cluster" / "x").mkdir(parents=True)
    (tmp_path / "cluster" / "x" / "a.yaml").write_text("name: @@clustr@@\n")
    with pytest.raises(
        TemplateError, match=r"cluster/x/a.yaml: unknown placeholder @@clustr@@ \(known: cluster"
    ):
        Template.load(tmp_path).render({"cluster": "c", "flux_version": "v2.9.4"})


# -------------------------------------------------------------------------- schema validation


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_flux_object_passes_the_crd_schema(stack: str, manifests_dir: Path) -> None:
    rendered = render_stack(PROJECT_DIR, stack, manifests_dir)
    schemas = for_manifest(rendered.manifest)
    checked = 0
    for f in rendered.files.values():
        for doc in yamlio.load_all(f.content):
            if str(doc.get("apiVersion", "")).endswith(
                (".fluxcd.io/v1", ".fluxcd.io/v2", ".fluxcd.io/v1beta3")
            ):
                assert schemas.validate(doc) == []
                checked += 1
    assert checked >= 13  # kustomizations, sources, providers, alerts, the bases' HelmReleases


def _with_change(files: RepoFiles, path: str, change: Any) -> RepoFiles:
    doc = yamlio.load_all(files[path].content)[0]
    change(doc)
    out = {p: f for p, f in files.items()}
    out[path] = RepoFile(path=path, content=yamlio.dump(doc), owner=files[path].owner)
    return RepoFiles(out.values())


def test_only_files_with_flux_objects_or_from_the_template_are_parsed_again(
    manifests_dir: Path,
) -> None:
    """Generated files are valid YAML by construction: one without a Flux object is not parsed
    again (gotk-components.yaml); a scaffold, from the editable template, always is."""
    cfg = load_stack_config(PROJECT_DIR, "k8s-01")
    schemas = for_manifest(load_install_manifest(cfg.settings.flux, PROJECT_DIR, manifests_dir))
    broken = "kind: [unclosed\n"
    validate_files(RepoFiles([RepoFile("a/generated.yaml", broken, "managed")]), schemas, "v2.9.4")
    with pytest.raises(ValidationError, match=r"a/scaffold\.yaml: not valid YAML"):
        validate_files(
            RepoFiles([RepoFile("a/scaffold.yaml", broken, "scaffold")]), schemas, "v2.9.4"
        )
    # a generated file with a Flux object is parsed and checked, wherever the object sits
    bad = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: k, namespace: flux-system}\nspec: {prunne: true}\n"
    )
    with pytest.raises(ValidationError, match=r"spec\.prunne"):
        validate_files(RepoFiles([RepoFile("a/k.yaml", bad, "managed")]), schemas, "v2.9.4")


def test_schema_check_fails_on_unknown_field_naming_file_object_and_field(
    manifests_dir: Path,
) -> None:
    cfg = load_stack_config(PROJECT_DIR, "k8s-01")
    files = _render(cfg)
    schemas = for_manifest(load_install_manifest(cfg.settings.flux, PROJECT_DIR, manifests_dir))
    bad = _with_change(
        files, "clusters/k8s-01/apps.yaml", lambda d: d["spec"].update({"prunne": True})
    )
    with pytest.raises(ValidationError) as err:
        validate_files(bad, schemas, "v2.9.4")
    assert err.value.problems[0].startswith(
        "clusters/k8s-01/apps.yaml: Kustomization flux-system/apps: spec.prunne"
    )
    assert "unknown field" in err.value.problems[0]


def test_schema_check_fails_on_wrong_type(manifests_dir: Path) -> None:
    cfg = load_stack_config(PROJECT_DIR, "k8s-01")
    files = _render(cfg)
    schemas = for_manifest(load_install_manifest(cfg.settings.flux, PROJECT_DIR, manifests_dir))
    bad = _with_change(
        files,
        "core-apps/sources/victoriametrics.yaml",
        lambda d: d["spec"].update({"suspend": "no"}),
    )
    with pytest.raises(ValidationError) as err:
        validate_files(bad, schemas, "v2.9.4")
    assert err.value.problems[0].startswith(
        "core-apps/sources/victoriametrics.yaml: HelmRepository flux-system/victoriametrics: spec.suspend"
    )


def test_rendering_for_flux_v2_7_5_validates_against_its_crds(manifests_dir: Path) -> None:
    """v2.7.5 still serves every API version the renderers write: rendering for it validates."""
    cfg = _config({"flux": {"version": "v2.7.5"}})
    schemas = for_manifest(load_install_manifest(cfg.settings.flux, PROJECT_DIR, manifests_dir))
    validate_files(_render(cfg), schemas, "v2.7.5")
