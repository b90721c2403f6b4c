"""Flux really reconciles what a stack commits: real controllers, Git over SSH and HTTP, Helm, Slack.

After `pulumi up` (the real engine, as in test_engine.py) has installed Flux and committed the
repository, the pinned release's controllers run as processes against the control plane (kwok
plays their pods; a process lives as long as its pod) and do the work the team relies on:
clone the repository with the stack's credentials over SSH (k8s-01: the generated deploy key,
the only key the server accepts; k8s-02: `gitSshPrivateKey`, then an http:// URL with
`gitToken`), apply `clusters/<c>/`, then core-apps, then apps, fetch the stand-in charts from a
local Helm repository and a local Git repository, and send alerts to a Slack stand-in.
Everything is on loopback; the timeline of each step is printed when the test ends.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cli.main import main as fluxboot
from tests.e2e.conftest import Cluster, Timeline
from tests.e2e.flux_world import (
    Chart,
    FluxControllers,
    HelmRepository,
    HttpGitServer,
    SlackStandIn,
    SshGitServer,
    bare_repository,
    wait_for,
)
from tests.e2e.pulumi_cli import PulumiProject, configure_stack
from tests.e2e.test_engine import git, hand_edit, show
from tests.e2e.toolchain import toolchain

pytestmark = pytest.mark.e2e

TOKEN = "e2e-git-token-d41d8cd98f00"  # the HTTP Git server's password, a stack's gitToken
READY_TIMEOUT = 240.0


# ------------------------------------------------------------------------------ stand-in charts


def _configmap(name: str, data: str) -> str:
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        f"  name: {name}\n  labels:\n    app.kubernetes.io/instance: {{{{ .Release.Name }}}}\n"
        f"data:\n{data}"
    )


def _deployment(name: str) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        f"  name: {name}\nspec:\n  replicas: 1\n"
        f"  selector: {{matchLabels: {{app: {name}}}}}\n"
        f"  template:\n    metadata: {{labels: {{app: {name}}}}}\n"
        f"    spec: {{containers: [{{name: main, image: 'registry.invalid/{name}:1'}}]}}\n"
    )


def _crd(group: str, kind: str, plural: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {
                "group": group,
                "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
                "scope": "Namespaced",
                "versions": [
                    {
                        "name": "v1beta1" if "victoria" in group else "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        },
        sort_keys=False,
    )


# same names as the seed's charts, versions inside the scaffolds' ranges
PROMETHEUS_COMMUNITY = [
    Chart(
        "kube-prometheus-stack",
        "75.1.0",
        {
            "configmap.yaml": _configmap(
                "kube-prometheus-stack",
                "  retention: {{ .Values.prometheus.prometheusSpec.retention | quote }}\n",
            ),
            "deployment.yaml": _deployment("prometheus-operator"),
        },
        crds={
            "servicemonitors.yaml": _crd(
                "monitoring.coreos.com", "ServiceMonitor", "servicemonitors"
            )
        },
        values="prometheus:\n  prometheusSpec:\n    retention: 10d\n",
    ),
    Chart(
        "prometheus-postgres-exporter",
        "6.10.0",
        {
            "configmap.yaml": _configmap(
                "{{ .Release.Name }}", "  site: {{ .Values.serviceMonitor.labels.site | quote }}\n"
            ),
        },
        values="serviceMonitor:\n  enabled: false\n  labels: {site: none}\nconfig: {}\n",
    ),
]
VICTORIAMETRICS = [
    Chart(
        "victoria-metrics-operator",
        "0.50.0",
        {"deployment.yaml": _deployment("victoria-metrics-operator")},
        crds={"vmclusters.yaml": _crd("operator.victoriametrics.com", "VMCluster", "vmclusters")},
    )
]
LOCAL_PATH = Chart(
    "local-path-provisioner",
    "0.0.31",
    {
        "storageclass.yaml": (
            "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n"
            "  name: {{ .Values.storageClass.name }}\nprovisioner: rancher.io/local-path\n"
            "reclaimPolicy: {{ .Values.storageClass.reclaimPolicy }}\n"
            "volumeBindingMode: WaitForFirstConsumer\n"
        ),
        "deployment.yaml": _deployment("local-path-provisioner"),
    },
    values="storageClass: {name: local-path, reclaimPolicy: Delete}\n",
)


BROKEN_CHART_PATCH = """\
patches:
  - target:
      kind: HelmRelease
      name: postgres-exporter-paris
    patch: |
      - op: replace
        path: /spec/chart/spec/version
        value: ">=99.0.0"
"""


# ------------------------------------------------------------------------------ the world


class World:
    """The servers, the repositories and the stand-ins of one test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.git_root = root / "git"
        self.git_root.mkdir(parents=True)
        self.remote = bare_repository(self.git_root / "gitops.git")
        self.local_path = bare_repository(self.git_root / "local-path-provisioner.git")

    def publish_local_path_chart(self) -> None:
        """Rancher keeps its chart in Git: a tag v0.0.31 with deploy/chart/local-path-provisioner."""
        work = self.root / "local-path-work"
        subprocess.run(["git", "clone", "-q", str(self.local_path), str(work)], check=True)
        LOCAL_PATH.write_dir(work / "deploy" / "chart" / "local-path-provisioner")
        subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(work), "commit", "-q", "-m", "chart"], check=True)
        subprocess.run(["git", "-C", str(work), "tag", "v0.0.31"], check=True)
        subprocess.run(
            ["git", "-C", str(work), "push", "-q", "origin", "HEAD:main", "v0.0.31"], check=True
        )


def flux_get(
    cluster: Cluster, resource: str, name: str, namespace: str = "flux-system"
) -> dict[str, Any]:
    out = cluster.kubectl("get", resource, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(out) if out.strip() else {}


def ready(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The Ready condition when it is True and current (observedGeneration), else None."""
    status = obj.get("status") or {}
    for cond in status.get("conditions") or []:
        current = status.get("observedGeneration") == obj.get("metadata", {}).get("generation")
        if cond.get("type") == "Ready" and cond.get("status") == "True" and current:
            return dict(cond)
    return None


def reconcile(cluster: Cluster, resource: str, name: str, namespace: str = "flux-system") -> None:
    """What `flux reconcile` does: set the requestedAt annotation."""
    stamp = datetime.datetime.now(datetime.UTC).isoformat()
    cluster.kubectl(
        "annotate", "--overwrite", resource, name, "-n", namespace,
        f"reconcile.fluxcd.io/requestedAt={stamp}",
    )  # fmt: skip


def sync_apps_timeout(cluster: Cluster, timeline: Timeline, step: str, value: str) -> None:
    """Have Flux fetch and apply now (`flux reconcile`), then wait, timed as `step`, until the
    apps Kustomization's spec.timeout is `value`."""
    reconcile(cluster, "gitrepository", "flux-system")
    reconcile(cluster, "kustomization", "flux-system")
    with timeline.step(step):
        wait_for(
            f"apps.spec.timeout {value}",
            lambda: (
                flux_get(cluster, "kustomization", "apps").get("spec", {}).get("timeout") == value
            ),
            120,
        )


def wait_ready(
    cluster: Cluster, flux: FluxControllers, resource: str, name: str, namespace: str = "flux-system",
    revision: str | None = None, timeout: float = READY_TIMEOUT,
) -> dict[str, Any]:  # fmt: skip
    def check() -> dict[str, Any] | None:
        flux.check_alive()
        obj = flux_get(cluster, resource, name, namespace)
        cond = ready(obj)
        if cond is None:
            return None
        if revision is not None:
            status = obj.get("status") or {}
            seen = (status.get("artifact") or {}).get("revision") or status.get(
                "lastAppliedRevision"
            )
            if seen is None or not str(seen).endswith(revision):
                return None
        return obj

    try:
        return dict(wait_for(f"{resource} {namespace}/{name} Ready", check, timeout))
    except AssertionError as err:
        obj = flux_get(cluster, resource, name, namespace)
        raise AssertionError(
            f"{err}\nstatus: {json.dumps(obj.get('status'), indent=1)}\n{flux.logs()}"
        ) from None


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "world")


@pytest.fixture
def controllers_bin(toolchain_bin: Path) -> Path:
    toolchain.build(
        ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"],
        out=lambda line: print(line, file=sys.__stderr__, flush=True),
    )
    return toolchain_bin


def start_flux(cluster: Cluster, bin_dir: Path, workdir: Path) -> FluxControllers:
    kubeconfig = workdir / "kubeconfig"
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig.write_text(cluster.kubeconfig)

    def pods() -> set[str]:
        out = cluster.kubectl(
            "get", "pods", "-n", "flux-system", "-o", "jsonpath={.items[*].metadata.labels.app}",
            check=False,
        )  # fmt: skip
        return set(out.split())

    return FluxControllers(bin_dir, workdir, kubeconfig, pods=pods)


def point_sources_at(project: PulumiProject, helm: HelmRepository) -> None:
    """The fleet's HelmRepositories (Pulumi.yaml, fleet-only) at the local Helm repository."""
    path = project.dir / "Pulumi.yaml"
    doc = yaml.safe_load(path.read_text())
    for source in doc["config"]["fleet"]["value"]["sources"]:
        source["url"] = helm.url(source["name"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


# ------------------------------------------------------------------------------ the test


def test_flux_reconciles_what_the_stacks_commit(
    pulumi_project: PulumiProject,
    control_planes: Callable[[str], Cluster],
    controllers_bin: Path,
    world: World,
    tmp_path: Path,
    timeline: Timeline,
) -> None:
    project = pulumi_project
    with (
        SshGitServer(tmp_path / "sshd") as sshd,
        HttpGitServer(
            world.git_root, "flux", TOKEN, public={"local-path-provisioner.git"}
        ) as http_git,
        HelmRepository(tmp_path / "helm") as helm,
        SlackStandIn() as slack,
    ):
        helm.publish("prometheus-community", PROMETHEUS_COMMUNITY)
        helm.publish("victoriametrics", VICTORIAMETRICS)
        world.publish_local_path_chart()
        point_sources_at(project, helm)

        # ---- k8s-01: ssh://, no gitSshPrivateKey: the generated deploy key is the only way in
        with timeline.step("k8s-01: control plane"):
            one = control_planes("k8s-01")
        configure_stack(
            project,
            "k8s-01",
            one.kubeconfig,
            world.remote,
            {
                "slackWebhookUrl": slack.url("flux-hook"),
                "slackErrorsWebhookUrl": slack.url("errors-hook"),
            },
            **{"git.url": sshd.url(world.remote), "git.knownHosts": sshd.known_hosts},
        )
        with timeline.step("k8s-01: pulumi up"):
            project.run("up", "--yes", "-s", "k8s-01")
        commit = git(world.remote, "rev-parse", "main").strip()
        sshd.authorize(project.outputs("k8s-01")["deployPublicKey"])
        # the scaffold is the team's: point the chart's Git source at the local copy
        hand_edit(
            world.remote,
            tmp_path,
            {
                "core-apps/base/local-path-provisioner/gitrepository.yaml": lambda t: t.replace(
                    "https://github.com/rancher/local-path-provisioner",
                    http_git.url(world.local_path),
                )
            },
        )
        commit = git(world.remote, "rev-parse", "main").strip()

        with start_flux(one, controllers_bin, tmp_path / "flux-k8s-01") as flux:
            reconcile(one, "gitrepository", "flux-system")
            with timeline.step(
                "1. GitRepository flux-system Ready at the commit (ssh, deploy key)"
            ):
                wait_ready(one, flux, "gitrepository", "flux-system", revision=commit)
            with timeline.step("1. Kustomization flux-system Ready"):
                wait_ready(one, flux, "kustomization", "flux-system", revision=commit)
            with timeline.step("1. core-apps Ready (charts installed)"):
                core = wait_ready(one, flux, "kustomization", "core-apps", revision=commit)
            with timeline.step("1. apps Ready"):
                apps = wait_ready(one, flux, "kustomization", "apps", revision=commit)
            core_at = ready(core)["lastTransitionTime"]  # type: ignore[index]
            apps_at = ready(apps)["lastTransitionTime"]  # type: ignore[index]
            assert apps_at >= core_at  # dependsOn: apps after core-apps

            for name in ("prometheus-community", "victoriametrics"):
                wait_ready(one, flux, "helmrepository", name)
            for name in (
                "kube-prometheus-operator",
                "victoriametrics-operator",
                "local-path-provisioner",
                "postgres-exporter-london",
                "postgres-exporter-milan",
                "postgres-exporter-paris",
            ):
                wait_ready(one, flux, "helmrelease", name)
            # postBuild.substitute: k8s-01's vmcluster_retention (30d) in an applied object
            vmcluster = json.loads(
                one.kubectl(
                    "get",
                    "vmclusters.operator.victoriametrics.com",
                    "vmcluster",
                    "-n",
                    "monitoring",
                    "-o",
                    "json",
                )
            )
            assert vmcluster["spec"]["retentionPeriod"] == "30d"
            assert (
                vmcluster["spec"]["vmstorage"]["storage"]["volumeClaimTemplate"]["spec"][
                    "storageClassName"
                ]
                == "local-path"
            )
            site = json.loads(
                one.kubectl(
                    "get", "configmap", "postgres-exporter-london", "-n", "monitoring", "-o", "json"
                )
            )
            assert site["data"]["site"] == "london"  # the HelmRelease's values reached the chart
            kubeconfig = tmp_path / "flux-k8s-01" / "kubeconfig"
            with timeline.step("1. fluxboot status: everything Ready"):
                assert fluxboot(["status", "--kubeconfig", str(kubeconfig)]) == 0

            # ---- 2. notifications
            with timeline.step("2. an event reaches Slack with the cluster name"):
                messages = wait_for(
                    "a message at the flux hook", lambda: slack.received("flux-hook"), 120
                )
            assert any("k8s-01" in json.dumps(m) for m in messages), messages
            # the errors Alert: error events only, minus its exclusionList ("waiting.*socket")
            post_event(flux, "error", "apply failed: waiting for the socket of the webhook")
            post_event(flux, "error", "apply failed: e2e error that must be delivered")
            post_event(flux, "info", "e2e info that the errors alert must not deliver")
            errors = wait_for(
                "the error at the errors hook",
                lambda: [
                    m for m in slack.received("errors-hook") if "must be delivered" in json.dumps(m)
                ],
                60,
            )
            time.sleep(3)  # the dropped ones would have arrived by now
            delivered = json.dumps(slack.received("errors-hook"))
            assert "waiting for the socket" not in delivered
            assert "must not deliver" not in delivered
            assert errors
            # a broken chart version (in k8s-01's own overlay, as a team would patch one
            # cluster): an error event from Flux itself arrives. The apps Kustomization then
            # waits out its health-check timeout, as Flux does; nothing below depends on it.
            hand_edit(
                world.remote,
                tmp_path,
                {"apps/clusters/k8s-01/kustomization.yaml": lambda t: t + BROKEN_CHART_PATCH},
            )
            reconcile(one, "gitrepository", "flux-system")
            with timeline.step("2. a broken chart version: error event at the errors hook"):
                wait_for(
                    "an error event naming the broken chart",
                    lambda: [m for m in slack.received("errors-hook") if "99.0.0" in json.dumps(m)],
                    180,
                )
            # ---- 3. a config edit reaches the cluster through Git at the next reconcile
            project.config_set(
                "k8s-01", "flux-gitops:kustomizations.apps.timeout", "20m", path=True
            )
            with timeline.step("3. pulumi up of a config edit"):
                project.run("up", "--yes", "-s", "k8s-01")
            commit = git(world.remote, "rev-parse", "main").strip()
            sync_apps_timeout(one, timeline, "3. Flux applies the edit", "20m")

            # ---- 4. a hand edit of a managed file reaches the cluster; pulumi up restores both
            hand_edit(
                world.remote,
                tmp_path,
                {"clusters/k8s-01/apps.yaml": lambda t: t.replace("timeout: 20m", "timeout: 7m")},
            )
            sync_apps_timeout(one, timeline, "4. the hand edit reaches the cluster", "7m")
            with timeline.step("4. pulumi up --refresh restores the repository"):
                project.run("up", "--yes", "--refresh", "-s", "k8s-01")
            assert "timeout: 20m" in show(world.remote, "clusters/k8s-01/apps.yaml")
            sync_apps_timeout(one, timeline, "4. ... and Flux the cluster", "20m")

            # ---- 6. k8s-02 syncs from the same repository: gitSshPrivateKey, then http + token
            with timeline.step("k8s-02: control plane"):
                two = control_planes("k8s-02")
            key = tmp_path / "k8s-02-key"
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
            )
            sshd.authorize((key.with_suffix(".pub")).read_text())
            configure_stack(
                project,
                "k8s-02",
                two.kubeconfig,
                world.remote,
                {"slackWebhookUrl": slack.url("flux-hook-02"), "gitSshPrivateKey": key.read_text()},
                **{"git.url": sshd.url(world.remote), "git.knownHosts": sshd.known_hosts},
            )
            with timeline.step("k8s-02: pulumi up"):
                project.run("up", "--yes", "-s", "k8s-02")
            commit = git(world.remote, "rev-parse", "main").strip()
            with start_flux(two, controllers_bin, tmp_path / "flux-k8s-02") as flux2:
                reconcile(two, "gitrepository", "flux-system")
                with timeline.step("6. k8s-02 synced (ssh, gitSshPrivateKey)"):
                    wait_ready(two, flux2, "kustomization", "flux-system", revision=commit)
                    wait_ready(two, flux2, "kustomization", "apps", revision=commit)
                assert (
                    flux_get(two, "kustomization", "flux-system")["spec"]["path"]
                    == "./clusters/k8s-02"
                )
                # only its own clusters/<c>/ (k8s-01's second provider and Alert are not here)
                assert flux_get(two, "alert", "errors") == {}
                assert flux_get(one, "alert", "errors") != {}
                # the same repository over http:// with gitToken
                project.config_set(
                    "k8s-02", "flux-gitops:git.url", http_git.url(world.remote), path=True
                )
                project.config_set("k8s-02", "flux-gitops:gitToken", TOKEN, secret=True)
                project.config_set("k8s-02", "flux-gitops:git.username", "flux", path=True)
                with timeline.step("6. k8s-02 switched to http:// + gitToken"):
                    project.run("up", "--yes", "-s", "k8s-02")
                    commit = git(world.remote, "rev-parse", "main").strip()
                    reconcile(two, "gitrepository", "flux-system")
                    repo = wait_ready(two, flux2, "gitrepository", "flux-system", revision=commit)
                assert repo["spec"]["url"].startswith("http://127.0.0.1:")
                listed = git(world.remote, "ls-tree", "-r", "--name-only", "main").split()
                for cluster in ("k8s-01", "k8s-02"):
                    assert f"clusters/{cluster}/apps.yaml" in listed

            # ---- 5. destroy: workloads stay, nothing hangs, no Flux CRD or controller left
            with timeline.step("5. pulumi destroy k8s-01"):
                project.run("destroy", "--yes", "-s", "k8s-01", timeout=600)
            assert [
                c
                for c in one.kubectl("get", "crd", "-o", "name").split()
                if "toolkit.fluxcd.io" in c
            ] == []
            assert flux.stopped.keys() == {
                "source-controller", "kustomize-controller", "helm-controller", "notification-controller",
            }  # fmt: skip
            for resource, name, namespace in (
                ("vmclusters.operator.victoriametrics.com", "vmcluster", "monitoring"),
                ("configmap", "postgres-exporter-london", "monitoring"),
                ("deployment", "victoria-metrics-operator", "monitoring"),
                ("storageclass", "local-path", ""),
            ):
                args = ["get", resource, name, "-o", "name"] + (
                    ["-n", namespace] if namespace else []
                )
                assert one.kubectl(*args).strip(), f"{resource} {name} was removed"
        timeline.note(
            "Slack stand-in received (first 200 characters of each):\n"
            + "\n".join("  " + json.dumps(m)[:200] for m in slack.received())
        )


def post_event(flux: FluxControllers, severity: str, message: str) -> None:
    """An event as a controller posts it to notification-controller (fluxcd/pkg/runtime/events)."""
    import urllib.request

    event = {
        "involvedObject": {
            "kind": "Kustomization",
            "namespace": "flux-system",
            "name": "apps",
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        },
        "severity": severity,
        "timestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message": message,
        "reason": "ReconciliationFailed" if severity == "error" else "ReconciliationSucceeded",
        "reportingController": "kustomize-controller",
        "reportingInstance": "kustomize-controller-e2e",
        "metadata": {"revision": "main@sha1:e2e"},
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{flux.events_port}/",
        data=json.dumps(event).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 202), response.status
