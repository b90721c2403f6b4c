"""`fluxboot graph`: golden Mermaid/dot output of k8s-01, the README's copy, dependsOn edges."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from components.cli.main import main
from components.repo_check import graph, validate
from components.repo_check.kustomize_build import PythonBuilder
from tests.conftest import GOLDEN_DIR, PROJECT_DIR

README = PROJECT_DIR / "README.md"
README_BLOCK = re.compile(
    r"(<!-- graph:k8s-01:start[^\n]*-->\n```mermaid\n)(.*?)(```\n<!-- graph:k8s-01:end -->)",
    re.DOTALL,
)


def graph_output(manifests_dir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(
        ["--project", str(PROJECT_DIR), "--manifests-dir", str(manifests_dir), "graph", *args]
    )
    out = capsys.readouterr().out
    assert code == 0
    return out


@pytest.mark.parametrize(("fmt", "suffix"), [("mermaid", "mmd"), ("dot", "dot")])
def test_graph_of_k8s_01_matches_golden(
    fmt: str,
    suffix: str,
    manifests_dir: Path,
    capsys: pytest.CaptureFixture[str],
    update_golden: bool,
) -> None:
    out = graph_output(manifests_dir, capsys, "k8s-01", "--format", fmt)
    golden = GOLDEN_DIR / "graph" / f"k8s-01.{suffix}"
    if update_golden:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out)
    assert out == golden.read_text()
    # the order the seed describes: flux-system applies core-apps and apps; apps waits for core-apps
    if fmt == "mermaid":
        assert "ks_flux_system_flux_system -->|applies| ks_flux_system_core_apps" in out
        assert "ks_flux_system_core_apps -.->|required by| ks_flux_system_apps" in out
        assert (
            "src_helmrepository_flux_system_victoriametrics -->|chart| "
            "hr_flux_system_victoriametrics_operator" in out
        )


def test_readme_shows_the_current_graph_of_k8s_01(
    manifests_dir: Path, capsys: pytest.CaptureFixture[str], update_golden: bool
) -> None:
    out = graph_output(manifests_dir, capsys, "k8s-01")
    text = README.read_text()
    match = README_BLOCK.search(text)
    assert match, "README.md lacks the <!-- graph:k8s-01:start --> block"
    if update_golden:
        README.write_text(text[: match.start(2)] + out + text[match.end(2) :])
        match = README_BLOCK.search(README.read_text())
        assert match
    assert match.group(2) == out, (
        "README graph is stale: run pytest tests/repo_check/test_graph.py --update-golden"
    )


def test_helmrelease_depends_on_and_missing_sources_are_drawn(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(GOLDEN_DIR / "k8s-01", repo)
    hr = repo / "apps/base/postgres-exporter/milan/helmrelease.yaml"
    doc = yaml.safe_load(hr.read_text())
    doc["spec"]["dependsOn"] = [{"name": "postgres-exporter-london"}]
    doc["spec"]["chart"]["spec"]["sourceRef"]["name"] = "bitnami"
    hr.write_text(yaml.safe_dump(doc))
    objects = validate.collect_cluster(repo, "k8s-01", PythonBuilder(repo), False)
    out = graph.to_mermaid(graph.build_graph(objects))
    assert (
        "hr_flux_system_postgres_exporter_london -.->|required by| "
        "hr_flux_system_postgres_exporter_milan" in out
    )
    assert 'src_helmrepository_flux_system_bitnami[("HelmRepository bitnami (missing)")]' in out
    # the same input gives the same bytes
    again = validate.collect_cluster(repo, "k8s-01", PythonBuilder(repo), False)
    assert graph.to_mermaid(graph.build_graph(again)) == out


def test_a_committed_flux_system_does_not_change_the_graph(
    tmp_path: Path, manifests_dir: Path
) -> None:
    from tests.repo_check.test_validate import add_flux_system

    repo = tmp_path / "repo"
    shutil.copytree(GOLDEN_DIR / "k8s-01", repo)
    shutil.rmtree(repo / "clusters/k8s-01/flux-system")  # the implicit root first
    before = graph.to_mermaid(
        graph.build_graph(validate.collect_cluster(repo, "k8s-01", PythonBuilder(repo), False))
    )
    add_flux_system(repo, manifests_dir, "v2.9.4")
    after = graph.to_mermaid(
        graph.build_graph(validate.collect_cluster(repo, "k8s-01", PythonBuilder(repo), False))
    )
    assert after == before == (GOLDEN_DIR / "graph" / "k8s-01.mmd").read_text()
