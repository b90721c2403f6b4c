"""The real Pulumi engine, end to end: preview, up, refresh, destroy against real control planes.

What users run, with nothing mocked: the toolchain's `pulumi` CLI and Python language host run
this program (a throwaway copy of it) with a local `file://` backend and passphrase secrets; the
Kubernetes provider plugin applies to a local Kubernetes 1.34 control plane (kwok plays the
nodes, so Deployments really roll out); the dynamic providers (repository, deploy key, uninstall)
are pickled and run by the engine's provider process; the GitOps repository is a local bare one.

Each step is timed; the timeline is printed at the end of each test (pytest -s, or the report's
"Captured stderr" of a failure).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT_DIR
from tests.e2e import oracle
from tests.e2e.conftest import Cluster, Timeline
from tests.e2e.pulumi_cli import (
    PulumiProject,
    Run,
    configure_stack,
    json_preview_steps,
    ops_of,
)
from tests.e2e.toolchain import toolchain

pytestmark = pytest.mark.e2e

SLACK = {
    "slackWebhookUrl": "https://hooks.slack.invalid/services/T000/B000/e2e-flux-secret",
    "slackErrorsWebhookUrl": "https://hooks.slack.invalid/services/T000/B001/e2e-errors-secret",
}
FLUX_CRD_GROUP = "toolkit.fluxcd.io"


# ------------------------------------------------------------------------------------ helpers


def git(remote: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), *args], check=True, capture_output=True, text=True
    ).stdout


def show(remote: Path, path: str, ref: str = "main") -> str:
    return git(remote, "show", f"{ref}:{path}")


def commits(remote: Path) -> int:
    return int(git(remote, "rev-list", "--count", "main").strip() or 0)


def hand_edit(remote: Path, tmp: Path, edits: dict[str, Callable[[str], str]]) -> None:
    """Clone, change files as a person would, commit and push."""
    work = tmp / f"hand-edit-{time.monotonic_ns()}"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True)
    for path, change in edits.items():
        target = work / path
        target.write_text(change(target.read_text()))
    subprocess.run(["git", "-C", str(work), "commit", "-q", "-am", "a hand edit"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "main"], check=True)


def checkout(remote: Path, tmp: Path) -> Path:
    work = tmp / f"checkout-{time.monotonic_ns()}"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True)
    return work


def prepare_stack(
    project: PulumiProject, stack: str, cluster: Cluster, remote: Path, **settings: str
) -> None:
    """The stack's config as a user sets it, with the Slack credentials its providers need."""
    keys = ["slackWebhookUrl", *(["slackErrorsWebhookUrl"] if stack == "k8s-01" else [])]
    configure_stack(
        project, stack, cluster.kubeconfig, remote, {k: SLACK[k] for k in keys}, **settings
    )


def objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def refs(docs: list[dict[str, Any]]) -> list[str]:
    """`kind/namespace/name` of each object."""
    return sorted(
        f"{d['kind']}/{d['metadata'].get('namespace', '')}/{d['metadata']['name']}" for d in docs
    )


def live(cluster: Cluster, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cluster's current version of each object (missing ones are left out)."""
    out = cluster.kubectl(
        "get", "--ignore-not-found", "-o", "json", "-f", "-", input=yaml.safe_dump_all(docs)
    )
    if not out.strip():
        return []
    loaded = json.loads(out)
    return list(loaded["items"]) if loaded.get("kind") == "List" else [loaded]


def uids(cluster: Cluster, *args: str) -> dict[str, str]:
    """name -> uid of what `kubectl get ARGS` lists."""
    loaded = json.loads(cluster.kubectl("get", *args, "-o", "json"))
    return {i["metadata"]["name"]: i["metadata"]["uid"] for i in loaded["items"]}


def flux_crds(cluster: Cluster) -> list[str]:
    return [
        name
        for name in cluster.kubectl("get", "crd", "-o", "name").split()
        if name.endswith(FLUX_CRD_GROUP)
    ]


def diagnostics(run: Run) -> str:
    """The "Diagnostics:" section of a preview/up: what the engine reports as warnings/errors
    (the provider's progress lines while a Deployment rolls out are not diagnostics)."""
    text = run.stdout
    if "\nDiagnostics:\n" not in text:
        return ""
    section = text.split("\nDiagnostics:\n", 1)[1]
    for end in ("\nOutputs:\n", "\nResources:\n"):
        section = section.split(end, 1)[0]
    return section


def assert_clean(run: Run) -> None:
    """No traceback, and no warning or error diagnostic."""
    assert "Traceback" not in run.output, run
    assert diagnostics(run) == "", run
    assert run.stderr == "", run


def deployments_rolled_out(cluster: Cluster, namespace: str) -> dict[str, bool]:
    loaded = json.loads(cluster.kubectl("get", "deployments", "-n", namespace, "-o", "json"))
    return {
        d["metadata"]["name"]: (
            d["status"].get("updatedReplicas") == d["spec"]["replicas"]
            and d["status"].get("availableReplicas") == d["spec"]["replicas"]
        )
        for d in loaded["items"]
    }


# ------------------------------------------------------------------------------------ tests


def test_config_errors_fail_the_preview_with_the_cli_line(
    pulumi_project: PulumiProject, gitops_remote: Path, timeline: Timeline
) -> None:
    """A bad value, a missing setting, a missing secret: one line, as `fluxboot` prints it."""
    project = pulumi_project
    project.stack_init("k8s-01")
    project.config_set("k8s-01", "flux-gitops:git.pushUrl", str(gitops_remote), path=True)
    for key, value in SLACK.items():
        project.config_set("k8s-01", f"flux-gitops:{key}", value, secret=True)
    stack_file = project.dir / "Pulumi.k8s-01.yaml"
    project_file = project.dir / "Pulumi.yaml"
    good_stack, good_project = stack_file.read_text(), project_file.read_text()

    def fluxboot_lines() -> list[str]:
        proc = subprocess.run(
            [str(PROJECT_DIR / ".venv" / "bin" / "fluxboot"), "render", "k8s-01", "--list"],
            cwd=project.dir,
            env=project.env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2, proc
        return proc.stderr.splitlines()

    def preview_fails_with(lines: list[str]) -> Run:
        run = project.run("preview", "-s", "k8s-01", check=False)
        assert run.returncode != 0, run
        assert "Traceback" not in run.output, run
        for line in lines:
            assert line in run.output.splitlines() or f"error: {line}" in run.output, (line, run)
        return run

    with timeline.step("1a. invalid duration"):
        project.config_set(
            "k8s-01", "flux-gitops:kustomizations.apps.timeout", "5 minutes", path=True
        )
        cli = fluxboot_lines()
        assert cli == [
            "Pulumi.k8s-01.yaml: flux-gitops:kustomizations.apps.timeout: '5 minutes' is not a "
            "duration; write it like 30s, 5m, 1h or 1h30m"
        ]
        preview_fails_with(cli)
        stack_file.write_text(good_stack)

    with timeline.step("1b. knownHosts missing for an ssh:// URL"):
        doc = yaml.safe_load(good_project)
        del doc["config"]["fleet"]["value"]["git"]["knownHosts"]
        project_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        cli = fluxboot_lines()
        assert len(cli) == 1 and "flux-gitops:git.knownHosts: required for the ssh:// URL" in cli[0]
        preview_fails_with(cli)
        project_file.write_text(good_project)

    with timeline.step("1c. a provider's secret unset"):
        project.config_rm("k8s-01", "flux-gitops:slackErrorsWebhookUrl")
        preview_fails_with(
            [
                "Pulumi.k8s-01.yaml: flux-gitops:slackErrorsWebhookUrl: not set: the credential "
                "of notification provider 'slack-errors'; run `pulumi config set --secret "
                "slackErrorsWebhookUrl <value> -s k8s-01`"
            ]
        )
    # nothing was committed by any of them
    assert git(gitops_remote, "for-each-ref").strip() == ""


def test_two_clusters_one_repository(
    pulumi_project: PulumiProject,
    control_planes: Callable[[str], Cluster],
    gitops_remote: Path,
    tmp_path: Path,
    timeline: Timeline,
) -> None:
    """k8s-01 and k8s-02: up, no perpetual diff, an edit, drift, an upgrade, both destroyed."""
    project, remote = pulumi_project, gitops_remote
    with timeline.step("start control plane k8s-01"):
        one = control_planes("k8s-01")
    prepare_stack(project, "k8s-01", one, remote)

    # 2. first preview: creates only, nothing else said
    with timeline.step("2. first preview k8s-01"):
        first = project.run("preview", "-s", "k8s-01")
    assert_clean(first)
    assert set(ops_of(json_preview_steps(project.run("preview", "-s", "k8s-01", "--json")))) == {
        "create"
    }

    # 3. first up: one commit; every object of clusters/k8s-01/flux-system on the cluster
    with timeline.step("3. first up k8s-01"):
        up = project.run("up", "--yes", "-s", "k8s-01")
    assert_clean(up)
    assert commits(remote) == 1
    tree = checkout(remote, tmp_path)
    built = objects(one.kubectl("kustomize", str(tree / "clusters" / "k8s-01" / "flux-system")))
    assert len(built) == 34  # the 32 install objects of v2.9.4, GitRepository, Kustomization
    assert refs(live(one, built)) == refs(built)
    assert deployments_rolled_out(one, "flux-system") == {
        "helm-controller": True,
        "kustomize-controller": True,
        "notification-controller": True,
        "source-controller": True,
    }
    secret_keys = {
        name: sorted(
            json.loads(one.kubectl("get", "secret", name, "-n", "flux-system", "-o", "json"))[
                "data"
            ]
        )
        for name in ("flux-system", "slack-webhook", "slack-errors-webhook")
    }
    assert secret_keys == {
        "flux-system": ["identity", "identity.pub", "known_hosts"],
        "slack-webhook": ["address"],
        "slack-errors-webhook": ["address"],
    }
    outputs = project.outputs("k8s-01")
    assert outputs["cluster"] == "k8s-01" and outputs["fluxVersion"] == "v2.9.4"
    assert outputs["commit"] == git(remote, "rev-parse", "main").strip()
    assert outputs["branch"] == "main"
    assert outputs["components"] == [
        "source-controller",
        "kustomize-controller",
        "helm-controller",
        "notification-controller",
    ]
    assert "clusters/k8s-01/apps.yaml" in outputs["files"]
    assert outputs["deployPublicKey"].startswith("ssh-ed25519 ")
    assert outputs["kustomizations"] == {
        "flux-system": "./clusters/k8s-01",
        "core-apps": "./core-apps/clusters/k8s-01",
        "apps": "./apps/clusters/k8s-01",
    }
    plain = json.dumps(outputs) + json.dumps(project.export("k8s-01"))
    for secret in [*SLACK.values(), one.kubeconfig.split("client-key-data: ")[1][:40]]:
        assert secret not in plain

    # 4. no perpetual diff, also after Flux has applied the same objects under its own manager
    with timeline.step("4. preview + refresh --expect-no-changes"):
        project.run("preview", "-s", "k8s-01", "--expect-no-changes")
        project.run("refresh", "--yes", "-s", "k8s-01", "--expect-no-changes")
    with timeline.step("4. kustomize-controller's server-side apply, then no change again"):
        one.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "kustomize-controller",
            "-k",
            str(tree / "clusters" / "k8s-01" / "flux-system"),
        )
        project.run("preview", "-s", "k8s-01", "--expect-no-changes")
        project.run("refresh", "--yes", "-s", "k8s-01", "--expect-no-changes")

    # 5. a stack config edit: exactly the apps.yaml change, in the repository resource only
    project.config_set("k8s-01", "flux-gitops:kustomizations.apps.timeout", "20m", path=True)
    with timeline.step("5. preview --diff of a config edit"):
        changed = ops_of(json_preview_steps(project.run("preview", "-s", "k8s-01", "--json")))
        diff = project.run("preview", "--diff", "-s", "k8s-01")
    assert list(changed) == ["update"] and len(changed["update"]) == 1
    assert changed["update"][0].endswith("flux-gitops:GitOpsFiles::k8s-01-repo")
    # only the changed file, and in it only the changed value is marked
    assert "clusters/k8s-01/apps.yaml" in diff.stdout
    assert re.search(r'~ timeout\s*: "15m" => "20m"', diff.stdout), diff
    assert "gotk-components.yaml" not in diff.stdout and "core-apps.yaml" not in diff.stdout
    assert len(diff.stdout.splitlines()) < 80, diff
    with timeline.step("5. up of the edit"):
        project.run("up", "--yes", "-s", "k8s-01")
    assert commits(remote) == 2
    assert "  timeout: 20m\n" in show(remote, "clusters/k8s-01/apps.yaml")

    # 6. drift: a hand edit of a managed file is shown and restored; a scaffold is never touched
    managed, scaffold = (
        "clusters/k8s-01/core-apps.yaml",
        "core-apps/clusters/k8s-01/kustomization.yaml",
    )
    before = show(remote, managed)
    hand_edit(
        remote,
        tmp_path,
        {
            managed: lambda t: t.replace("prune: true", "prune: false"),
            scaffold: lambda t: t + "# kept by people\n",
        },
    )
    with timeline.step("6. refresh and preview see the drift"):
        refreshed = project.run("refresh", "--yes", "-s", "k8s-01")
        drift = project.run("preview", "--diff", "-s", "k8s-01", "--expect-no-changes", check=False)
    assert "GitOpsFiles" in refreshed.stdout and "k8s-01-repo" in refreshed.stdout
    assert drift.returncode != 0 and managed in drift.stdout, drift
    assert "update" in drift.stdout and "GitOpsFiles" in drift.stdout
    with timeline.step("6. up restores the managed file"):
        project.run("up", "--yes", "-s", "k8s-01")
    assert show(remote, managed) == before
    assert show(remote, scaffold).endswith("# kept by people\n")

    # 10. a second cluster, on Flux v2.8.8, into the same repository
    with timeline.step("start control plane k8s-02"):
        two = control_planes("k8s-02")
    prepare_stack(project, "k8s-02", two, remote, **{"flux.version": "v2.8.8"})
    with timeline.step("10. up k8s-02 (v2.8.8)"):
        project.run("up", "--yes", "-s", "k8s-02")
    for cluster in ("k8s-01", "k8s-02"):
        for name in ("apps.yaml", "core-apps.yaml", "flux-system/gotk-components.yaml"):
            assert show(remote, f"clusters/{cluster}/{name}")
    assert "# Flux Version: v2.8.8" in show(
        remote, "clusters/k8s-02/flux-system/gotk-components.yaml"
    )
    assert show(remote, "clusters/k8s-01/apps.yaml") == show(
        remote, "clusters/k8s-01/apps.yaml", "main~1"
    )

    # 7. upgrade k8s-02 to v2.9.4: in place, CRDs, namespace and Flux objects survive
    two.kubectl("apply", "-f", "-", input=_extra_source())
    crd_uids = uids(two, "crd")
    ns_uid = uids(two, "namespace")["flux-system"]
    source_uid = uids(two, "gitrepositories.source.toolkit.fluxcd.io", "-n", "flux-system")[
        "podinfo"
    ]
    project.config_set("k8s-02", "flux-gitops:flux.version", "v2.9.4", path=True)
    with timeline.step("7. preview --diff of the upgrade"):
        plan = ops_of(json_preview_steps(project.run("preview", "-s", "k8s-02", "--json")))
        upgrade_diff = project.run("preview", "--diff", "-s", "k8s-02")
    assert not {"replace", "create-replacement", "delete-replaced", "delete"} & set(plan), plan
    diff_lines = len(upgrade_diff.stdout.splitlines())
    timeline.note(f"upgrade preview --diff: {diff_lines} lines, {len(upgrade_diff.stdout)} bytes")
    with timeline.step("7. up of the upgrade"):
        project.run("up", "--yes", "-s", "k8s-02")
    assert uids(two, "namespace")["flux-system"] == ns_uid
    after = uids(two, "crd")
    assert {n: after.get(n) for n in crd_uids if n.endswith(FLUX_CRD_GROUP)} == {
        n: u for n, u in crd_uids.items() if n.endswith(FLUX_CRD_GROUP)
    }
    assert (
        uids(two, "gitrepositories.source.toolkit.fluxcd.io", "-n", "flux-system")["podinfo"]
        == source_uid
    )
    assert all(deployments_rolled_out(two, "flux-system").values())

    # 9. destroy k8s-01: bounded, Flux's workloads stay, CRDs and namespace go, files stay
    one.kubectl("apply", "-f", "-", input=_flux_applied_workload())
    with timeline.step("9. destroy k8s-01"):
        project.run("destroy", "--yes", "-s", "k8s-01", timeout=600)
    assert flux_crds(one) == []
    assert "flux-system" not in uids(one, "namespace")
    assert uids(one, "deployment", "-n", "podinfo").keys() == {"podinfo"}
    assert deployments_rolled_out(one, "podinfo") == {"podinfo": True}
    assert show(remote, "clusters/k8s-01/apps.yaml")

    # 9. destroy k8s-02 with keepNamespace and deleteFiles: the namespace stays, its files go
    project.config_set("k8s-02", "flux-gitops:flux.keepNamespace", "true", path=True)
    project.config_set("k8s-02", "flux-gitops:git.deleteFiles", "true", path=True)
    with timeline.step("9. up (record keepNamespace, deleteFiles), destroy k8s-02"):
        project.run("up", "--yes", "-s", "k8s-02")
        project.run("destroy", "--yes", "-s", "k8s-02", timeout=600)
    assert flux_crds(two) == []
    assert "flux-system" in uids(two, "namespace")
    listed = git(remote, "ls-tree", "-r", "--name-only", "main").split()
    assert not any(p.startswith("clusters/k8s-02/") for p in listed)
    assert "clusters/k8s-01/apps.yaml" in listed
    assert any(p.startswith("core-apps/sources/") for p in listed)  # fleet files stay


def _extra_source() -> str:
    """A Flux object a person created: it must survive an upgrade."""
    return (
        "apiVersion: source.toolkit.fluxcd.io/v1\n"
        "kind: GitRepository\n"
        "metadata: {name: podinfo, namespace: flux-system}\n"
        "spec: {interval: 5m0s, url: 'https://example.invalid/podinfo.git', ref: {branch: main}}\n"
    )


def _flux_applied_workload() -> str:
    """A workload as kustomize-controller leaves it, and the Kustomization holding it (with
    Flux's finalizer, as the controller sets it)."""
    return (
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: podinfo}\n---\n"
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        "  name: podinfo\n"
        "  namespace: podinfo\n"
        "  labels:\n"
        "    kustomize.toolkit.fluxcd.io/name: apps\n"
        "    kustomize.toolkit.fluxcd.io/namespace: flux-system\n"
        "spec:\n"
        "  replicas: 1\n"
        "  selector: {matchLabels: {app: podinfo}}\n"
        "  template:\n"
        "    metadata: {labels: {app: podinfo}}\n"
        "    spec: {containers: [{name: podinfo, image: ghcr.io/stefanprodan/podinfo:6.7.0}]}\n"
        "---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\n"
        "kind: Kustomization\n"
        "metadata:\n"
        "  name: apps\n"
        "  namespace: flux-system\n"
        "  finalizers: [finalizers.fluxcd.io]\n"
        "spec:\n"
        "  interval: 10m0s\n"
        "  path: ./apps/clusters/k8s-01\n"
        "  prune: true\n"
        "  sourceRef: {kind: GitRepository, name: flux-system}\n"
    )


def test_takeover_of_a_flux_bootstrap(
    pulumi_project: PulumiProject,
    control_planes: Callable[[str], Cluster],
    gitops_remote: Path,
    tmp_path: Path,
    timeline: Timeline,
) -> None:
    """A cluster and repository as `flux bootstrap` leaves them (its files written by flux2's own
    generators, tests/e2e/oracle.py): adopted with nothing deleted or replaced, no commit in
    flux-system/, and no change to any object the bootstrap created (same UID, same generation)."""
    project, remote = pulumi_project, gitops_remote
    toolchain.build(["flux-oracle"], out=lambda _: None)
    with timeline.step("start control plane"):
        cluster = control_planes("k8s-01")
    with timeline.step("8. flux bootstrap's commit and apply"):
        work = tmp_path / "bootstrap"
        subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
        written = oracle.bootstrap(
            project.bin_dir,
            work,
            url="ssh://git@gitlab.com/kontur-private/operations/flux-gitops.git",
            path="clusters/k8s-01",
        )
        subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
        subprocess.run(
            ["git", "-C", str(work), "commit", "-q", "-m", "Add Flux sync manifests"], check=True
        )
        subprocess.run(["git", "-C", str(work), "push", "-q", str(remote), "main"], check=True)
        # flux bootstrap applies with server-side apply, field manager "flux"
        components = written["gotk-components.yaml"]
        cluster.kubectl(
            "apply", "--server-side", "--field-manager", "flux", "-f", "-", input=components
        )
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        cluster.kubectl(
            "create",
            "secret",
            "generic",
            "flux-system",
            "-n",
            "flux-system",
            "--from-literal=identity=bootstrap-key",
            "--from-literal=known_hosts=gitlab.com x",
        )
        cluster.kubectl(
            "apply",
            "--server-side",
            "--field-manager",
            "flux",
            "-f",
            "-",
            input=written["gotk-sync.yaml"],
        )
    bootstrapped = objects(components) + objects(written["gotk-sync.yaml"])

    def identity() -> dict[str, tuple[str, str, int]]:
        """kind/name -> (uid, everything but metadata and status, generation). A Deployment's
        generation also counts annotation changes (its strategy copies them to ReplicaSets), and
        adopting adds Pulumi's `pulumi.com/patchForce`: for Deployments the rollout revision
        stands in for it (unchanged: nothing rolled out)."""
        out = {}
        for o in live(cluster, bootstrapped):
            meta = o["metadata"]
            content = {k: v for k, v in o.items() if k not in ("metadata", "status")}
            marker = (
                int((meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", 0))
                if o["kind"] == "Deployment"
                else int(meta.get("generation") or 0)
            )
            out[f"{o['kind']}/{meta['name']}"] = (
                meta["uid"],
                json.dumps(content, sort_keys=True),
                marker,
            )
        return out

    before = identity()
    assert len(before) == len(bootstrapped) == 34
    bootstrap_commit = git(remote, "rev-parse", "main").strip()

    prepare_stack(project, "k8s-01", cluster, remote)
    with timeline.step("8. preview of the takeover"):
        plan = ops_of(json_preview_steps(project.run("preview", "-s", "k8s-01", "--json")))
    assert not {"delete", "replace", "create-replacement", "delete-replaced"} & set(plan), plan
    with timeline.step("8. up (adopt)"):
        project.run("up", "--yes", "-s", "k8s-01")
    # the same objects, unchanged: adopted in place (the API server bumps generation on any
    # change of spec, so an equal generation means Pulumi applied exactly what was there)
    after = identity()
    assert {k: v for k, v in after.items() if v != before[k]} == {}
    # the stack's commit adds its other files; flux-system/ is what flux bootstrap wrote
    changed = git(remote, "diff", "--name-only", bootstrap_commit, "main").split()
    assert changed and not [p for p in changed if p.startswith("clusters/k8s-01/flux-system/")]
    with timeline.step("8. no change after the takeover"):
        project.run("preview", "-s", "k8s-01", "--expect-no-changes")
