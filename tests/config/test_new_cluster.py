"""`fluxboot new-cluster`: a new stack file that renders and validates; refusals write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.cli.main import main


def run(project: Path, manifests_dir: Path, *args: str) -> int:
    return main(["--project", str(project), "--manifests-dir", str(manifests_dir), *args])


def test_from_a_stack_copies_settings_not_secrets_and_the_new_cluster_validates(
    project: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = project / "Pulumi.k8s-01.yaml"
    doc = yaml.safe_load(source.read_text())
    doc["config"]["flux-gitops:gitSshPrivateKey"] = {"secure": "v1:AAAAcipher"}
    doc["config"]["flux-gitops:cluster"]["name"] = "k8s-01"
    source.write_text(yaml.safe_dump(doc))

    assert run(project, manifests_dir, "new-cluster", "k8s-03", "--from", "k8s-01") == 0
    out = capsys.readouterr().out.splitlines()
    text = (project / "Pulumi.k8s-03.yaml").read_text()
    new = yaml.safe_load(text)["config"]

    assert "secure" not in text and "cipher" not in text
    assert new["flux-gitops:cluster"] == {"kubeContext": "k8s-03"}
    assert new["flux-gitops:kustomizations"] == doc["config"]["flux-gitops:kustomizations"]
    assert new["flux-gitops:notifications"] == doc["config"]["flux-gitops:notifications"]
    commands = [
        "pulumi config set --secret -s k8s-03 flux-gitops:gitSshPrivateKey < <private key file>",
        "pulumi config set --secret -s k8s-03 flux-gitops:slackErrorsWebhookUrl",
        "pulumi config set --secret -s k8s-03 flux-gitops:slackWebhookUrl",
    ]
    assert [f"  {c}" for c in commands] == [line for line in out if "pulumi config set" in line]
    assert all(f"#   {c}\n" in text for c in commands)
    assert "  managed   clusters/k8s-03/apps.yaml" in out
    assert "  scaffold  core-apps/clusters/k8s-03/kustomization.yaml" in out

    # the new stack renders and its repository passes validate
    assert run(project, manifests_dir, "render", "k8s-03", "--out", str(tmp_path / "out")) == 0
    assert (tmp_path / "out/clusters/k8s-03/core-apps.yaml").is_file()
    capsys.readouterr()
    assert run(project, manifests_dir, "validate", "--stack", "k8s-03") == 0
    assert capsys.readouterr().out == ""
    assert run(project, manifests_dir, "validate", str(tmp_path / "out")) == 0


def test_without_from_a_minimal_stack_file(
    project: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, manifests_dir, "new-cluster", "edge-1") == 0
    out = capsys.readouterr().out
    doc = yaml.safe_load((project / "Pulumi.edge-1.yaml").read_text())
    assert doc == {
        "config": {
            "pulumi:disable-default-providers": ["kubernetes"],
            "flux-gitops:cluster": {"kubeContext": "edge-1"},
        }
    }
    assert "pulumi config set --secret -s edge-1 flux-gitops:slackWebhookUrl" in out
    assert run(project, manifests_dir, "validate", "--stack", "edge-1") == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "k8s-01",
            "fluxboot new-cluster: Pulumi.k8s-01.yaml exists: stack k8s-01 is already there",
        ),
        ("K8s-03", "fluxboot new-cluster: cluster name 'K8s-03' is not a DNS-1123 label"),
        ("k8s_03", "fluxboot new-cluster: cluster name 'k8s_03' is not a DNS-1123 label"),
        ("k8s.03", "fluxboot new-cluster: cluster name 'k8s.03' is not a DNS-1123 label"),
        ("a" * 64, "fluxboot new-cluster: cluster name 'aaaa"),
    ],
)
def test_taken_or_invalid_names_are_refused_and_nothing_is_written(
    name: str, expected: str, project: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in project.iterdir())
    original = (project / "Pulumi.k8s-01.yaml").read_bytes()
    assert run(project, manifests_dir, "new-cluster", name, "--from", "k8s-02") == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(expected) and captured.out == ""
    assert sorted(p.name for p in project.iterdir()) == before
    assert (project / "Pulumi.k8s-01.yaml").read_bytes() == original


def test_from_a_stack_that_does_not_exist_is_refused(
    project: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, manifests_dir, "new-cluster", "k8s-03", "--from", "k8s-09") == 2
    assert capsys.readouterr().err == (
        "fluxboot new-cluster: --from k8s-09: Pulumi.k8s-09.yaml does not exist\n"
    )
    assert not (project / "Pulumi.k8s-03.yaml").exists()
