"""Byte for byte what `flux bootstrap` writes: our render against flux2's own generators.

The oracle is flux2's `pkg/manifestgen/{install,sync,kustomization}` at the pinned release,
compiled into the toolchain's `flux-oracle`, fed the release manifests the toolchain built
offline from the controllers' modules. For every row of the matrix (the settings `flux
bootstrap` has flags for), the three files of `clusters/<c>/flux-system/` this project renders
must be the oracle's bytes. The install manifest the renders read is the release's install.yaml
from the same offline build (so both sides start from the same release, and the release-asset
form of the manifest is exercised too).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.cli.main import main as fluxboot
from components.common import yamlio
from components.config.model import RawConfig, build_stack_config
from components.config.stack_files import load_stack_config
from components.render.pipeline import render_config
from tests.conftest import PROJECT_DIR
from tests.e2e import oracle
from tests.e2e.toolchain import toolchain

pytestmark = pytest.mark.e2e

SSH = "ssh://git@gitlab.com/kontur-private/operations/flux-gitops.git"
HTTPS = "https://gitlab.com/kontur-private/operations/flux-gitops.git"
KNOWN_HOSTS = (
    "gitlab.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf"
)


@pytest.fixture(scope="module")
def release(toolchain_bin: Path) -> Path:
    """The toolchain's bin dir, with the oracle and the offline-built release in place."""
    toolchain.build(["flux-oracle"], out=lambda _: None)
    return toolchain_bin


@pytest.fixture(scope="module")
def mirror() -> Path:
    """A manifests mirror holding the release's install.yaml (the release-asset form)."""
    return toolchain.flux_release_dir().parent


# (row id, our settings {flux: ..., git: ...}, the oracle's flags)
MATRIX: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("defaults-ssh", {}, {}),
    (
        "tolerations",
        {"flux": {"tolerationKeys": ["node-role.kubernetes.io/infra", "dedicated"]}},
        {"toleration_keys": ["node-role.kubernetes.io/infra", "dedicated"]},
    ),
    (
        "two-components",
        {"flux": {"components": ["source-controller", "kustomize-controller"]}},
        {"components": ["source-controller", "kustomize-controller"]},
    ),
    (
        "extra-components",
        {
            "flux": {
                "componentsExtra": ["image-reflector-controller", "image-automation-controller"]
            }
        },
        {"components_extra": ["image-reflector-controller", "image-automation-controller"]},
    ),
    (
        "registry-and-pull-secret",
        {"flux": {"registry": "registry.example.com/fluxcd", "imagePullSecret": "regcred"}},
        {"registry": "registry.example.com/fluxcd", "image_pull_secret": "regcred"},
    ),
    ("no-network-policy", {"flux": {"networkPolicy": False}}, {"network_policy": False}),
    (
        "cluster-domain",
        {"flux": {"clusterDomain": "cluster.example"}},
        {"cluster_domain": "cluster.example"},
    ),
    ("log-level", {"flux": {"logLevel": "debug"}}, {"log_level": "debug"}),
    (
        "watch-own-namespace",
        {"flux": {"watchAllNamespaces": False}},
        {"watch_all_namespaces": False},
    ),
    (
        "https-branch-interval",
        {"git": {"url": HTTPS, "branch": "production", "interval": "90s"}},
        {"url": HTTPS, "branch": "production", "interval": "90s"},
    ),
]


def _ours(settings: dict[str, Any], mirror: Path) -> dict[str, str]:
    git = {"url": SSH, "knownHosts": KNOWN_HOSTS, **settings.get("git", {})}
    config = build_stack_config(
        RawConfig(
            stack="k8s-01",
            project={"fleet": {"git": git, "flux": {"version": toolchain.PINS["flux"]["release"]}}},
            stack_values={k: v for k, v in settings.items() if k != "git"},
            secret=frozenset(),
        )
    )
    files = render_config(config, PROJECT_DIR, mirror).files
    base = "clusters/k8s-01/flux-system"
    return {name: files[f"{base}/{name}"].content for name in oracle.FILES}


@pytest.mark.parametrize(("row", "ours", "flags"), MATRIX, ids=[r[0] for r in MATRIX])
def test_flux_system_is_byte_identical_to_flux_bootstrap(
    release: Path,
    mirror: Path,
    tmp_path: Path,
    row: str,
    ours: dict[str, Any],
    flags: dict[str, Any],
) -> None:
    theirs = oracle.bootstrap(release, tmp_path, **{"url": SSH, "path": "clusters/k8s-01", **flags})
    assert _ours(ours, mirror) == theirs


def test_patches_are_the_only_difference(release: Path, mirror: Path, tmp_path: Path) -> None:
    """flux.patches has no flux flag: the files differ by exactly the patch."""
    patch = {
        "patch": "- op: add\n  path: /spec/template/spec/containers/0/args/-\n"
        "  value: --concurrent=20\n",
        "target": {"kind": "Deployment", "name": "kustomize-controller"},
    }
    theirs = oracle.bootstrap(release, tmp_path, url=SSH, path="clusters/k8s-01")
    ours = _ours({"flux": {"patches": [patch]}}, mirror)
    assert ours["gotk-components.yaml"] == theirs["gotk-components.yaml"]
    assert ours["gotk-sync.yaml"] == theirs["gotk-sync.yaml"]
    theirs_k = yamlio.load(theirs["kustomization.yaml"])
    ours_k = yamlio.load(ours["kustomization.yaml"])
    assert ours_k == {**theirs_k, "patches": [patch]}
    without = dict(ours_k)
    del without["patches"]
    assert yamlio.dump_flux(without) == theirs["kustomization.yaml"]


@pytest.mark.parametrize("stack", ["k8s-01", "k8s-02"])
def test_committed_stacks_are_what_flux_bootstrap_writes(
    release: Path, mirror: Path, tmp_path: Path, stack: str
) -> None:
    config = load_stack_config(PROJECT_DIR, stack)
    files = render_config(config, PROJECT_DIR, mirror).files
    flux = config.settings.flux
    theirs = oracle.bootstrap(
        release,
        tmp_path,
        url=config.settings.git.url,
        path=f"clusters/{stack}",
        branch=config.settings.git.branch,
        toleration_keys=list(flux.toleration_keys),
    )
    for name in oracle.FILES:
        assert files[f"clusters/{stack}/flux-system/{name}"].content == theirs[name], name


def _push_k8s_01(mirror: Path, remote: Path, *flags: str) -> int:
    """`fluxboot push k8s-01` into `remote`; its exit code."""
    args = ["--project", str(PROJECT_DIR), "--manifests-dir", str(mirror), "push", "k8s-01"]
    return fluxboot([*args, "--repo", str(remote), *flags])


def test_a_bootstrapped_repository_is_taken_over_without_a_commit(
    release: Path, mirror: Path, tmp_path: Path
) -> None:
    """The repository as flux bootstrap left it (the oracle's files), plus everything else the
    stack manages: `fluxboot push` finds nothing to change in flux-system/."""
    remote = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    assert _push_k8s_01(mirror, remote, "--create-branch") == 0
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True)
    config = load_stack_config(PROJECT_DIR, "k8s-01")
    written = oracle.bootstrap(
        release, work, url=config.settings.git.url, path="clusters/k8s-01", branch="main"
    )
    assert written  # the oracle rewrote the three files in the clone
    status = subprocess.run(
        ["git", "-C", str(work), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == ""  # flux bootstrap writes the very bytes the push committed
    head = subprocess.run(
        ["git", "--git-dir", str(remote), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert _push_k8s_01(mirror, remote) == 0
    assert (
        subprocess.run(
            ["git", "--git-dir", str(remote), "rev-parse", "main"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        == head
    )  # commits made: 0


def test_the_offline_release_is_the_real_one(release: Path, tmp_path: Path) -> None:
    """The oracle's route to the release manifests (the controllers' config/ built as their
    releases build them) gives the real `flux install --export` output of v2.9.4 (test data)."""
    from tests.flux_testdata import manifest_path

    real = manifest_path("v2.9.4")
    theirs = oracle.bootstrap(release, tmp_path, url=SSH, path="clusters/k8s-01")
    assert theirs["gotk-components.yaml"] == real.read_text()
