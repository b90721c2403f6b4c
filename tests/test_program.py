"""The real `__main__.py` under Pulumi mocks, with the k8s-01 and k8s-02 stack config.

The dynamic resources run their real `create()` (tests/pulumi_harness.py), so the Git writer
really pushes into a local bare repository, and what the program applied can be compared with
what it committed.
"""

from __future__ import annotations

import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import config as runtime_config

from components.cli.main import main as fluxboot
from components.common import yamlio
from tests.conftest import GOLDEN_DIR, PROJECT_DIR
from tests.pulumi_harness import Recording, assert_never_plain, engine_config, run

KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user: {token: kube-admin-token-123}\n"
)
SECRETS = {
    "k8s-01": {
        "kubeconfig": KUBECONFIG,
        "slackWebhookUrl": "https://hooks.slack.com/services/T0/B0/flux-webhook-secret",
        "slackErrorsWebhookUrl": "https://hooks.slack.com/services/T0/B1/errors-webhook-secret",
    },
    "k8s-02": {
        "kubeconfig": KUBECONFIG,
        "slackWebhookUrl": "https://hooks.slack.com/services/T0/B0/flux-webhook-secret",
    },
}
PATCH_FORCE = "pulumi.com/patchForce"


@pytest.fixture
def program(
    project: Path, tmp_path: Path, manifests_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A copy of the project whose stacks push to a local bare repository."""
    shutil.copy(PROJECT_DIR / "__main__.py", project / "__main__.py")
    remote = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    for stack in ("k8s-01", "k8s-02"):
        path = project / f"Pulumi.{stack}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["config"]["flux-gitops:git"] = {"pushUrl": str(remote), "createBranch": True}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setenv("FLUXBOOT_MANIFESTS_DIR", str(manifests_dir))
    return project, remote


def run_main(project: Path, stack: str, secrets: dict[str, str]) -> Recording:
    values, secret_keys = engine_config(project, stack, secrets)
    runtime_config.set_all_config(values, secret_keys)
    try:
        return run(
            lambda: runpy.run_path(str(project / "__main__.py"), run_name="__main__") and None,
            stack=stack,
        )
    finally:
        runtime_config.set_all_config({}, [])


def committed(remote: Path, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), "show", f"main:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def applied_object(inputs: dict[str, Any]) -> dict[str, Any]:
    """A Kubernetes resource's inputs as the object it applies (minus Pulumi's own annotation)."""
    obj = {k: v for k, v in inputs.items() if not k.startswith("__")}
    annotations = obj.get("metadata", {}).get("annotations", {})
    annotations.pop(PATCH_FORCE, None)
    if "annotations" in obj.get("metadata", {}) and not annotations:
        del obj["metadata"]["annotations"]
    return obj


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), meta["name"]


@pytest.mark.parametrize("stack", ["k8s-01", "k8s-02"])
def test_program_resource_graph(program: tuple[Path, Path], stack: str) -> None:
    project, remote = program
    rec = run_main(project, stack, SECRETS[stack])

    # one ClusterStack at the top, composed of the five parts
    (cluster,) = rec.of_type("flux-gitops:cluster_stack:ClusterStack")
    assert cluster.name == stack and cluster.parent.endswith(
        f"::pulumi:pulumi:Stack::flux-gitops-{stack}"
    )
    parts = {r.name: r for r in rec.resources.values() if r.parent == cluster.urn}
    assert {n: r.type for n, r in parts.items()} == {
        f"{stack}-repo": "pulumi-python:dynamic/flux-gitops:GitOpsFiles",
        f"{stack}-flux": "flux-gitops:flux_install:FluxInstall",
        f"{stack}-sync": "flux-gitops:flux_sync:FluxSync",
        f"{stack}-notifications": "flux-gitops:notifications:NotificationSecrets",
        f"{stack}-uninstall": "pulumi-python:dynamic/flux-gitops:FluxUninstall",
    }

    # every Kubernetes resource goes through the stack's one explicit provider
    (provider,) = rec.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == stack and provider.inputs["clusterIdentifier"] == stack
    kube = [r for r in rec.resources.values() if r.custom and r.type.startswith("kubernetes:")]
    assert len(kube) > 30
    assert all(r.provider.startswith(provider.urn + "::") for r in kube), [
        r.name for r in kube if not r.provider
    ]
    # and every one takes over what flux bootstrap / Terraform / Flux applied before (patchForce),
    # the credential Secrets included: without it a takeover fails on a field-manager conflict
    assert [
        r.name
        for r in kube
        if (r.inputs.get("metadata") or {}).get("annotations", {}).get(PATCH_FORCE) != "true"
    ] == []

    # DESIGN order: repository -> install -> sync -> notification Secrets; uninstall after all
    def descendants(root: str) -> set[str]:
        found = {r.urn for r in rec.resources.values() if r.parent == root}
        for urn in list(found):
            found |= descendants(urn)
        return found

    def custom_descendants(name: str) -> set[str]:
        return {u for u in descendants(parts[name].urn) if rec.by_urn[u].custom}

    repo, install, sync, notes = (
        parts[f"{stack}-{p}"] for p in ("repo", "flux", "sync", "notifications")
    )
    assert repo.urn in install.dependencies
    assert custom_descendants(f"{stack}-flux") <= set(sync.dependencies)
    assert custom_descendants(f"{stack}-sync") <= set(notes.dependencies)
    everything = (
        custom_descendants(f"{stack}-flux")
        | custom_descendants(f"{stack}-sync")
        | custom_descendants(f"{stack}-notifications")
    )
    assert everything <= set(parts[f"{stack}-uninstall"].dependencies)

    # what is applied is what is committed: gotk-components.yaml + gotk-sync.yaml, object for object
    base = f"clusters/{stack}/flux-system"
    in_git = {
        key(o): o
        for name in ("gotk-components.yaml", "gotk-sync.yaml")
        for o in yamlio.load_all(committed(remote, f"{base}/{name}"))
    }
    flux_resources = [
        rec.by_urn[u]
        for u in custom_descendants(f"{stack}-flux") | custom_descendants(f"{stack}-sync")
    ]
    applied = {
        key(obj): obj
        for obj in (
            applied_object(r.inputs) for r in flux_resources if r.type.startswith("kubernetes:")
        )
        if key(obj) != ("Secret", "flux-system", "flux-system")  # credentials: cluster only
    }
    assert sorted(applied) == sorted(in_git)
    for k, obj in in_git.items():
        assert applied[k] == obj, f"{k} applied differs from the committed object"

    # the repository holds exactly what `fluxboot render` shows, and the outputs say so
    outputs = rec.outputs[cluster.urn]
    head = subprocess.run(
        ["git", "--git-dir", str(remote), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert outputs["commit"] == head and outputs["branch"] == "main"
    assert outputs["fluxVersion"] == "v2.9.4"
    assert outputs["components"] == [
        "source-controller",
        "kustomize-controller",
        "helm-controller",
        "notification-controller",
    ]
    assert outputs["deployPublicKey"].startswith("ssh-ed25519 ")
    assert outputs["kustomizations"] == {
        "flux-system": f"./clusters/{stack}",
        "core-apps": f"./core-apps/clusters/{stack}",
        "apps": f"./apps/clusters/{stack}",
    }
    golden = GOLDEN_DIR / stack
    for path in outputs["files"]:
        assert committed(remote, path) == (golden / path).read_text(), path
    assert set(outputs["files"]) == {
        p.relative_to(golden).as_posix()
        for p in golden.rglob("*")
        if p.is_file()
        and not p.relative_to(golden)
        .as_posix()
        .startswith(("core-apps/clusters", "apps/", "core-apps/base"))
    }

    # no secret anywhere in plain text: inputs, component outputs
    assert_never_plain(rec, list(SECRETS[stack].values()))


def test_bad_config_fails_the_program_with_the_cli_message(
    program: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project, _ = program
    path = project / "Pulumi.k8s-01.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["flux-gitops:kustomizations"]["apps"]["interval"] = "5 minutes"
    doc["config"]["flux-gitops:git"] = {"branch": "a..b"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))

    assert fluxboot(["--project", str(project), "render", "k8s-01", "--list"]) == 2
    cli_lines = capsys.readouterr().err.splitlines()
    assert len(cli_lines) == 2

    with pytest.raises(pulumi.RunError) as err:
        run_main(project, "k8s-01", SECRETS["k8s-01"])
    assert str(err.value).splitlines() == cli_lines


def test_missing_notification_secret_is_named(program: tuple[Path, Path]) -> None:
    project, _ = program
    secrets = {k: v for k, v in SECRETS["k8s-01"].items() if k != "slackErrorsWebhookUrl"}
    with pytest.raises(pulumi.RunError) as err:
        run_main(project, "k8s-01", secrets)
    assert str(err.value) == (
        "Pulumi.k8s-01.yaml: flux-gitops:slackErrorsWebhookUrl: not set: the credential of "
        "notification provider 'slack-errors'; run `pulumi config set --secret "
        "slackErrorsWebhookUrl <value> -s k8s-01`"
    )


def test_credentials_in_the_url_fail_the_program_with_the_cli_line(
    program: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project, _ = program
    token = "s3cr3t-in-url"
    path = project / "Pulumi.k8s-01.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["flux-gitops:git"]["pushUrl"] = f"https://ci:{token}@git.example.com/x.git"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))

    assert fluxboot(["--project", str(project), "render", "k8s-01", "--list"]) == 2
    cli_lines = capsys.readouterr().err.splitlines()
    with pytest.raises(pulumi.RunError) as err:
        run_main(project, "k8s-01", SECRETS["k8s-01"])
    assert str(err.value).splitlines() == cli_lines
    assert cli_lines[0].startswith("Pulumi.k8s-01.yaml: flux-gitops:git.pushUrl: ")
    assert token not in str(err.value)


def test_an_error_that_escapes_its_source_is_one_line_not_a_traceback(
    program: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.render import pipeline

    def disk_full(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(28, "No space left on device", "/cache/flux/v2.9.4/install.yaml")

    monkeypatch.setattr(pipeline, "load_install_manifest", disk_full)
    project, _ = program
    with pytest.raises(pulumi.RunError) as err:
        run_main(project, "k8s-01", SECRETS["k8s-01"])
    assert str(err.value) == "/cache/flux/v2.9.4/install.yaml: No space left on device"
