"""The Git writer against real repositories: a bare remote in tmp_path, written by the writer
and edited by hand through ordinary clones. No mocks: every test runs git."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from components.adapters import git_writer
from components.adapters.git_writer import (
    BranchNotFoundError,
    ConcurrentUpdateError,
    GitCredentials,
    GitWriterError,
    PushRejectedError,
    PushResult,
    RepositoryNotFoundError,
    credentials_env,
    delete_files,
    drift,
    push_files,
    read_state,
    redact_url,
    scrub,
)
from components.common.repofiles import RepoFile, RepoFiles

FAKE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBzZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0AAAAAAAAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
KEY_LINE = "QyNTUxOQAAACBzZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0AAAAAAAAAAAA"
FAKE_TOKEN = "glpat-S3cr3tT0kenValue"


# ----------------------------------------------------------------------------------- helpers


def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Person",
        "GIT_AUTHOR_EMAIL": "person@example.org",
        "GIT_COMMITTER_NAME": "Person",
        "GIT_COMMITTER_EMAIL": "person@example.org",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout


def make_remote(
    tmp_path: Path, files: dict[str, str] | None = None, name: str = "remote.git"
) -> Path:
    """A bare repository whose `main` holds `files` (a README by default); empty if files={}."""
    remote = tmp_path / name
    git("init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    if files == {}:
        return remote
    edit(remote, "main", files or {"README.md": "# fleet\n"}, create=True)
    return remote


def edit(remote: Path, branch: str, changes: Mapping[str, str | None], create: bool = False) -> str:
    """Commit `changes` ({path: content, or None to delete}) by hand, as a person would."""
    work = remote.parent / f"hand-{abs(hash((str(remote), branch, str(changes))))}"
    if create:
        git("init", "--quiet", f"--initial-branch={branch}", str(work))
    else:
        git("clone", "--quiet", "--branch", branch, str(remote), str(work))
    for path, content in changes.items():
        target = work / path
        if content is None:
            git("rm", "--quiet", "-r", path, cwd=work)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "hand edit", cwd=work)
    git("push", "--quiet", str(remote), f"HEAD:refs/heads/{branch}", cwd=work)
    sha = git("rev-parse", "HEAD", cwd=work).strip()
    subprocess.run(["rm", "-rf", str(work)], check=True)
    return sha


def tree(remote: Path, branch: str = "main") -> dict[str, str]:
    """{path: content} of every file on `branch`."""
    paths = git("ls-tree", "-r", "--name-only", "-z", branch, cwd=remote).split("\0")
    return {p: git("show", f"{branch}:{p}", cwd=remote) for p in paths if p}


def tip(remote: Path, branch: str = "main") -> str:
    return git("rev-parse", f"refs/heads/{branch}", cwd=remote).strip()


def log(remote: Path, branch: str = "main", fmt: str = "%s") -> list[str]:
    return git("log", f"--format={fmt}", branch, cwd=remote).splitlines()


def stack_files(stack: str, round_: int = 0) -> RepoFiles:
    """What the render step produces for one cluster (shape of DESIGN.md's ownership table)."""
    c = f"clusters/{stack}"
    return RepoFiles(
        [
            RepoFile(
                f"{c}/flux-system/gotk-sync.yaml", f"sync: {stack}\nround: {round_}\n", "managed"
            ),
            RepoFile(
                f"{c}/flux-system/kustomization.yaml", "resources: [gotk-sync.yaml]\n", "managed"
            ),
            RepoFile(f"{c}/apps.yaml", f"apps: {stack}\n", "managed"),
            RepoFile(
                "core-apps/sources/kustomization.yaml", "resources: [podinfo.yaml]\n", "fleet"
            ),
            RepoFile("core-apps/sources/podinfo.yaml", "kind: HelmRepository\n", "fleet"),
            RepoFile(
                f"core-apps/clusters/{stack}/kustomization.yaml",
                "resources: []\n",
                "scaffold",
                guard=f"core-apps/clusters/{stack}",
            ),
            RepoFile(
                "core-apps/base/podinfo/release.yaml",
                "kind: HelmRelease\n",
                "scaffold",
                guard="core-apps/base",
            ),
        ]
    )


def push(remote: Path | str, files: RepoFiles, stack: str = "k8s-01", **kw: Any) -> PushResult:
    return push_files(str(remote), kw.pop("branch", "main"), files, stack=stack, **kw)


# ------------------------------------------------------------------------------ push semantics


def test_first_push_creates_the_tree_and_an_identical_push_makes_no_commit(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    files = stack_files("k8s-01")

    first = push(remote, files)

    assert first.commit == tip(remote)
    assert tree(remote) == {"README.md": "# fleet\n", **{p: f.content for p, f in files.items()}}
    assert sorted(first.files) == sorted(files)
    assert all(c.change == "added" for c in first.changes)
    assert set(first.created_scaffolds) == {
        "core-apps/clusters/k8s-01/kustomization.yaml",
        "core-apps/base/podinfo/release.yaml",
    }
    message = git("log", "-1", "--format=%B", "main", cwd=remote)
    assert message.startswith("flux-gitops(k8s-01): update 7 files\n\n")
    assert "A clusters/k8s-01/apps.yaml\n" in message
    assert git("log", "-1", "--format=%an <%ae>", "main", cwd=remote).strip() == (
        "flux-gitops <flux-gitops@noreply.invalid>"
    )

    second = push(remote, files)

    assert second.commit is None and second.up_to_date
    assert second.head == first.commit
    assert len(log(remote)) == 2


def test_only_changed_files_are_in_the_commit(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    push(remote, stack_files("k8s-01", 0))

    result = push(remote, stack_files("k8s-01", 1), message="ci")

    assert [str(c) for c in result.changes] == ["M clusters/k8s-01/flux-system/gotk-sync.yaml"]
    assert log(remote)[0] == "ci: update 1 file"
    assert git("show", "--name-only", "--format=", "main", cwd=remote).split() == [
        "clusters/k8s-01/flux-system/gotk-sync.yaml"
    ]


def test_hand_edit_of_managed_file_is_drift_and_next_push_restores_it(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    files = stack_files("k8s-01")
    push(remote, files)
    sync, apps = "clusters/k8s-01/flux-system/gotk-sync.yaml", "clusters/k8s-01/apps.yaml"
    edit(remote, "main", {sync: "edited by hand\n", apps: None})

    state = read_state(str(remote), "main", files)

    assert state[sync] == "edited by hand\n"
    assert state[apps] is None
    assert drift(files, state) == {sync: "modified", apps: "missing"}

    result = push(remote, files)

    assert sorted(str(c) for c in result.changes) == [f"A {apps}", f"M {sync}"]
    assert tree(remote)[sync] == files[sync].content
    assert drift(files, read_state(str(remote), "main", files)) == {}


def test_hand_edit_of_a_scaffold_survives_every_push(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    push(remote, stack_files("k8s-01", 0))
    scaffold = "core-apps/clusters/k8s-01/kustomization.yaml"
    base_app = "core-apps/base/podinfo/release.yaml"
    edit(
        remote,
        "main",
        {
            scaffold: "resources: [mine.yaml]\n",
            base_app: None,
            "core-apps/base/own/app.yaml": "x\n",
        },
    )

    for round_ in (1, 2):
        result = push(remote, stack_files("k8s-01", round_))
        assert result.created_scaffolds == ()
        assert result.commit is not None

    files = tree(remote)
    assert files[scaffold] == "resources: [mine.yaml]\n"
    # people replaced the base application by their own: core-apps/base (the guard) exists,
    # so the removed scaffold is not brought back
    assert base_app not in files
    # a hand-edited scaffold is not drift
    assert (
        drift(stack_files("k8s-01", 2), read_state(str(remote), "main", stack_files("k8s-01", 2)))
        == {}
    )


def test_scaffold_is_not_created_when_its_guard_directory_exists(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"core-apps/base/own-app/release.yaml": "mine\n"})

    result = push(remote, stack_files("k8s-01"))

    files = tree(remote)
    assert "core-apps/base/podinfo/release.yaml" not in files
    assert files["core-apps/base/own-app/release.yaml"] == "mine\n"
    assert result.created_scaffolds == ("core-apps/clusters/k8s-01/kustomization.yaml",)


def test_a_scaffold_whose_own_file_exists_is_never_overwritten(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"core-apps/base/podinfo/release.yaml": "theirs\n"})
    files = RepoFiles(
        [RepoFile("core-apps/base/podinfo/release.yaml", "ours\n", "scaffold", guard="elsewhere")]
    )

    result = push(remote, files)

    assert result.up_to_date
    assert tree(remote)["core-apps/base/podinfo/release.yaml"] == "theirs\n"


def test_a_directory_never_replaces_a_file(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"clusters/k8s-01": "a file where a directory should be\n"})
    before = tip(remote)

    with pytest.raises(GitWriterError, match="clusters/k8s-01 is a file"):
        push(remote, stack_files("k8s-01"))

    assert tip(remote) == before


def test_a_file_never_replaces_a_directory(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"clusters/k8s-01/apps.yaml/keep.yaml": "people's\n"})
    before = tip(remote)

    with pytest.raises(GitWriterError, match=r"apps\.yaml is a directory in the repository"):
        push(remote, stack_files("k8s-01"))

    assert tip(remote) == before


def test_dry_run_prints_the_diff_and_changes_nothing(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    before = tip(remote)

    result = push(remote, stack_files("k8s-01"), dry_run=True)

    assert result.dry_run and result.commit is None
    assert len(result.changes) == 7
    assert "+sync: k8s-01" in result.diff
    assert tip(remote) == before


# ---------------------------------------------------------------------------------- concurrency


def _round_number(remote: Path, commit: str, stack: str) -> int:
    text = git(
        "show", f"{commit}:clusters/{stack}/flux-system/gotk-sync.yaml", cwd=remote, check=False
    )
    return int(text.split("round: ")[1]) if "round: " in text else -1


def test_two_stacks_pushing_at_once_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(git_writer, "BACKOFF_BASE", 0.02)  # keeps the test fast; still jittered
    remote = make_remote(tmp_path)
    stacks, rounds = ("k8s-01", "k8s-02"), 10
    start = threading.Barrier(len(stacks))
    errors: list[BaseException] = []
    attempts: list[int] = []

    def writer(stack: str) -> None:
        try:
            for round_ in range(rounds):
                start.wait()  # both stacks push each round at the same moment
                result = push(remote, stack_files(stack, round_), stack=stack)
                assert result.commit is not None
                attempts.append(result.attempts)
        except BaseException as err:
            errors.append(err)
            start.abort()

    threads = [threading.Thread(target=writer, args=(s,)) for s in stacks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert max(attempts) > 1, "the two writers never collided: the test proves nothing"
    files = tree(remote)
    for stack in stacks:
        for path, f in stack_files(stack, rounds - 1).items():
            assert files[path] == f.content, path
    subjects = log(remote)
    for stack in stacks:
        # every round of every stack landed as its own commit
        assert subjects.count(f"flux-gitops({stack}): update 1 file") == rounds - 1
        assert len([s for s in subjects if s.startswith(f"flux-gitops({stack}): ")]) == rounds
    assert len(subjects) == 1 + len(stacks) * rounds
    # linear history (every commit has one parent), and no commit reverts another stack's file
    commits = list(reversed(log(remote, fmt="%H %P")))
    assert all(len(line.split()) == 2 for line in commits[1:])
    for stack in stacks:
        seen = [_round_number(remote, line.split()[0], stack) for line in commits]
        assert seen == sorted(seen), f"{stack}'s file went back in history: {seen}"


def test_a_lost_race_is_retried_on_the_new_tip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer commits between our fetch and our push (injected at commit time)."""
    remote = make_remote(tmp_path)
    real_commit = git_writer._Work.commit
    races = iter([True, False])

    def commit_after_a_rival(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if next(races, False):
            edit(remote, "main", {"clusters/k8s-02/apps.yaml": "rival\n"})
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(git_writer._Work, "commit", commit_after_a_rival)
    monkeypatch.setattr(git_writer, "BACKOFF_BASE", 0.01)

    result = push(remote, stack_files("k8s-01"))

    assert result.attempts == 2
    files = tree(remote)
    assert files["clusters/k8s-02/apps.yaml"] == "rival\n"
    assert files["clusters/k8s-01/apps.yaml"] == "apps: k8s-01\n"
    assert git("rev-parse", "main^", cwd=remote).strip() != result.commit


def test_retries_are_bounded_and_leave_the_rivals_commit_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = make_remote(tmp_path)
    real_commit = git_writer._Work.commit
    counter = iter(range(100))

    def always_lose(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        edit(remote, "main", {"rival.txt": f"{next(counter)}\n"})
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(git_writer._Work, "commit", always_lose)
    monkeypatch.setattr(git_writer, "BACKOFF_BASE", 0.001)

    with pytest.raises(ConcurrentUpdateError, match="failed 3 times"):
        push(remote, stack_files("k8s-01"), max_retries=2)

    assert "clusters/k8s-01/apps.yaml" not in tree(remote)
    assert log(remote).count("hand edit") == 4  # the seed and three rivals, nothing of ours


# ---------------------------------------------------------------------------------- delete


def test_delete_removes_only_the_stacks_managed_files(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    push(remote, stack_files("k8s-01"))
    push(remote, stack_files("k8s-02"), stack="k8s-02")
    before = len(log(remote))

    result = delete_files(str(remote), "main", stack_files("k8s-01"), stack="k8s-01")

    files = tree(remote)
    assert not any(p.startswith("clusters/k8s-01/") for p in files)
    for path, f in stack_files("k8s-02").items():
        assert files[path] == f.content
    assert "core-apps/sources/podinfo.yaml" in files
    assert "core-apps/clusters/k8s-01/kustomization.yaml" in files  # scaffolds belong to people
    assert "core-apps/base/podinfo/release.yaml" in files
    assert len(log(remote)) == before + 1
    assert log(remote)[0] == "flux-gitops(k8s-01): remove 3 files"
    assert {c.change for c in result.changes} == {"deleted"}

    again = delete_files(str(remote), "main", stack_files("k8s-01"), stack="k8s-01")
    assert again.up_to_date and len(log(remote)) == before + 1


def test_delete_refuses_fleet_files(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    push(remote, stack_files("k8s-01"))
    before = tip(remote)

    with pytest.raises(GitWriterError, match="fleet file"):
        delete_files(str(remote), "main", ["core-apps/sources/podinfo.yaml"], stack="k8s-01")

    assert tip(remote) == before


def test_delete_on_a_missing_branch_is_a_no_op(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    result = delete_files(str(remote), "gone", ["clusters/k8s-01/apps.yaml"], stack="k8s-01")
    assert result.up_to_date and result.head is None


def test_update_removes_managed_files_no_longer_rendered(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    push(remote, stack_files("k8s-01"))
    fewer = RepoFiles(
        f for p, f in stack_files("k8s-01").items() if p != "clusters/k8s-01/apps.yaml"
    )

    result = push(remote, fewer, remove=["clusters/k8s-01/apps.yaml"])

    assert [str(c) for c in result.changes] == ["D clusters/k8s-01/apps.yaml"]
    assert log(remote)[0] == "flux-gitops(k8s-01): remove 1 file"


# ------------------------------------------------------------------------------- bad input


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert "\n" not in text, text
    return text


def test_nonexistent_repository(tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFoundError) as err:
        push(tmp_path / "nope.git", stack_files("k8s-01"))
    assert "does not exist" in _one_line(err)


def test_repository_path_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "repo.git"
    path.write_text("not a repository\n")
    with pytest.raises(RepositoryNotFoundError) as err:
        push(path, stack_files("k8s-01"))
    assert "is a file" in _one_line(err)
    assert path.read_text() == "not a repository\n"


def test_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(RepositoryNotFoundError) as err:
        push(tmp_path / "plain", stack_files("k8s-01"))
    assert "does not appear to be a git repository" in _one_line(err)
    assert list((tmp_path / "plain").iterdir()) == []


def test_missing_branch_without_create_branch(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    with pytest.raises(BranchNotFoundError) as err:
        push(remote, stack_files("k8s-01"), branch="staging")
    assert "branch 'staging' does not exist" in _one_line(err)
    assert "createBranch" in str(err.value)
    assert git("branch", "--list", cwd=remote).split() == ["*", "main"]


def test_missing_branch_with_create_branch_starts_from_the_default_branch(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    main = tip(remote)

    result = push(remote, stack_files("k8s-01"), branch="staging", create_branch=True)

    assert result.branch == "staging"
    assert git("rev-parse", "staging^", cwd=remote).strip() == main
    assert tip(remote) == main  # main untouched
    assert "README.md" in tree(remote, "staging")


def test_empty_repository_with_create_branch_gets_a_root_commit(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {})
    with pytest.raises(BranchNotFoundError):
        push(remote, stack_files("k8s-01"))

    result = push(remote, stack_files("k8s-01"), create_branch=True)

    assert git("rev-list", "--count", "main", cwd=remote).strip() == "1"
    assert result.commit == tip(remote)


def test_push_rejected_by_a_hook_is_a_clear_error_and_pushes_nothing(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    before = tip(remote)
    objects = git("count-objects", cwd=remote)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected: open a merge request' >&2\nexit 1\n")
    hook.chmod(0o755)

    with pytest.raises(PushRejectedError) as err:
        push(remote, stack_files("k8s-01"))

    text = _one_line(err)
    assert "rejected: pre-receive hook declined: main is protected: open a merge request" in text
    assert tip(remote) == before
    assert git("count-objects", cwd=remote) == objects  # the rejected objects were discarded


def test_invalid_paths_are_refused_before_anything_is_read(tmp_path: Path) -> None:
    for bad in ("../escape.yaml", "/abs.yaml", "a//b.yaml", ".git/config", "a/./b", "a\nb"):
        with pytest.raises(GitWriterError, match="not a relative POSIX path"):
            push(tmp_path / "does-not-matter", RepoFiles([RepoFile(bad, "x", "managed")]))


# ----------------------------------------------------------------------------------- push mode


def test_branch_mode_pushes_target_plus_this_stacks_change(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    main = tip(remote)

    first = push(remote, stack_files("k8s-01"), push_mode="branch")

    assert first.branch == "flux-gitops/k8s-01"
    assert tip(remote) == main
    assert git("rev-parse", "flux-gitops/k8s-01^", cwd=remote).strip() == main
    second = push(remote, stack_files("k8s-01"), push_mode="branch")
    assert second.commit is None and second.already_proposed
    assert second.head == first.commit

    # the target moves on (another stack merged): the review branch is rebuilt on the new tip
    new_main = edit(remote, "main", {"clusters/k8s-02/apps.yaml": "other\n"})
    again = push(remote, stack_files("k8s-01", 1), push_mode="branch")

    assert again.commit == tip(remote, "flux-gitops/k8s-01")
    assert git("rev-parse", "flux-gitops/k8s-01^", cwd=remote).strip() == new_main
    assert tree(remote, "flux-gitops/k8s-01") == {
        **tree(remote),
        **{p: f.content for p, f in stack_files("k8s-01", 1).items()},
    }

    # merged: the target holds the change, nothing more to propose
    git("push", "--quiet", ".", "flux-gitops/k8s-01:main", cwd=remote)
    assert push(remote, stack_files("k8s-01", 1), push_mode="branch").up_to_date


# ---------------------------------------------------------------------------------- credentials


def test_redact_url() -> None:
    # the whole user info goes: the user slot may be the token (`https://TOKEN:x-oauth-basic@`)
    assert redact_url("https://oauth2:tok@gitlab.com/a/b.git") == "https://***@gitlab.com/a/b.git"
    assert redact_url("ssh://git@gitlab.com/a/b.git") == "ssh://git@gitlab.com/a/b.git"
    assert (
        redact_url("fatal: 'http://u:p@h/x' and https://h/y")
        == "fatal: 'http://***@h/x' and https://h/y"
    )
    assert redact_url("https://:tok@h/x") == "https://***@h/x"


def test_scrub_removes_secret_values_and_each_key_line() -> None:
    creds = GitCredentials(ssh_private_key=FAKE_KEY, token=FAKE_TOKEN)
    text = f"error: {FAKE_TOKEN} and {KEY_LINE} and the key\n{FAKE_KEY}"
    out = scrub(text, creds.secrets())
    assert FAKE_TOKEN not in out and KEY_LINE not in out and "BEGIN OPENSSH" not in out
    assert FAKE_TOKEN not in repr(creds) and KEY_LINE not in repr(creds)


def test_token_in_url_never_reaches_the_error(tmp_path: Path) -> None:
    url = f"http://oauth2:{FAKE_TOKEN}@127.0.0.1:9/fleet.git"  # nothing listens on port 9
    with pytest.raises(GitWriterError) as err:
        push(url, stack_files("k8s-01"))
    assert FAKE_TOKEN not in str(err.value)
    assert "http://***@127.0.0.1:9/fleet.git" in str(err.value)
    assert err.value.__cause__ is None


def test_askpass_helper_answers_user_name_and_token_then_disappears() -> None:
    creds = GitCredentials(token=FAKE_TOKEN, username="oauth2")
    with credentials_env(creds) as env:
        helper = Path(env["GIT_ASKPASS"])
        assert FAKE_TOKEN not in helper.read_text()
        assert FAKE_TOKEN not in " ".join(env.values())
        user = subprocess.run(
            [helper, "Username for 'https://h': "], capture_output=True, text=True
        )
        password = subprocess.run(
            [helper, "Password for 'https://h': "], capture_output=True, text=True
        )
        assert user.stdout.strip() == "oauth2"
        assert password.stdout.strip() == FAKE_TOKEN
        token_file = helper.parent / "token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert not helper.parent.exists()


FAKE_SSH = """#!/bin/sh
# Stands in for ssh: records the mode and content of the -i key file, then runs the remote
# command locally, so git talks to the bare repository as it would over SSH.
key=""; prev=""; last=""
for a in "$@"; do
  if [ "$prev" = "-i" ]; then key="$a"; fi
  prev="$a"; last="$a"
done
echo "$key $(stat -c %a "$key") $(cat "$key" | wc -l)" >> "$FAKE_SSH_LOG"
echo "$*" >> "$FAKE_SSH_LOG.args"
if [ -n "$FAKE_SSH_FAIL" ]; then
  echo "fatal: cannot use key $(sed -n 3p "$key")" >&2
  exit 255
fi
exec sh -c "$last"
"""


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH)
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SSH_LOG", str(tmp_path / "ssh.log"))
    return tmp_path / "ssh.log"


def test_ssh_key_is_a_0600_file_during_the_push_and_gone_after(
    tmp_path: Path, fake_ssh: Path
) -> None:
    remote = make_remote(tmp_path)
    creds = GitCredentials(ssh_private_key=FAKE_KEY, known_hosts="gitlab.com ssh-ed25519 AAAA")

    result = push_files(
        f"ssh://git@gitlab.invalid{remote}",
        "main",
        stack_files("k8s-01"),
        stack="k8s-01",
        credentials=creds,
    )

    assert result.commit == tip(remote)
    calls = fake_ssh.read_text().splitlines()
    assert calls and all(line.split()[1:] == ["600", "4"] for line in calls)
    key_files = {line.split()[0] for line in calls}
    assert all(not Path(k).exists() for k in key_files)
    args = Path(f"{fake_ssh}.args").read_text()
    assert "IdentitiesOnly=yes" in args and "StrictHostKeyChecking=yes" in args
    assert KEY_LINE not in args
    assert KEY_LINE not in git("log", "--format=%B", "main", cwd=remote)


def test_ssh_key_is_removed_and_scrubbed_when_git_fails(
    tmp_path: Path, fake_ssh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = make_remote(tmp_path)
    monkeypatch.setenv("FAKE_SSH_FAIL", "1")
    creds = GitCredentials(ssh_private_key=FAKE_KEY)

    with pytest.raises(GitWriterError) as err:
        push_files(
            f"ssh://git@gitlab.invalid{remote}",
            "main",
            stack_files("k8s-01"),
            stack="k8s-01",
            credentials=creds,
        )

    assert "cannot use key ***" in str(err.value)
    assert KEY_LINE not in str(err.value) and KEY_LINE not in repr(err.value)
    key_file = Path(fake_ssh.read_text().split()[0])
    assert not key_file.exists() and not key_file.parent.exists()
    assert "StrictHostKeyChecking=accept-new" in Path(f"{fake_ssh}.args").read_text()


def test_a_rejection_that_echoes_the_token_is_scrubbed(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho 'bad credentials {FAKE_TOKEN}' >&2\nexit 1\n")
    hook.chmod(0o755)

    with pytest.raises(PushRejectedError) as err:
        push(remote, stack_files("k8s-01"), credentials=GitCredentials(token=FAKE_TOKEN))

    assert FAKE_TOKEN not in str(err.value)
    assert "bad credentials ***" in str(err.value)


@pytest.mark.parametrize("branch", ["HEAD", "-x", "@", "refs/heads/main", "main\n", "a..b"])
def test_a_branch_git_would_refuse_or_misread_is_refused_before_git_runs(
    tmp_path: Path, branch: str
) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    with pytest.raises(GitWriterError, match="is not a usable Git branch name"):
        push_files(str(remote), branch, stack_files("k8s-01"), stack="k8s-01", create_branch=True)
    refs = subprocess.run(
        ["git", "--git-dir", str(remote), "for-each-ref"], capture_output=True, text=True
    )
    assert refs.stdout == ""
