"""`fluxboot validate`: the rendered repositories pass; each defect is reported on one precise line.

Every broken repository starts as the rendered tree of k8s-01, with one thing broken.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cli.main import main
from components.repo_check.kustomize_build import find_kubectl
from tests.conftest import GOLDEN_DIR, PROJECT_DIR

needs_kubectl = pytest.mark.skipif(
    find_kubectl() is None, reason="kubectl with kustomize v4+ not on PATH"
)


def validate(
    capsys: pytest.CaptureFixture[str], manifests_dir: Path, *args: str, project: Path = PROJECT_DIR
) -> tuple[int, list[str]]:
    code = main(
        ["--project", str(project), "--manifests-dir", str(manifests_dir), "validate", *args]
    )
    return code, capsys.readouterr().out.splitlines()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The rendered tree of k8s-01 (its golden copy, which test_render keeps equal to the render)."""
    dest = tmp_path / "repo"
    shutil.copytree(GOLDEN_DIR / "k8s-01", dest)
    return dest


def edit(path: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    change(docs)
    path.write_text(yaml.safe_dump_all(docs, explicit_start=True, sort_keys=False))


def first(change: Callable[[dict[str, Any]], None]) -> Callable[[list[dict[str, Any]]], None]:
    return lambda docs: change(docs[0])


# ------------------------------------------------------------------------------------- clean


def test_rendered_repositories_of_both_stacks_pass_clean(
    manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = validate(capsys, manifests_dir)
    assert (code, out) == (0, [])


def test_rendered_tree_on_disk_passes_clean(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = validate(capsys, manifests_dir, str(repo))
    assert (code, out) == (0, [])


def test_stack_restricts_to_its_cluster(
    tmp_path: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(GOLDEN_DIR / "k8s-01", fleet)
    shutil.copytree(GOLDEN_DIR / "k8s-02", fleet, dirs_exist_ok=True)
    # break k8s-01 only: checking k8s-02 must not see it
    (fleet / "clusters/k8s-01/apps.yaml").write_text("not: [yaml")
    assert main(["--manifests-dir", str(manifests_dir), "validate", str(fleet)]) == 1
    capsys.readouterr()
    code, out = validate(capsys, manifests_dir, str(fleet), "--stack", "k8s-02")
    assert (code, out) == (0, [])


# ------------------------------------------------------------------------------------ builds


@needs_kubectl
def test_a_path_that_does_not_build_is_an_error(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overlay = repo / "apps/clusters/k8s-01/kustomization.yaml"
    overlay.write_text(overlay.read_text() + "  - ../../base/nothing-here\n")
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1
    (line,) = out
    assert line.startswith(
        "clusters/k8s-01/apps.yaml: Kustomization flux-system/apps: kustomize build failed: "
    )
    assert "nothing-here" in line and "fluxboot-" not in line


def test_a_path_that_does_not_exist_is_an_error(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        repo / "clusters/k8s-01/core-apps.yaml",
        first(lambda d: d["spec"].update(path="./core-apps/clusters/k8s-1")),
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1
    assert (
        "clusters/k8s-01/core-apps.yaml: Kustomization flux-system/core-apps: "
        "path ./core-apps/clusters/k8s-1 does not exist in the repository"
    ) in out
    # core-apps built nothing, so the HelmRelease sources it used to apply are gone too
    assert any(
        "chart sourceRef HelmRepository flux-system/prometheus-community" in line for line in out
    )


@pytest.mark.parametrize("kubectl", [True, False], ids=["kubectl", "python"])
def test_a_path_without_kustomization_yaml_is_built_like_flux_generates_it(
    kubectl: bool,
    repo: Path,
    manifests_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if kubectl and find_kubectl() is None:
        pytest.skip("kubectl with kustomize v4+ not on PATH")
    if not kubectl:
        monkeypatch.setenv("PATH", str(repo / "no-bin"))
    # every YAML file of the tree, recursively; a sub-directory with a kustomization.yaml as a whole
    apps = repo / "apps/clusters/k8s-01"
    (apps / "kustomization.yaml").unlink()
    (apps / "nested").mkdir()
    shutil.copy(repo / "apps/base/vmcluster/vmcluster.yaml", apps / "nested/vmcluster.yaml")
    shutil.copytree(repo / "apps/base/postgres-exporter", apps / "postgres-exporter")
    (apps / "README.md").write_text("not YAML, not included\n")
    edit(
        apps / "postgres-exporter/milan/helmrelease.yaml",
        first(lambda d: d["spec"].update(interval="half an hour")),
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    skipped = (
        [] if kubectl else ["skipped: kustomize build: kubectl (with kustomize v4+) not found"]
    )
    assert out == [
        *skipped,
        "apps/clusters/k8s-01/postgres-exporter/milan/helmrelease.yaml: HelmRelease "
        "flux-system/postgres-exporter-milan: spec.interval: 'half an hour' does not match "
        "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$",
    ]
    assert code == 1


def test_a_generated_kustomization_refuses_yaml_that_is_not_kubernetes(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "clusters/k8s-01/values.yaml").write_text("replicas: 3\n")
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1
    # the root Kustomization is the committed one, so the finding names its file
    assert out == [
        "clusters/k8s-01/flux-system/gotk-sync.yaml: Kustomization flux-system/flux-system: "
        "failed to decode Kubernetes YAML from values.yaml: missing kind"
    ]


def test_without_kubectl_one_skipped_line_and_the_other_checks_still_run(
    repo: Path,
    manifests_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin"))
    code, out = validate(capsys, manifests_dir, str(repo))
    assert (code, out) == (0, ["skipped: kustomize build: kubectl (with kustomize v4+) not found"])
    edit(
        repo / "clusters/k8s-01/apps.yaml",
        first(lambda d: d["spec"].update(dependsOn=[{"name": "core-app"}])),
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1 and len(out) == 2 and out[0].startswith("skipped: ")
    assert "dependsOn flux-system/core-app" in out[1]


# ----------------------------------------------------------------------------------- schemas


def test_a_flux_object_that_breaks_its_crd_schema_is_an_error(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        repo / "core-apps/base/kube-prometheus-operator/helmrelease.yaml",
        first(lambda d: d["spec"]["install"].update(crds="Always")),
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1
    assert out == [
        "core-apps/base/kube-prometheus-operator/helmrelease.yaml: HelmRelease "
        "flux-system/kube-prometheus-operator: spec.install.crds: must be one of "
        "['Skip', 'Create', 'CreateReplace'], got 'Always'"
    ]


def test_post_build_variables_are_substituted_before_the_schema_check(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hr = repo / "apps/base/postgres-exporter/paris/helmrelease.yaml"
    # apps sets storage_class=local-path: a valid interval once substituted? no: it is not one
    edit(hr, first(lambda d: d["spec"].update(interval="${storage_class}")))
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1 and out[0].endswith(
        "spec.interval: 'local-path' does not match ^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
    )
    edit(hr, first(lambda d: d["spec"].update(interval="${hr_interval:=15m}")))
    assert validate(capsys, manifests_dir, str(repo)) == (0, [])


def test_a_removed_api_version_is_an_error_naming_the_replacement(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        repo / "apps/base/postgres-exporter/london/helmrelease.yaml",
        first(lambda d: d.update(apiVersion="helm.toolkit.fluxcd.io/v2beta2")),
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1
    assert out == [
        "apps/base/postgres-exporter/london/helmrelease.yaml: HelmRelease "
        "flux-system/postgres-exporter-london: helm.toolkit.fluxcd.io/v2beta2 HelmRelease is "
        "not served by Flux v2.9.4: use helm.toolkit.fluxcd.io/v2"
    ]


def test_a_deprecated_api_version_is_a_warning_naming_the_replacement(
    repo: Path, project: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a cluster still on Flux v2.7.5 (its committed install), where v2beta2 is served, deprecated
    stack = project / "Pulumi.k8s-01.yaml"
    doc = yaml.safe_load(stack.read_text())
    doc["config"]["flux-gitops:flux"] = {"version": "v2.7.5"}
    stack.write_text(yaml.safe_dump(doc))
    shutil.copy(
        manifests_dir / "v2.7.5/gotk-components.yaml",
        repo / "clusters/k8s-01/flux-system/gotk-components.yaml",
    )
    edit(
        repo / "apps/base/postgres-exporter/london/helmrelease.yaml",
        first(lambda d: d.update(apiVersion="helm.toolkit.fluxcd.io/v2beta2")),
    )
    code, out = validate(capsys, manifests_dir, str(repo), project=project)
    assert code == 0
    assert out == [
        "apps/base/postgres-exporter/london/helmrelease.yaml: HelmRelease "
        "flux-system/postgres-exporter-london: warning: helm.toolkit.fluxcd.io/v2beta2 "
        "HelmRelease is deprecated: use helm.toolkit.fluxcd.io/v2"
    ]


# ------------------------------------------------------------------------------- references


def test_depends_on_a_missing_kustomization_is_an_error(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        repo / "clusters/k8s-01/apps.yaml",
        first(lambda d: d["spec"].update(dependsOn=[{"name": "infrastructure"}])),
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert (code, out) == (
        1,
        [
            "clusters/k8s-01/apps.yaml: Kustomization flux-system/apps: dependsOn "
            "flux-system/infrastructure: no such Kustomization in cluster k8s-01 (Kustomizations: "
            "flux-system/apps, flux-system/core-apps, flux-system/flux-system)"
        ],
    )


def test_depends_on_a_missing_helmrelease_is_an_error(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a HelmRelease may only depend on HelmReleases: a Kustomization of that name does not count
    edit(
        repo / "apps/base/postgres-exporter/paris/helmrelease.yaml",
        first(lambda d: d["spec"].update(dependsOn=[{"name": "core-apps"}])),
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1
    (line,) = out
    assert line.startswith(
        "apps/base/postgres-exporter/paris/helmrelease.yaml: HelmRelease "
        "flux-system/postgres-exporter-paris: dependsOn flux-system/core-apps: no such "
        "HelmRelease in cluster k8s-01 (HelmReleases: flux-system/kube-prometheus-operator, "
    )


def test_a_depends_on_cycle_is_reported_with_its_path(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        repo / "clusters/k8s-01/core-apps.yaml",
        first(lambda d: d["spec"].update(dependsOn=[{"name": "apps"}])),
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert (code, out) == (
        1,
        [
            "clusters/k8s-01/apps.yaml: Kustomization flux-system/apps: dependsOn cycle: "
            "flux-system/apps -> flux-system/core-apps -> flux-system/apps"
        ],
    )


def test_a_helmrelease_cycle_across_three_releases(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for site, dep in (("london", "milan"), ("milan", "paris"), ("paris", "london")):
        edit(
            repo / f"apps/base/postgres-exporter/{site}/helmrelease.yaml",
            first(
                lambda d, dep=dep: d["spec"].update(
                    dependsOn=[{"name": f"postgres-exporter-{dep}"}]
                )
            ),
        )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1
    assert out == [
        "apps/base/postgres-exporter/london/helmrelease.yaml: HelmRelease "
        "flux-system/postgres-exporter-london: dependsOn cycle: flux-system/postgres-exporter-london"
        " -> flux-system/postgres-exporter-milan -> flux-system/postgres-exporter-paris"
        " -> flux-system/postgres-exporter-london"
    ]


def test_a_chart_source_the_cluster_does_not_get_is_an_error(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the HelmRepository file is there, but core-apps no longer applies it
    sources = repo / "core-apps/sources/kustomization.yaml"
    sources.write_text(sources.read_text().replace("  - victoriametrics.yaml\n", ""))
    code, out = validate(capsys, manifests_dir, str(repo))
    assert (code, out) == (
        1,
        [
            "core-apps/base/victoriametrics-operator/helmrelease.yaml: HelmRelease "
            "flux-system/victoriametrics-operator: chart sourceRef HelmRepository "
            "flux-system/victoriametrics: not in what cluster k8s-01 applies"
        ],
    )


def test_an_alert_naming_a_missing_provider_is_an_error(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "clusters/k8s-01/notifications/provider-slack-errors.yaml").unlink()
    notifications = repo / "clusters/k8s-01/notifications/kustomization.yaml"
    notifications.write_text(
        notifications.read_text().replace("  - provider-slack-errors.yaml\n", "")
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert (code, out) == (
        1,
        [
            "clusters/k8s-01/notifications/alert-errors.yaml: Alert flux-system/errors: "
            "providerRef slack-errors: no such Provider in namespace flux-system (Providers: slack)"
        ],
    )


def test_two_objects_with_one_identity_in_a_cluster_are_an_error(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # apps also applies a base that core-apps applies: two Kustomizations own one HelmRelease
    overlay = repo / "apps/clusters/k8s-01/kustomization.yaml"
    overlay.write_text(
        overlay.read_text() + "  - ../../../core-apps/base/victoriametrics-operator\n"
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert (code, out) == (
        1,
        [
            "core-apps/base/victoriametrics-operator/helmrelease.yaml: HelmRelease "
            "flux-system/victoriametrics-operator: defined 2 times in cluster k8s-01 "
            "(helm.toolkit.fluxcd.io); also in core-apps/base/victoriametrics-operator/helmrelease.yaml"
        ],
    )


def test_json_format_lists_every_finding(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        repo / "clusters/k8s-01/apps.yaml",
        first(lambda d: d["spec"].update(dependsOn=[{"name": "nope"}], timeout="soon")),
    )
    code = main(["--manifests-dir", str(manifests_dir), "validate", str(repo), "--format", "json"])
    findings = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [(f["file"], f["object"], f["severity"]) for f in findings] == [
        ("clusters/k8s-01/apps.yaml", "Kustomization flux-system/apps", "error")
    ] * 2
    assert {f["message"].split(":")[0] for f in findings} == {
        "spec.timeout",
        "dependsOn flux-system/nope",
    }
    assert all(f["clusters"] == ["k8s-01"] for f in findings)


def add_flux_system(repo: Path, manifests_dir: Path, version: str) -> None:
    """clusters/k8s-01/flux-system/ as `flux bootstrap` (and the stack) commit it."""
    fs = repo / "clusters/k8s-01/flux-system"
    shutil.rmtree(fs, ignore_errors=True)  # the rendered tree has the stack's own
    fs.mkdir()
    shutil.copy(manifests_dir / version / "gotk-components.yaml", fs / "gotk-components.yaml")
    repo_ref = {"kind": "GitRepository", "name": "flux-system"}
    sync = [
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system"},
            "spec": {"interval": "1m", "ref": {"branch": "main"}, "url": "ssh://git@h/r.git"},
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "flux-system", "namespace": "flux-system"},
            "spec": {
                "interval": "10m",
                "path": "./clusters/k8s-01",
                "prune": True,
                "sourceRef": repo_ref,
            },
        },
    ]
    (fs / "gotk-sync.yaml").write_text(yaml.safe_dump_all(sync, explicit_start=True))
    (fs / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - gotk-components.yaml\n  - gotk-sync.yaml\n"
    )


def test_committed_flux_system_is_the_root_and_its_components_set_the_flux_version(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_flux_system(repo, manifests_dir, "v2.9.4")
    assert validate(capsys, manifests_dir, str(repo)) == (0, [])
    # the committed gotk-components.yaml (v2.7.5 here) is what the cluster runs
    shutil.copy(
        manifests_dir / "v2.7.5/gotk-components.yaml",
        repo / "clusters/k8s-01/flux-system/gotk-components.yaml",
    )
    edit(
        repo / "apps/base/postgres-exporter/london/helmrelease.yaml",
        first(lambda d: d.update(apiVersion="helm.toolkit.fluxcd.io/v2beta2")),
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 0 and len(out) == 1
    assert out[0].endswith(
        "warning: helm.toolkit.fluxcd.io/v2beta2 HelmRelease is deprecated: use helm.toolkit.fluxcd.io/v2"
    )
    # a second GitRepository flux-system, applied by core-apps, is a duplicate
    extra = repo / "core-apps/clusters/k8s-01/extra-source.yaml"
    shutil.copy(repo / "clusters/k8s-01/flux-system/gotk-sync.yaml", extra)
    edit(extra, lambda docs: docs.pop())
    overlay = repo / "core-apps/clusters/k8s-01/kustomization.yaml"
    overlay.write_text(overlay.read_text() + "  - extra-source.yaml\n")
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1
    assert (
        "core-apps/clusters/k8s-01/extra-source.yaml: GitRepository flux-system/flux-system: "
        "defined 2 times in cluster k8s-01 (source.toolkit.fluxcd.io); also in "
        "clusters/k8s-01/flux-system/gotk-sync.yaml"
    ) in out
    # twice in one path: kustomize itself refuses to build it
    shutil.copy(extra, repo / "clusters/k8s-01/extra-source.yaml")
    code, out = validate(capsys, manifests_dir, str(repo))
    assert (
        any(
            line.startswith(
                "clusters/k8s-01/flux-system/gotk-sync.yaml: Kustomization flux-system/flux-system: "
                "kustomize build failed: accumulating resources: "
            )
            and "already registered id: GitRepository.v1.source.toolkit.fluxcd.io/flux-system.flux-system"
            in line
            for line in out
        )
        or find_kubectl() is None
    ), out


def test_both_builders_refuse_a_kustomization_file_that_is_not_a_map(
    repo: Path, tmp_path: Path
) -> None:
    import shutil as _shutil

    from components.repo_check.kustomize_build import KubectlBuilder, PythonBuilder

    (repo / "apps/clusters/k8s-01/kustomization.yaml").write_text("- ../../base/vmcluster\n")
    builders: list[Any] = [PythonBuilder(repo)]
    kubectl = _shutil.which("kubectl")
    if kubectl is not None:
        builders.append(KubectlBuilder(repo, kubectl, tmp_path / "scratch"))
    for builder in builders:
        result = builder.build("./apps/clusters/k8s-01", {})
        assert result.error == "apps/clusters/k8s-01/kustomization.yaml: not a kustomization", (
            builder
        )
        assert result.objects == []


# ------------------------------------------------------------------------------- CEL rules


def test_a_flux_object_that_breaks_a_cel_rule_is_an_error(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = {"name": "RemediateOnFailure", "retryInterval": "1m"}
    edit(
        repo / "apps/base/postgres-exporter/london/helmrelease.yaml",
        first(lambda d: d["spec"].setdefault("upgrade", {}).update(strategy=strategy)),
    )
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1
    assert out == [
        "apps/base/postgres-exporter/london/helmrelease.yaml: HelmRelease "
        "flux-system/postgres-exporter-london: spec.upgrade.strategy: .retryInterval can only be "
        "set when .name is 'RetryOnFailure'"
    ]


def test_a_cel_rule_not_checked_offline_is_one_skipped_line(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every HelmRelease of the cluster reaches the rule; it is reported once, not passed."""
    components = repo / "clusters/k8s-01/flux-system/gotk-components.yaml"
    rule = {"rule": "isURL('https://fluxcd.io')", "message": "needs Kubernetes' URL library"}

    def add_rule(docs: list[dict[str, Any]]) -> None:
        for doc in docs:
            if doc.get("kind") == "CustomResourceDefinition" and doc["spec"]["names"]["kind"] == (
                "HelmRelease"
            ):
                for version in doc["spec"]["versions"]:
                    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
                    spec.setdefault("x-kubernetes-validations", []).append(rule)

    edit(components, add_rule)
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 0
    assert out == [
        "skipped: HelmRelease helm.toolkit.fluxcd.io/v2: spec: rule \"isURL('https://fluxcd.io')\" "
        "is not checked offline: it calls isURL, which this check does not implement; the API "
        "server checks it"
    ]


def _run(
    capsys: pytest.CaptureFixture[str], manifests_dir: Path, *args: str
) -> tuple[int, str, str]:
    code = main(
        ["--project", str(PROJECT_DIR), "--manifests-dir", str(manifests_dir), "validate", *args]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_server_options_need_server_and_one_cluster(
    manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, manifests_dir, "--context", "k8s-01")
    assert (code, out) == (2, "")
    assert "--kubeconfig and --context go with --server" in err
    code, out, err = _run(capsys, manifests_dir, "--server", "--context", "k8s-01")
    assert (code, out) == (2, "")
    assert "name one cluster, and 2 are checked (k8s-01, k8s-02): add --stack NAME" in err


def test_server_without_a_reachable_cluster_is_bad_input_and_prints_no_finding(
    tmp_path: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    code, out, err = _run(
        capsys, manifests_dir, "--stack", "k8s-01", "--server", "--kubeconfig", str(missing)
    )
    assert (code, out) == (2, "")
    assert err.startswith("fluxboot validate: ") and str(missing) in err


# ------------------------------------------------------------ confined to the repository

OUTSIDE = "OUTSIDE-THE-REPOSITORY-5e3b"


def _outside(tmp_path: Path) -> Path:
    """A directory beside the repository whose files must never be read."""
    out = tmp_path / "outside"
    out.mkdir(exist_ok=True)
    (out / "cm.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x, namespace: default}}\n"
        f"data: {{leak: {OUTSIDE}}}\n"
    )
    (out / "secret.txt").write_text(OUTSIDE + "\n")
    return out


def _overlay(repo: Path) -> Path:
    return repo / "apps/clusters/k8s-01/kustomization.yaml"


def _add_to_overlay(repo: Path, **fields: Any) -> None:
    path = _overlay(repo)
    kus = yaml.safe_load(path.read_text())
    for key, value in fields.items():
        kus.setdefault(key, []).extend(value)
    path.write_text(yaml.safe_dump(kus))


def _escapes(repo: Path, tmp_path: Path, how: str) -> None:
    outside = _outside(tmp_path)
    up = "../" * 10
    apps = repo / "apps/clusters/k8s-01"
    if how == "resource ../..":
        _add_to_overlay(repo, resources=[f"{up}{outside.relative_to('/')}/cm.yaml"])
    elif how == "symlinked resource":
        (apps / "cm.yaml").symlink_to(outside / "cm.yaml")
        _add_to_overlay(repo, resources=["cm.yaml"])
    elif how == "symlinked directory":
        (apps / "ext").symlink_to(outside)
        (outside / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
        _add_to_overlay(repo, resources=["ext"])
    elif how == "configMapGenerator file":
        _add_to_overlay(
            repo,
            configMapGenerator=[
                {"name": "g", "files": [f"{up}{outside.relative_to('/')}/secret.txt"]}
            ],
        )
    elif how == "symlinked generator file":
        (apps / "secret.txt").symlink_to(outside / "secret.txt")
        _add_to_overlay(repo, secretGenerator=[{"name": "g", "files": ["k=secret.txt"]}])
    elif how == "patch path":
        _add_to_overlay(repo, patches=[{"path": f"{up}{outside.relative_to('/')}/cm.yaml"}])
    elif how == "symlinked kustomization":
        _overlay(repo).unlink()
        (outside / "kustomization.yaml").write_text(f"resources: [{outside}/cm.yaml]\n")
        _overlay(repo).symlink_to(outside / "kustomization.yaml")
    elif how == "symlinked file in a generated kustomization":
        _overlay(repo).unlink()
        (apps / "cm.yaml").symlink_to(outside / "cm.yaml")
    elif how == "symlinked Kustomization path":
        shutil.rmtree(apps)
        apps.symlink_to(outside)
    else:
        raise AssertionError(how)


ESCAPES = [
    "resource ../..",
    "symlinked resource",
    "symlinked directory",
    "configMapGenerator file",
    "symlinked generator file",
    "patch path",
    "symlinked kustomization",
    "symlinked file in a generated kustomization",
    "symlinked Kustomization path",
]


# kustomize fields the Python builder (used without kubectl) does not follow at all
KUSTOMIZE_ONLY = {"configMapGenerator file", "symlinked generator file", "patch path"}


@pytest.mark.parametrize(
    ("how", "builder"),
    [
        (how, builder)
        for how in ESCAPES
        for builder in ("kubectl", "python")
        if builder == "kubectl" or how not in KUSTOMIZE_ONLY
    ],
)
def test_validate_never_reads_outside_the_repository(
    how: str,
    builder: str,
    repo: Path,
    tmp_path: Path,
    manifests_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As kustomize-controller's secure filesystem: every path, symlinks followed, must be in
    or below the repository root; else the build fails naming it, and nothing is read."""
    if builder == "python":
        monkeypatch.setattr("components.repo_check.kustomize_build.find_kubectl", lambda: None)
    elif find_kubectl() is None:
        pytest.skip("kubectl with kustomize v4+ not on PATH")
    _escapes(repo, tmp_path, how)
    code, out = validate(capsys, manifests_dir, str(repo))
    text = "\n".join(out)
    assert code == 1, text
    assert OUTSIDE not in text
    errors = [line for line in out if "apps" in line and not line.startswith("skipped")]
    assert errors, text
    assert any("not in or below the repository" in line for line in errors), text


@needs_kubectl
def test_a_symlink_inside_the_repository_is_followed(
    repo: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = repo / "shared"
    shared.mkdir()
    (shared / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, namespace: default}\n"
    )
    (repo / "apps/clusters/k8s-01/cm.yaml").symlink_to("../../../shared/cm.yaml")
    _add_to_overlay(repo, resources=["cm.yaml"])
    code, out = validate(capsys, manifests_dir, str(repo))
    assert (code, out) == (0, [])


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n", "is not UTF-8 text"),
        (b"kind: [\n", "failed to decode Kubernetes YAML"),
        (b"a: &a [*a]\n", "refers to a node that contains it"),
    ],
)
def test_an_unreadable_file_in_the_repository_is_a_finding_not_a_crash(
    content: bytes,
    words: str,
    repo: Path,
    manifests_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _overlay(repo).unlink()  # a generated kustomization reads every file of the directory
    (repo / "apps/clusters/k8s-01/bad.yaml").write_bytes(content)
    for builder in ("kubectl", "python"):
        if builder == "python":
            monkeypatch.setattr("components.repo_check.kustomize_build.find_kubectl", lambda: None)
        elif find_kubectl() is None:
            continue
        code, out = validate(capsys, manifests_dir, str(repo))
        assert code == 1
        assert any("bad.yaml" in line and words in line for line in out), out


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("flux-system/gotk-sync.yaml", b"kind: [\n"),
        ("flux-system/gotk-sync.yaml", b"caf\xe9: 1\n"),
        ("flux-system/gotk-components.yaml", b"caf\xe9: 1\n"),
        ("flux-system/gotk-components.yaml", b"- just a list\n"),
    ],
)
def test_a_broken_flux_system_file_is_a_finding_naming_it(
    name: str,
    content: bytes,
    repo: Path,
    manifests_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (repo / "clusters/k8s-01" / name).write_bytes(content)
    code, out = validate(capsys, manifests_dir, str(repo))
    assert code == 1
    assert any(line.startswith(f"clusters/k8s-01/{name}: ") for line in out), out
