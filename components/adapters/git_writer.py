"""Write one stack's files to the GitOps repository: one commit per push, safe under concurrency.

The writer never checks out a working tree. Each attempt works in a private bare repository:

1. `git ls-remote` the target (repository and branch exist?), then fetch its tip with
   `--depth=1` (single ref, no tags);
2. build the new tree in a temporary index on top of the tip: managed and fleet files are
   overwritten, scaffolds are added only when neither their guard path nor their own path
   exists on the tip, `remove` paths are taken out;
3. if the tree equals the tip's tree, stop: the repository is up to date;
4. commit (one commit, parent = the tip) and push that single ref. The server updates the ref
   atomically or not at all, so the remote never holds a partial change.

A non-fast-forward rejection means another stack pushed in between (k8s-01 and k8s-02 running
`pulumi up` at once): the attempt starts over from step 1 on the new tip, after a jittered
backoff, at most `max_retries` times. Any other rejection (a pre-receive hook, branch
protection) is reported as `rejected: <reason>` and never retried.

Credentials never reach output: an SSH key goes to a 0600 file in a private temporary directory
that is removed when the operation ends, a token is handed to Git by a GIT_ASKPASS helper that
reads it from such a file, every URL is printed with its user info redacted, and every Git
error is scrubbed of the secret values and of any URL's user info before it is raised.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import random
import re
import shlex
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import git
from gitdb.base import IStream

from components.common import urls
from components.common.errors import FluxGitopsError, quote
from components.common.git_refs import DEFAULT_AUTHOR, branch_problem
from components.common.repofiles import RepoFile, RepoFiles

PushMode = Literal["direct", "branch"]
# Given a reader of the branch tip's files (None: absent), the managed paths no longer rendered.
Stale = Callable[[Callable[[str], str | None]], Iterable[str]]
ChangeKind = Literal["added", "modified", "deleted"]

REVIEW_BRANCH_PREFIX = "flux-gitops/"
# Fleet files: every stack writes them, no stack ever deletes them.
FLEET_PREFIX = "core-apps/sources/"

# Backoff between attempts after a non-fast-forward rejection: base * 2**attempt, capped,
# multiplied by a random factor so two stacks that collided do not collide again.
BACKOFF_BASE = 0.1
BACKOFF_CAP = 3.0

_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_ZERO = "0" * 40
_LOCAL_TARGET = "refs/flux-gitops/target"
_LOCAL_REVIEW = "refs/flux-gitops/review"


# ------------------------------------------------------------------------------------ errors


class GitWriterError(FluxGitopsError):
    """The GitOps repository could not be read or written; nothing was pushed."""


class RepositoryNotFoundError(GitWriterError):
    """The repository does not exist, is not a Git repository, or cannot be read."""


class BranchNotFoundError(GitWriterError):
    """The branch does not exist and `create_branch` is not set."""


class AuthenticationError(GitWriterError):
    """The Git host refused the credentials."""


class PushRejectedError(GitWriterError):
    """The remote refused the push for another reason than a concurrent update (hook, rule)."""


class ConcurrentUpdateError(GitWriterError):
    """Every attempt lost the race against other writers of the branch."""


# ------------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class GitCredentials:
    """How to authenticate to the Git host. Empty: use the user's own setup (ssh-agent, helpers)."""

    ssh_private_key: str | None = None
    token: str | None = None
    username: str = "git"  # the HTTPS user name that goes with `token`
    known_hosts: str | None = None  # known_hosts lines of the host; unset: accept-new

    def secrets(self) -> list[str]:
        """The values that must never be printed: each secret and each line of the key."""
        out: list[str] = []
        for value in (self.ssh_private_key, self.token):
            if value:
                out.append(value)
                out.append(value.strip())
                out.extend(line.strip() for line in value.splitlines() if len(line.strip()) >= 8)
        return sorted({s for s in out if s}, key=len, reverse=True)

    def __repr__(self) -> str:  # dataclass repr would print the secrets
        key = "set" if self.ssh_private_key else "unset"
        token = "set" if self.token else "unset"
        return f"GitCredentials(ssh_private_key={key}, token={token}, username={self.username!r})"


def redact_url(text: str) -> str:
    """`text` with the user info of every URL in it replaced by `***` (see `components.common.urls`)."""
    return urls.redact(text)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret value replaced by `***` and every URL's user info redacted."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return redact_url(text)


@contextlib.contextmanager
def credentials_env(credentials: GitCredentials | None) -> Iterator[dict[str, str]]:
    """Environment for Git commands that use `credentials`; the secret files live only inside."""
    env = {"GIT_TERMINAL_PROMPT": "0"}
    if credentials is None or not (credentials.ssh_private_key or credentials.token):
        yield env
        return
    tmp = tempfile.mkdtemp(prefix="flux-gitops-cred-")  # mode 0700
    try:
        if credentials.ssh_private_key:
            key = _write_private(Path(tmp, "id"), _with_newline(credentials.ssh_private_key))
            ssh = ["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
            if credentials.known_hosts:
                hosts = _write_private(
                    Path(tmp, "known_hosts"), _with_newline(credentials.known_hosts)
                )
                ssh += ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={hosts}"]
            else:
                ssh += ["-o", "StrictHostKeyChecking=accept-new"]
            env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        if credentials.token:
            token = _write_private(Path(tmp, "token"), credentials.token.strip())
            askpass = Path(tmp, "askpass")
            # Git calls the helper with the prompt ("Username for ...", "Password for ...") as
            # its argument; the token is read from the 0600 file, never passed on a command line.
            askpass.write_text(
                "#!/bin/sh\n"
                'case "$1" in\n'
                f"  Username*) printf '%s\\n' {shlex.quote(credentials.username)} ;;\n"
                f"  *) cat {shlex.quote(str(token))}; echo ;;\n"
                "esac\n",
                encoding="utf-8",
            )
            askpass.chmod(stat.S_IRWXU)
            env["GIT_ASKPASS"] = str(askpass)
        yield env
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


# ----------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FileChange:
    """One path the commit adds, modifies or deletes."""

    path: str
    change: ChangeKind

    def __str__(self) -> str:
        return f"{self.change[0].upper()} {self.path}"


@dataclass(frozen=True)
class PushResult:
    """What a push did (or, with `dry_run`, would do)."""

    commit: str | None  # the commit this call pushed; None when up to date or dry run
    branch: str  # the branch written: the target, or flux-gitops/<stack> in branch mode
    head: str | None  # that branch's tip after the call (None: it does not exist)
    changes: tuple[FileChange, ...] = ()
    created_scaffolds: tuple[str, ...] = ()
    dry_run: bool = False
    diff: str = ""  # unified diff of the change, filled in on dry runs
    attempts: int = 1
    # branch mode: the review branch already held exactly this change on the current target tip
    already_proposed: bool = False

    @property
    def up_to_date(self) -> bool:
        return not self.changes

    @property
    def files(self) -> list[str]:
        return [c.path for c in self.changes]


# ---------------------------------------------------------------------------------- plumbing


@dataclass
class _Remote:
    url: str  # as given to git (absolute path for local repositories)
    label: str  # for messages: redacted
    secrets: list[str]
    env: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    head_branch: str | None = None


def _is_local(url: str) -> bool:
    if url.startswith("file://"):
        return True
    if "://" in url:
        return False
    # scp-like `host:path` / `user@host:path`: a colon before the first slash
    first = url.split("/", 1)[0]
    return ":" not in first


def _normalize_url(url: str) -> str:
    if _is_local(url) and not url.startswith("file://"):
        return os.path.abspath(os.path.expanduser(url))
    return url


def _check_local(url: str, label: str) -> None:
    path = Path(url[len("file://") :] if url.startswith("file://") else url)
    if not path.exists():
        raise RepositoryNotFoundError(f"repository {label} does not exist")
    if not path.is_dir():
        raise RepositoryNotFoundError(f"repository {label} is a file, not a Git repository")


class _Work:
    """A private bare repository in which one operation builds its commit."""

    def __init__(self, path: Path, remote: _Remote) -> None:
        self.remote = remote
        if not (path / "HEAD").exists():
            path.mkdir(parents=True, exist_ok=True)
            git.Repo.init(path, bare=True)
        self.repo = git.Repo(path)
        self.index = str(path / "flux-gitops.index")

    def close(self) -> None:
        self.repo.close()

    def git(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> tuple[int, str, str]:
        merged = {**self.remote.env, "GIT_INDEX_FILE": self.index, **(env or {})}
        with contextlib.ExitStack() as stack:
            istream = None
            if stdin is not None:
                istream = stack.enter_context(tempfile.TemporaryFile())
                istream.write(stdin)
                istream.seek(0)
            try:
                status, out, err = self.repo.git.execute(
                    ["git", *args],
                    istream=istream,
                    with_extended_output=True,
                    with_exceptions=False,
                    env=merged,
                    strip_newline_in_stdout=False,
                )
            except git.GitCommandNotFound:
                raise GitWriterError(
                    "git is not installed (GitPython needs the git command)"
                ) from None
        out_s = out if isinstance(out, str) else out.decode("utf-8", "replace")
        err_s = err if isinstance(err, str) else err.decode("utf-8", "replace")
        if check and status != 0:
            why = _last_lines(scrub(err_s, self.remote.secrets))
            raise GitWriterError(f"git {args[0]} failed on {self.remote.label}: {why}")
        return status, out_s, err_s

    # --- reading the remote

    def ls_remote(self) -> None:
        """Refs of the remote; raises the one-line error for a missing or unreadable repository."""
        status, out, err = self.git("ls-remote", "--symref", self.remote.url, check=False)
        if status != 0:
            raise _classify_read_error(scrub(err, self.remote.secrets), self.remote.label)
        self.remote.refs, self.remote.head_branch = _parse_ls_remote(out)

    def fetch(self, branch: str, local_ref: str) -> str:
        """Fetch the tip of `branch` (depth 1) into `local_ref`; its commit id."""
        self.git(
            "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--depth=1",
            self.remote.url, f"+refs/heads/{branch}:{local_ref}",
        )  # fmt: skip
        return self.git("rev-parse", "--verify", f"{local_ref}^{{commit}}")[1].strip()

    def tree_entries(self, commit: str | None) -> dict[str, tuple[str, str]]:
        """{path: (type, object id)} of every blob and tree in `commit`."""
        if commit is None:
            return {}
        return _parse_ls_tree(self.git("ls-tree", "-r", "-t", "-z", "--full-tree", commit)[1])

    def read_blobs(self, shas: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for sha in set(shas):
            data = self.repo.odb.stream(bytes.fromhex(sha)).read()
            out[sha] = data.decode("utf-8", "replace")
        return out

    def commit_info(self, commit: str) -> tuple[str, list[str]]:
        """(tree, parents) as the commit object states them (valid in a shallow repository)."""
        return _parse_commit_header(self.git("cat-file", "commit", commit)[1])

    # --- writing

    def store_blob(self, content: str) -> str:
        data = content.encode("utf-8")
        stored = self.repo.odb.store(IStream("blob", len(data), io.BytesIO(data)))
        return bytes(stored.hexsha).decode("ascii")

    def build_tree(self, base: str | None, updates: Mapping[str, str | None]) -> str:
        """Tree of `base` with each path set to a blob id, or removed (None)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.index)
        if base is not None:
            self.git("read-tree", base)
        else:
            self.git("read-tree", "--empty")
        records = [
            f"100644 blob {sha}\t{path}\0" if sha else f"0 {_ZERO}\t{path}\0"
            for path, sha in sorted(updates.items())
        ]
        if records:
            self.git("update-index", "-z", "--index-info", stdin="".join(records).encode())
        return self.git("write-tree")[1].strip()

    def changes(self, old_tree: str, new_tree: str) -> tuple[FileChange, ...]:
        args = ("diff-tree", "-r", "-z", "--no-renames", "--name-status", old_tree, new_tree)
        return _parse_name_status(self.git(*args)[1])

    def patch(self, old_tree: str, new_tree: str) -> str:
        return self.git("diff-tree", "-p", "--no-renames", "--no-color", old_tree, new_tree)[1]

    def commit(self, tree: str, parent: str | None, message: str, author: tuple[str, str]) -> str:
        name, email = author
        ident = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        args = ["commit-tree", tree, *(["-p", parent] if parent else []), "-F", "-"]
        return self.git(*args, stdin=message.encode("utf-8"), env=ident)[1].strip()

    def push(self, commit: str, branch: str, expect: str | None) -> tuple[str, str]:
        """Push `commit` to `branch`: ("ok", ""), ("retry", why) or ("rejected", why).

        `expect` given: force-with-lease (the review branch, owned by this stack); otherwise a
        plain fast-forward push, which the server refuses when another writer got there first.
        """
        ref = f"refs/heads/{branch}"
        args = ["push", "--porcelain", "--no-verify"]
        if expect is not None:
            args.append(f"--force-with-lease={ref}:{'' if expect == _ZERO else expect}")
            refspec = f"+{commit}:{ref}"
        else:
            refspec = f"{commit}:{ref}"
        status, out, err = self.git(*args, self.remote.url, refspec, check=False)
        err = scrub(err, self.remote.secrets)
        outcome = _push_outcome(scrub(out, self.remote.secrets), err, ref)
        if outcome is not None:
            return outcome
        if status == 0:
            return "ok", ""
        raise _classify_read_error(err, self.remote.label)


# -------------------------------------------------------------------------- Git's answers


def _parse_ls_remote(out: str) -> tuple[dict[str, str], str | None]:
    """`git ls-remote --symref`: ({ref: sha}, the branch HEAD points to)."""
    refs: dict[str, str] = {}
    head_branch = None
    for line in out.splitlines():
        if line.startswith("ref: "):
            target, _, name = line[len("ref: ") :].partition("\t")
            if name == "HEAD" and target.startswith("refs/heads/"):
                head_branch = target[len("refs/heads/") :]
            continue
        sha, _, name = line.partition("\t")
        refs[name] = sha
    return refs, head_branch


def _parse_ls_tree(out: str) -> dict[str, tuple[str, str]]:
    """`git ls-tree -r -t -z`: {path: (type, object id)}."""
    entries: dict[str, tuple[str, str]] = {}
    for record in out.split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        _mode, kind, sha = meta.split(" ")
        entries[path] = (kind, sha)
    return entries


def _parse_commit_header(raw: str) -> tuple[str, list[str]]:
    """`git cat-file commit`: (tree, parents)."""
    tree, parents = "", []
    for line in raw.split("\n"):
        if not line:
            break
        if line.startswith("tree "):
            tree = line[5:]
        elif line.startswith("parent "):
            parents.append(line[7:])
    return tree, parents


_CHANGE_KINDS: dict[str, ChangeKind] = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "T": "modified",
}


def _parse_name_status(out: str) -> tuple[FileChange, ...]:
    """`git diff-tree -z --name-status`: one FileChange per path."""
    parts = [p for p in out.split("\0") if p]
    return tuple(
        FileChange(parts[i + 1], _CHANGE_KINDS.get(parts[i][0], "modified"))
        for i in range(0, len(parts), 2)
    )


def _push_outcome(out: str, err: str, ref: str) -> tuple[str, str] | None:
    """`git push --porcelain`'s line for `ref`: ("ok", ""), ("retry", why), ("rejected", why),
    or None when there is none."""
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or not fields[1].endswith(f":{ref}"):
            continue
        flag, summary = fields[0], fields[2]
        if flag in (" ", "+", "*", "="):
            return "ok", ""
        if flag == "!":
            reason = _reason(summary, err)
            if any(s in summary for s in ("non-fast-forward", "fetch first", "stale info")):
                return "retry", reason
            if "cannot lock ref" in summary or "failed to update ref" in summary:
                return "retry", reason  # two pushes hit the server's ref lock at once
            return "rejected", reason
    return None


def _reason(summary: str, err: str) -> str:
    # "[remote rejected] (pre-receive hook declined)" -> "pre-receive hook declined", plus
    # what the hook printed ("remote: ..." lines), which usually says why.
    m = re.search(r"\((.*)\)\s*\Z", summary)
    reason = m.group(1) if m else summary.strip()
    remote = [
        line[len("remote:") :].strip()
        for line in err.splitlines()
        if line.startswith("remote:") and line[len("remote:") :].strip()
    ]
    if remote:
        reason += ": " + "; ".join(remote)
    return reason


def _last_lines(err: str) -> str:
    lines = [
        line.strip() for line in err.splitlines() if line.strip() and not line.startswith("hint:")
    ]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:", "ERROR:"))]
    return (fatal[0] if fatal else lines[-1] if lines else "no error message").strip()


_AUTH_ERRORS = (
    "authentication failed",
    "permission denied",
    "could not read username",
    "could not read password",
    "invalid username or password",
    "host key verification failed",
)
_MISSING_ERRORS = (
    "not found",
    "does not appear to be a git repository",
    "does not exist",
    "no such file",
    "not a git repository",
)


def _classify_read_error(err: str, label: str) -> GitWriterError:
    low = err.lower()
    msg = _last_lines(err)
    if any(s in low for s in _AUTH_ERRORS):
        return AuthenticationError(f"cannot authenticate to {label}: {msg}")
    if any(s in low for s in _MISSING_ERRORS):
        return RepositoryNotFoundError(
            f"repository {label} does not exist or cannot be read: {msg}"
        )
    return GitWriterError(f"cannot reach {label}: {msg}")


@contextlib.contextmanager
def _session(
    repo_url: str, credentials: GitCredentials | None, workdir: str | os.PathLike[str] | None
) -> Iterator[_Work]:
    url = _normalize_url(repo_url)
    secrets = credentials.secrets() if credentials else []
    label = scrub(repo_url, secrets)
    if _is_local(url):
        _check_local(url, label)
    with credentials_env(credentials) as env, contextlib.ExitStack() as stack:
        if workdir is None:
            path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flux-gitops-")))
        else:
            path = Path(workdir)
        work = _Work(path, _Remote(url=url, label=label, secrets=secrets, env=env))
        try:
            yield work
        finally:
            work.close()


# ------------------------------------------------------------------------------------ inputs


def _check_branch(branch: str) -> None:
    """Every entry (config, CLI flag, the Pulumi provider) meets Git's rules before Git runs."""
    problem = branch_problem(branch)
    if problem:
        raise GitWriterError(
            f"branch {quote(branch)} is not a usable Git branch name: it {problem}"
        )


def _check_path(path: str) -> str:
    parts = path.split("/")
    if (
        not path
        or any(ord(ch) < 0x20 or ch == "\x7f" for ch in path)
        or path.startswith("/")
        or "\\" in path
        or any(p in ("", ".", "..") for p in parts)
        or any(p.lower() == ".git" for p in parts)
    ):
        raise GitWriterError(f"{quote(path)} is not a relative POSIX path inside the repository")
    return path


def _check_conflicts(paths: Iterable[str], tip: Mapping[str, tuple[str, str]]) -> None:
    """A file must not replace a directory, nor a directory a file: that would silently delete
    whatever people keep there (`git update-index` replaces such entries without a word)."""
    wanted = sorted(paths)
    wanted_set = set(wanted)
    for path in wanted:
        entry = tip.get(path)
        if entry is not None and entry[0] != "blob":
            raise GitWriterError(
                f"{path} is a {'directory' if entry[0] == 'tree' else 'submodule'} in the "
                "repository; refusing to replace it by a file"
            )
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if tip.get(parent, ("tree", ""))[0] != "tree" or parent in wanted_set:
                raise GitWriterError(
                    f"{parent} is a file; refusing to replace it by the directory of {path}"
                )


def _exists(path: str, tip: Mapping[str, tuple[str, str]]) -> bool:
    return path.rstrip("/") in tip


def _subject_and_body(prefix: str, stack: str, changes: tuple[FileChange, ...]) -> str:
    written = sum(1 for c in changes if c.change != "deleted")
    deleted = len(changes) - written

    def n(count: int) -> str:
        return f"{count} file{'s' if count != 1 else ''}"

    what = []
    if written:
        what.append(f"update {n(written)}")
    if deleted:
        what.append(f"remove {n(deleted)}")
    body = "\n".join(str(c) for c in changes)
    return f"{prefix}: {', '.join(what)}\n\n{body}\n\nFlux-Gitops-Stack: {stack}\n"


def _sleep_backoff(attempt: int) -> None:
    time.sleep(min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * random.uniform(0.5, 1.5))


def _author(author: tuple[str, str] | object) -> tuple[str, str]:
    if isinstance(author, tuple):
        return (str(author[0]), str(author[1]))
    name, email = getattr(author, "name", None), getattr(author, "email", None)
    if not isinstance(name, str) or not isinstance(email, str):
        raise TypeError("author must be (name, email) or have .name and .email")
    return (name, email)


# --------------------------------------------------------------------------------- operations


def push_files(
    repo_url: str,
    branch: str,
    files: RepoFiles,
    *,
    stack: str,
    author: tuple[str, str] | object = DEFAULT_AUTHOR,
    message: str | None = None,
    push_mode: PushMode = "direct",
    create_branch: bool = False,
    credentials: GitCredentials | None = None,
    workdir: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    max_retries: int = 5,
    remove: Iterable[str] = (),
    stale: Stale | None = None,
) -> PushResult:
    """Commit `files` of `stack` on top of `branch` of `repo_url` and push, in one commit.

    Managed and fleet files are overwritten; scaffolds are created only where neither their
    guard path nor their own path exists. `remove` lists managed paths this stack no longer
    renders; they are deleted in the same commit (never fleet paths). `stale`, given a reader of
    the tip's files, names more such paths from what the repository records (what `fluxboot
    push` has in place of Pulumi's state). `push_mode="branch"` pushes to `flux-gitops/<stack>`,
    rebuilt from the tip of `branch` every time. `message` is the subject prefix,
    `flux-gitops(<stack>)` by default.
    """
    _check_target(push_mode, branch, stack)
    push = _Push(
        branch=branch,
        files=files,
        stack=stack,
        author=_author(author),
        prefix=message or f"flux-gitops({stack})",
        push_mode=push_mode,
        create_branch=create_branch,
        dry_run=dry_run,
        removals=_checked_removals(files, remove),
        stale=stale,
    )
    with _session(repo_url, credentials, workdir) as work:
        for attempt in range(max_retries + 1):
            result = push.attempt(work, attempt + 1)
            if result is not None:
                return result
            if attempt < max_retries:
                _sleep_backoff(attempt)
        raise ConcurrentUpdateError(
            f"push to {push.write_branch} of {work.remote.label} failed {max_retries + 1} times: "
            "other writers kept updating the branch; run again"
        )


def _check_target(push_mode: str, branch: str, stack: str) -> None:
    if push_mode not in ("direct", "branch"):
        raise GitWriterError(f"push mode {quote(push_mode)} is not direct or branch")
    _check_branch(branch)
    if push_mode == "branch":
        _check_branch(f"{REVIEW_BRANCH_PREFIX}{stack}")


def _checked_removals(files: RepoFiles, remove: Iterable[str]) -> list[str]:
    for path in files:
        _check_path(path)
    removals = sorted({_check_path(p) for p in remove} - set(files))
    for path in removals:
        if path.startswith(FLEET_PREFIX):
            raise GitWriterError(f"{path} is a fleet file; no stack deletes fleet files")
    return removals


@dataclass(frozen=True)
class _Tree:
    """The tree one attempt built on a tip, and what it changes there."""

    base_tree: str
    tree: str
    changes: tuple[FileChange, ...]
    created: tuple[str, ...]  # scaffolds among the changes


@dataclass(frozen=True)
class _Push:
    """One push's checked inputs; `attempt` is one round of fetch, build, commit and push."""

    branch: str
    files: RepoFiles
    stack: str
    author: tuple[str, str]
    prefix: str
    push_mode: PushMode
    create_branch: bool
    dry_run: bool
    removals: list[str]
    stale: Stale | None

    @property
    def write_branch(self) -> str:
        return f"{REVIEW_BRANCH_PREFIX}{self.stack}" if self.push_mode == "branch" else self.branch

    def attempt(self, work: _Work, attempts: int) -> PushResult | None:
        """The result, or None when another writer moved the branch first (try again)."""
        base = self._fetch_base(work)
        built = self._build(work, base)
        refs = work.remote.refs
        current = refs.get(f"refs/heads/{self.write_branch}")
        result = functools.partial(
            PushResult, branch=self.write_branch, dry_run=self.dry_run, attempts=attempts
        )
        if self.push_mode == "branch" and current and built.changes:
            review = work.fetch(self.write_branch, _LOCAL_REVIEW)
            if work.commit_info(review) == (built.tree, [base] if base else []):
                # the review branch already holds exactly this change on this tip
                diff = work.patch(built.base_tree, built.tree) if self.dry_run else ""
                return result(
                    commit=None,
                    head=review,
                    changes=built.changes,
                    diff=diff,
                    already_proposed=True,
                )
        head = base if self.push_mode == "direct" else current
        if not built.changes:
            return result(commit=None, head=head)
        if self.dry_run:
            diff = work.patch(built.base_tree, built.tree)
            return result(
                commit=None,
                head=head,
                changes=built.changes,
                created_scaffolds=built.created,
                diff=diff,
            )
        message = _subject_and_body(self.prefix, self.stack, built.changes)
        commit = work.commit(built.tree, base, message, self.author)
        # the review branch belongs to this stack: pushed with a lease on what was read
        expect = (current or _ZERO) if self.push_mode == "branch" else None
        outcome, reason = work.push(commit, self.write_branch, expect)
        if outcome == "ok":
            return result(
                commit=commit, head=commit, changes=built.changes, created_scaffolds=built.created
            )
        if outcome == "rejected":
            raise PushRejectedError(
                f"push to {self.write_branch} of {work.remote.label} rejected: {reason}"
            )
        return None

    def _fetch_base(self, work: _Work) -> str | None:
        """The tip to build on: the branch, else (createBranch) the default branch, else None
        for an empty repository (the first commit is a root commit)."""
        work.ls_remote()
        refs = work.remote.refs
        if f"refs/heads/{self.branch}" in refs:
            return work.fetch(self.branch, _LOCAL_TARGET)
        if not self.create_branch:
            raise BranchNotFoundError(
                f"branch {quote(self.branch)} does not exist in {work.remote.label}; create it, "
                "or set createBranch: true in flux-gitops:git"
            )
        head = work.remote.head_branch
        if head and f"refs/heads/{head}" in refs:
            return work.fetch(head, _LOCAL_TARGET)
        return None

    def _build(self, work: _Work, base: str | None) -> _Tree:
        """The files written on `base`: scaffolds only where absent, removals taken out."""
        tip = work.tree_entries(base)
        updates: dict[str, str | None] = {}
        created: list[str] = []
        for path, f in self.files.items():
            if f.owner == "scaffold":
                if _exists(f.guard_path, tip) or _exists(path, tip):
                    continue
                created.append(path)
            updates[path] = work.store_blob(f.content)
        _check_conflicts(updates, tip)
        gone = set(self.removals)
        if self.stale is not None:
            gone.update(_stale_paths(work, tip, self.stale, self.files))
        for path in sorted(gone):
            if tip.get(path, ("", ""))[0] == "blob":
                updates[path] = None
        base_tree = work.commit_info(base)[0] if base else _EMPTY_TREE
        tree = work.build_tree(base, updates)
        changes = work.changes(base_tree, tree)
        return _Tree(base_tree, tree, changes, tuple(c.path for c in changes if c.path in created))


def _stale_paths(
    work: _Work, tip: Mapping[str, tuple[str, str]], stale: Stale, files: RepoFiles
) -> list[str]:
    def read(path: str) -> str | None:
        entry = tip.get(path)
        if entry is None or entry[0] != "blob":
            return None
        return work.read_blobs([entry[1]])[entry[1]]

    out = []
    for path in stale(read):
        _check_path(path)
        if path in files or path.startswith(FLEET_PREFIX):
            continue  # rendered after all, or the fleet's: never removed by a stack
        out.append(path)
    return out


def delete_files(
    repo_url: str,
    branch: str,
    paths: RepoFiles | Iterable[str],
    *,
    stack: str,
    author: tuple[str, str] | object = DEFAULT_AUTHOR,
    message: str | None = None,
    push_mode: PushMode = "direct",
    credentials: GitCredentials | None = None,
    workdir: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    max_retries: int = 5,
) -> PushResult:
    """Remove this stack's managed files in one commit (same retries and push modes as a push).

    Given a `RepoFiles`, only its managed files are removed; given paths, they must be managed
    paths of this stack: fleet files (core-apps/sources/) are refused. A missing branch or
    missing files are not an error: there is nothing to remove.
    """
    if isinstance(paths, RepoFiles):
        wanted = sorted(paths.owned_by("managed"))
    else:
        wanted = sorted(set(paths))
    try:
        return push_files(
            repo_url,
            branch,
            RepoFiles(),
            stack=stack,
            author=author,
            message=message,
            push_mode=push_mode,
            credentials=credentials,
            workdir=workdir,
            dry_run=dry_run,
            max_retries=max_retries,
            remove=wanted,
        )
    except BranchNotFoundError:
        name = f"{REVIEW_BRANCH_PREFIX}{stack}" if push_mode == "branch" else branch
        return PushResult(commit=None, branch=name, head=None, dry_run=dry_run)


def read_state(
    repo_url: str,
    branch: str,
    files: RepoFiles | Iterable[str],
    *,
    credentials: GitCredentials | None = None,
    workdir: str | os.PathLike[str] | None = None,
) -> dict[str, str | None]:
    """{path: content on the tip of `branch`, or None when absent} for each path of `files`.

    A missing branch reads as every file absent; a missing repository is an error.
    """
    paths = sorted(files) if isinstance(files, RepoFiles) else sorted(set(files))
    for path in paths:
        _check_path(path)
    _check_branch(branch)
    with _session(repo_url, credentials, workdir) as work:
        work.ls_remote()
        if f"refs/heads/{branch}" not in work.remote.refs:
            return dict.fromkeys(paths)
        tip = work.tree_entries(work.fetch(branch, _LOCAL_TARGET))
        blobs = {p: tip[p][1] for p in paths if p in tip and tip[p][0] == "blob"}
        contents = work.read_blobs(blobs.values())
        return {p: contents[blobs[p]] if p in blobs else None for p in paths}


def drift(files: RepoFiles, state: Mapping[str, str | None]) -> dict[str, str]:
    """Managed and fleet paths that differ in the repository: {path: "modified" | "missing"}."""
    out: dict[str, str] = {}
    for path, f in files.items():
        if f.owner == "scaffold":
            continue
        actual = state.get(path)
        if actual is None:
            out[path] = "missing"
        elif actual != f.content:
            out[path] = "modified"
    return out


__all__ = [
    "AuthenticationError",
    "BranchNotFoundError",
    "ConcurrentUpdateError",
    "FileChange",
    "GitCredentials",
    "GitWriterError",
    "PushRejectedError",
    "PushResult",
    "RepoFile",
    "RepoFiles",
    "RepositoryNotFoundError",
    "credentials_env",
    "delete_files",
    "drift",
    "push_files",
    "read_state",
    "redact_url",
    "scrub",
]
