"""`GitOpsFiles`: the provider's CRUD methods called directly against real repositories, and
the resource registered under `pulumi.runtime.set_mocks` (secret credentials)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from components.common.repofiles import RepoFile, RepoFiles
from components.config.model import GitSettings
from components.git_resource import (
    STATE_FORMAT,
    GitOpsFiles,
    GitOpsFilesArgs,
    GitOpsFilesProvider,
    digest,
    planned_changes,
)

FAKE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "c2VjcmV0LWtleS1ib2R5LXNlY3JldC1rZXktYm9keQ==\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def git(*args: str, cwd: Path | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Person",
        "GIT_AUTHOR_EMAIL": "person@example.org",
        "GIT_COMMITTER_NAME": "Person",
        "GIT_COMMITTER_EMAIL": "person@example.org",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    work = tmp_path / "seed"
    git("init", "--quiet", "--initial-branch=main", str(work))
    (work / "README.md").write_text("# fleet\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "seed", cwd=work)
    git("push", "--quiet", str(bare), "main", cwd=work)
    return bare


def hand_edit(remote: Path, changes: Mapping[str, str | None]) -> None:
    work = remote.parent / "hand"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    git("clone", "--quiet", str(remote), str(work))
    for path, content in changes.items():
        if content is None:
            git("rm", "--quiet", path, cwd=work)
        else:
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(content)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "hand edit", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)


def tree(remote: Path, branch: str = "main") -> dict[str, str]:
    paths = git("ls-tree", "-r", "--name-only", "-z", branch, cwd=remote).split("\0")
    return {p: git("show", f"{branch}:{p}", cwd=remote) for p in paths if p}


def commits(remote: Path) -> int:
    return int(git("rev-list", "--count", "main", cwd=remote))


SYNC = "clusters/k8s-01/flux-system/gotk-sync.yaml"
APPS = "clusters/k8s-01/apps.yaml"
SOURCE = "core-apps/sources/podinfo.yaml"
SCAFFOLD = "core-apps/clusters/k8s-01/kustomization.yaml"


def props(remote: Path, **over: Any) -> dict[str, Any]:
    """Inputs as the engine hands them to the provider (secrets already unwrapped)."""
    base: dict[str, Any] = {
        "repo_url": str(remote),
        "branch": "main",
        "stack": "k8s-01",
        "managed": {SYNC: "sync: 1\n", APPS: "apps: 1\n"},
        "fleet": {SOURCE: "kind: HelmRepository\n"},
        "scaffolds": {
            SCAFFOLD: {"content": "resources: []\n", "guard": "core-apps/clusters/k8s-01"}
        },
        "author_name": "flux-gitops",
        "author_email": "flux-gitops@noreply.invalid",
        "message_prefix": "",
        "push_mode": "direct",
        "create_branch": False,
        "delete_files": False,
        "username": "git",
        "known_hosts": None,
        "ssh_private_key": None,
        "token": None,
        "__provider": "serialized",
    }
    base.update(over)
    return base


def test_create_pushes_and_returns_outputs(remote: Path) -> None:
    p = GitOpsFilesProvider()

    created = p.create(props(remote))

    assert created.id == "k8s-01"
    outs = created.outs or {}
    assert outs["commit_id"] == git("rev-parse", "main", cwd=remote).strip()
    assert outs["pushed_branch"] == "main"
    assert outs["files"] == sorted([APPS, SYNC, SOURCE])
    assert outs["created_scaffolds"] == [SCAFFOLD]
    assert sorted(outs["changed_files"]) == sorted([APPS, SYNC, SOURCE, SCAFFOLD])
    assert "__provider" not in outs  # the engine adds it back itself
    assert tree(remote)[SCAFFOLD] == "resources: []\n"
    # the state records digests, not the files (those are the inputs)
    assert outs["managed"] == {SYNC: digest("sync: 1\n"), APPS: digest("apps: 1\n")}
    assert outs["scaffolds"] == {SCAFFOLD: digest("resources: []\n")}
    assert outs["drift"] == {} and outs["state_format"] == STATE_FORMAT
    assert "apps: 1" not in repr(outs)


def test_diff_lists_the_paths_that_change(remote: Path) -> None:
    p = GitOpsFilesProvider()
    olds = {**props(remote), "commit_id": "abc"}

    assert p.diff("k8s-01", olds, props(remote)).changes is False
    news = props(
        remote,
        managed={SYNC: "sync: 2\n", "clusters/k8s-01/notifications/slack.yaml": "kind: Provider\n"},
    )
    result = p.diff("k8s-01", olds, news)
    assert result.changes is True
    assert result.replaces == [] and result.delete_before_replace is False
    assert planned_changes(olds, news) == [
        f"- {APPS}",
        f"~ {SYNC}",
        "+ clusters/k8s-01/notifications/slack.yaml",
    ]
    assert planned_changes(olds, props(remote, branch="staging")) == ["~ branch"]
    # a changed credential is an update (never printed: only the key name appears)
    assert planned_changes(olds, props(remote, token="new")) == ["~ token"]
    # a fleet file no longer rendered is left in place: no change planned for it
    assert planned_changes(olds, props(remote, fleet={})) == []


def test_diff_leaves_an_inputs_only_change_to_the_engine(remote: Path) -> None:
    """No drift: "unknown", so the engine shows a detailed diff of the inputs (the changed files
    alone); no change: "none"; drift: "some"."""
    p = GitOpsFilesProvider()
    state = p.create(props(remote)).outs or {}

    assert p.diff("k8s-01", state, props(remote)).changes is False
    changed = props(remote, managed={SYNC: "sync: 2\n", APPS: "apps: 1\n"})
    assert p.diff("k8s-01", state, changed).changes is None
    assert planned_changes(state, changed) == [f"~ {SYNC}"]
    drifted = {**state, "drift": {APPS: digest("edited\n")}}
    assert p.diff("k8s-01", drifted, props(remote)).changes is True
    assert planned_changes(drifted, props(remote)) == [f"~ {APPS}"]


def test_a_state_from_before_the_digests_still_diffs_and_reads(remote: Path) -> None:
    p = GitOpsFilesProvider()
    p.create(props(remote))
    old_state = {**props(remote), "commit_id": "abc"}  # contents, no state_format
    del old_state["__provider"]

    assert p.diff("k8s-01", old_state, props(remote)).changes is False
    assert p.diff("k8s-01", old_state, props(remote, managed={SYNC: "x\n"})).changes is True
    hand_edit(remote, {SYNC: "edited\n"})
    read = p.read("k8s-01", old_state).outs or {}
    assert read["managed"][SYNC] == "edited\n"  # its own form, until the next up
    assert planned_changes(read, props(remote)) == [f"~ {SYNC}"]


def test_update_writes_changes_and_removes_managed_files_no_longer_rendered(remote: Path) -> None:
    p = GitOpsFilesProvider()
    olds = p.create(props(remote)).outs or {}
    news = props(remote, managed={SYNC: "sync: 2\n"}, fleet={})

    updated = p.update("k8s-01", olds, news).outs or {}

    files = tree(remote)
    assert files[SYNC] == "sync: 2\n"
    assert APPS not in files
    assert files[SOURCE] == "kind: HelmRepository\n"  # fleet files are never removed
    assert SCAFFOLD in files
    assert sorted(updated["changed_files"]) == [APPS, SYNC]
    assert updated["commit_id"] == git("rev-parse", "main", cwd=remote).strip()

    count = commits(remote)
    again = p.update("k8s-01", updated, news).outs or {}
    assert commits(remote) == count
    assert again["commit_id"] == updated["commit_id"]
    assert again["changed_files"] == []


def test_refresh_shows_a_hand_edit_as_drift_and_the_next_up_restores_it(remote: Path) -> None:
    p = GitOpsFilesProvider()
    state = p.create(props(remote)).outs or {}
    hand_edit(remote, {SYNC: "edited\n", APPS: None, SCAFFOLD: "mine\n"})

    refreshed = p.read("k8s-01", {**state, "__provider": "serialized"})

    outs = refreshed.outs or {}
    assert refreshed.id == "k8s-01"
    assert outs["drift"] == {SYNC: digest("edited\n"), APPS: ""}  # APPS is gone
    assert outs["managed"] == state["managed"] and outs["fleet"] == state["fleet"]
    assert p.diff("k8s-01", outs, props(remote)).changes is True
    assert planned_changes(outs, props(remote)) == [f"+ {APPS}", f"~ {SYNC}"]

    p.update("k8s-01", outs, props(remote))

    files = tree(remote)
    assert files[SYNC] == "sync: 1\n" and files[APPS] == "apps: 1\n"
    assert files[SCAFFOLD] == "mine\n"  # a scaffold belongs to people: not drift, not restored
    assert p.read("k8s-01", state).outs == {**state}


def test_delete_keeps_files_unless_delete_files_is_set(remote: Path) -> None:
    p = GitOpsFilesProvider()
    state = p.create(props(remote)).outs or {}
    count = commits(remote)

    p.delete("k8s-01", state)
    assert commits(remote) == count

    p.delete("k8s-01", {**state, "delete_files": True})

    files = tree(remote)
    assert SYNC not in files and APPS not in files
    assert SOURCE in files and SCAFFOLD in files and "README.md" in files
    assert commits(remote) == count + 1


def test_branch_mode_output_names_the_review_branch(remote: Path) -> None:
    outs = GitOpsFilesProvider().create(props(remote, push_mode="branch")).outs or {}
    assert outs["pushed_branch"] == "flux-gitops/k8s-01"
    assert outs["commit_id"] == git("rev-parse", "flux-gitops/k8s-01", cwd=remote).strip()


def test_check_reports_bad_inputs(remote: Path) -> None:
    result = GitOpsFilesProvider().check(
        {}, props(remote, push_mode="sideways", stack="", fleet={SYNC: "x"})
    )
    assert sorted(f.property for f in result.failures) == ["managed", "push_mode", "stack"]


def test_provider_pickles_without_state() -> None:
    serialized = serialize_provider(GitOpsFilesProvider())
    assert isinstance(serialized, str) and serialized
    assert GitOpsFilesProvider().__dict__ == {}


def test_args_from_settings() -> None:
    settings = GitSettings.model_validate(
        {
            "url": "ssh://git@gitlab.invalid/fleet.git",
            "pushUrl": "/srv/fleet.git",
            "deleteFiles": True,
        }
    )
    files = RepoFiles(
        [
            RepoFile(SYNC, "s\n", "managed"),
            RepoFile(SOURCE, "f\n", "fleet"),
            RepoFile(SCAFFOLD, "c\n", "scaffold", guard="core-apps/clusters/k8s-01"),
        ]
    )
    args = GitOpsFilesArgs.from_settings(settings, "k8s-01", files, token="t")
    assert args.repo_url == "/srv/fleet.git"
    assert args.managed == {SYNC: "s\n"} and args.fleet == {SOURCE: "f\n"}
    assert args.scaffolds == {SCAFFOLD: {"content": "c\n", "guard": "core-apps/clusters/k8s-01"}}
    assert args.delete_files is True


# ------------------------------------------------------------------------------ under mocks


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(args)
        return f"{args.name}-id", {**args.inputs, "commit_id": "0" * 40, "pushed_branch": "main"}

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def _awaited(value: Awaitable[bool]) -> pulumi.Output[bool]:
    return pulumi.Output.from_input(value)


MOCKS = _Mocks()


@pytest.fixture
def git_mocks() -> _Mocks:
    # set here, not at import: other test modules install their own mocks
    pulumi.runtime.set_mocks(MOCKS, preview=False)
    return MOCKS


@pulumi.runtime.test  # type: ignore[untyped-decorator,unused-ignore]
def test_resource_registers_with_secret_credentials(git_mocks: _Mocks) -> pulumi.Output[Any]:
    settings = GitSettings.model_validate({"url": "ssh://git@gitlab.invalid/fleet.git"})
    files = RepoFiles([RepoFile(SYNC, "s\n", "managed")])
    res = GitOpsFiles(
        "k8s-01-repo",
        GitOpsFilesArgs.from_settings(
            settings, "k8s-01", files, ssh_private_key=FAKE_KEY, token="tok"
        ),
    )

    def check(values: list[Any]) -> None:
        key_secret, token_secret, commit = values
        (args,) = [a for a in MOCKS.registered if a.name == "k8s-01-repo"]
        assert args.typ == "pulumi-python:dynamic/flux-gitops:GitOpsFiles"
        assert rpc.is_rpc_secret(args.inputs["ssh_private_key"])
        assert rpc.is_rpc_secret(args.inputs["token"])
        assert rpc.is_rpc_secret(args.inputs["__provider"])
        assert args.inputs["managed"] == {SYNC: "s\n"}
        assert key_secret and token_secret
        assert commit == "0" * 40

    return pulumi.Output.all(
        _awaited(res.ssh_private_key.is_secret()),
        _awaited(res.token.is_secret()),
        res.commit_id,
    ).apply(check)


def test_the_program_does_not_import_git() -> None:
    """GitPython is the dynamic provider's business; the program (every preview) skips it."""
    import sys

    code = "import sys, components.cluster_stack; print('git' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_dynamic_providers_process_imports_little() -> None:
    """What unpickling the three providers imports (twice per `pulumi up`, on the critical path
    before the install registers): no config models, no GitPython, no cryptography."""
    import sys

    code = (
        "import sys, components.git_resource, components.flux_uninstall, components.deploy_key; "
        "print(sorted(m for m in ('pydantic', 'git', 'cryptography') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
