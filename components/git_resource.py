"""`GitOpsFiles`: a Pulumi dynamic resource that owns one stack's files in the GitOps repository.

The provider calls `components.adapters.git_writer` for every operation:

- create / update push the files (one commit, or none when the repository is up to date);
  update also removes managed files the stack no longer renders;
- diff compares the state (what the repository held at the last up or refresh) with the new
  inputs, so `pulumi preview` shows an update exactly when a file or a setting changes;
- read (refresh) reads the repository: a managed or fleet file edited or removed by hand is
  recorded under `drift`, and the next up restores it;
- delete removes the managed files only when `delete_files` is set; fleet files and scaffolds
  are never removed.

The inputs hold each file's content, keyed by path, under `managed`, `fleet` and `scaffolds`; the
outputs hold only a digest per file (`sha256:<hex>`), and `drift` the digest refresh found in the
repository where it differs (https://www.pulumi.com/docs/iac/concepts/resources/dynamic-providers/).
That keeps `pulumi preview --diff` readable: when only inputs changed (no drift), `diff` answers
"unknown", and the engine then diffs old and new inputs itself into a detailed diff that shows the
changed files alone, as line diffs, instead of every file of the stack (270 KB of
gotk-components.yaml among them) around the one that changed. Credentials are inputs marked
secret and listed in `additional_secret_outputs`, so they are encrypted in the state; the provider
gets them as plain values (the dynamic provider does not accept secrets, the engine strips and
re-applies the marking) and hands them to the writer only.

Pulumi pickles the provider into the state: `GitOpsFilesProvider` holds no attributes, so the
pickle holds no secret and nothing unpicklable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi.dynamic as dyn
from pulumi.runtime import rpc

from components.common.git_refs import DEFAULT_AUTHOR
from components.common.repofiles import RepoFile, RepoFiles

if TYPE_CHECKING:
    # types only: the dynamic provider's process (which imports this module to unpickle the
    # provider, twice per `pulumi up`) needs neither the config models nor GitPython up front
    from components.adapters.git_writer import GitCredentials, PushResult
    from components.config.model import GitSettings


# `components.adapters.git_writer` is imported where the provider works, not at the top: the Pulumi
# program itself never touches Git, and GitPython is a noticeable part of every preview's start.

SECRET_INPUTS = ("ssh_private_key", "token")
# Inputs whose change alone needs an update (a push to the new place or with the new settings).
SETTINGS = (
    "repo_url",
    "branch",
    "stack",
    "author_name",
    "author_email",
    "message_prefix",
    "push_mode",
    "create_branch",
    "delete_files",
    "username",
    "known_hosts",
    *SECRET_INPUTS,
)


# Outputs written by this version: per-file digests and `drift`. States written before hold each
# file's content under `managed`/`fleet`/`scaffolds` and no format key.
STATE_FORMAT = 2
DIGEST_PREFIX = "sha256:"
CONTENT_KINDS = ("managed", "fleet", "scaffolds")


def _plain(value: Any) -> Any:
    """Unwrap a secret the engine may still hand over wrapped (under mocks, or in the future)."""
    return rpc.unwrap_rpc_secret(value)


def digest(content: str) -> str:
    """How the state records a file: `sha256:<hex>` of its UTF-8 text."""
    return DIGEST_PREFIX + hashlib.sha256(content.encode()).hexdigest()


def _recorded(olds: Mapping[str, Any], kind: str) -> dict[str, str] | None:
    """{path: digest} of what the state says the repository holds (drift included), or None
    while unknown. Accepts the contents an older state holds in place of digests."""
    value = _plain(olds.get(kind))
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return None
    new_format = olds.get("state_format") == STATE_FORMAT
    out = {
        p: (v if new_format else digest(v["content"] if isinstance(v, Mapping) else v))
        for p, v in value.items()
    }
    for path, seen in (_plain(olds.get("drift")) or {}).items():
        if path in out:
            if seen:
                out[path] = seen
            else:
                del out[path]
    return out


def _rendered(news: Mapping[str, Any], kind: str) -> dict[str, str] | None:
    """{path: digest} of the new inputs' files, or None while unknown (preview)."""
    value = _plain(news.get(kind))
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return None
    return {p: digest(v["content"] if isinstance(v, Mapping) else v) for p, v in value.items()}


def _files(props: Mapping[str, Any]) -> RepoFiles:
    managed = _plain(props.get("managed")) or {}
    fleet = _plain(props.get("fleet")) or {}
    scaffolds = _plain(props.get("scaffolds")) or {}
    return RepoFiles(
        [
            *(RepoFile(p, c, "managed") for p, c in managed.items()),
            *(RepoFile(p, c, "fleet") for p, c in fleet.items()),
            *(
                RepoFile(p, s["content"], "scaffold", s.get("guard") or "")
                for p, s in scaffolds.items()
            ),
        ]
    )


def _credentials(props: Mapping[str, Any]) -> GitCredentials:
    from components.adapters.git_writer import GitCredentials

    return GitCredentials(
        ssh_private_key=_plain(props.get("ssh_private_key")) or None,
        token=_plain(props.get("token")) or None,
        username=_plain(props.get("username")) or "git",
        known_hosts=_plain(props.get("known_hosts")) or None,
    )


def _author(props: Mapping[str, Any]) -> tuple[str, str]:
    return (
        props.get("author_name") or DEFAULT_AUTHOR[0],
        props.get("author_email") or DEFAULT_AUTHOR[1],
    )


def _push(props: Mapping[str, Any], remove: list[str] | None = None) -> PushResult:
    from components.adapters.git_writer import push_files

    return push_files(
        props["repo_url"],
        props["branch"],
        _files(props),
        stack=props["stack"],
        author=_author(props),
        message=props.get("message_prefix") or None,
        push_mode=props.get("push_mode") or "direct",
        create_branch=bool(props.get("create_branch")),
        credentials=_credentials(props),
        remove=remove or (),
    )


def _outs(props: Mapping[str, Any], result: PushResult, previous: str | None) -> dict[str, Any]:
    outs = {k: v for k, v in props.items() if k != "__provider"}
    managed = _plain(props.get("managed")) or {}
    fleet = _plain(props.get("fleet")) or {}
    for kind in CONTENT_KINDS:
        outs[kind] = _rendered(props, kind)
    outs["drift"] = {}
    outs["state_format"] = STATE_FORMAT
    # The commit that last wrote this stack's files; an up-to-date push keeps the previous one.
    outs["commit_id"] = result.commit or previous or result.head or ""
    outs["pushed_branch"] = result.branch
    outs["files"] = sorted([*managed, *fleet])
    outs["changed_files"] = result.files
    outs["created_scaffolds"] = list(result.created_scaffolds)
    return outs


def planned_changes(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """What an update would change: `+ path`, `~ path`, `- path` per file, `~ key` per setting.

    `olds` are the state's outputs: what the repository held at the last up or refresh.
    Scaffolds only count when new ones appear; an existing scaffold belongs to people.
    """
    out: list[str] = []
    for kind in ("managed", "fleet"):
        old = _recorded(olds, kind)
        new = _rendered(news, kind)
        if old is None or new is None:
            out.append(f"~ {kind}")  # not known until apply (preview)
            continue
        for path in sorted({*old, *new}):
            if path not in old:
                out.append(f"+ {path}")
            elif path not in new:
                # a fleet file that is no longer rendered is left alone; a managed one is removed
                if kind == "managed":
                    out.append(f"- {path}")
            elif old[path] != new[path]:
                out.append(f"~ {path}")
    old_scaffolds = _plain(olds.get("scaffolds")) or {}
    new_scaffolds = _plain(news.get("scaffolds")) or {}
    if not isinstance(new_scaffolds, Mapping):
        out.append("~ scaffolds")
    else:
        for path in sorted(set(new_scaffolds) - set(old_scaffolds)):
            out.append(f"+ {path} (scaffold, if absent)")
    for key in SETTINGS:
        if _plain(olds.get(key)) != _plain(news.get(key)):
            out.append(f"~ {key}")
    return out


class GitOpsFilesProvider(dyn.ResourceProvider):
    """CRUD of one stack's files in the GitOps repository (see the module docstring)."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        failures = []
        if news.get("push_mode") not in (None, "direct", "branch"):
            failures.append(dyn.CheckFailure("push_mode", "must be direct or branch"))
        for key in ("repo_url", "branch", "stack"):
            if not news.get(key) and news.get(key) != rpc.UNKNOWN:
                failures.append(dyn.CheckFailure(key, "is required"))
        managed = news.get("managed") or {}
        fleet = news.get("fleet") or {}
        if isinstance(managed, dict) and isinstance(fleet, dict):
            for path in sorted(set(managed) & set(fleet)):
                failures.append(dyn.CheckFailure("managed", f"{path} is also a fleet file"))
        return dyn.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        result = _push(props)
        return dyn.CreateResult(f"{props['stack']}", _outs(props, result, None))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        # Never a replacement: a new URL or branch is written by an update, and the old place is
        # left as it is (deleting there could remove the files just written, when both URLs
        # name one repository).
        if not planned_changes(olds, news):
            changes: bool | None = False
        elif olds.get("state_format") == STATE_FORMAT and not _plain(olds.get("drift")):
            # Only the inputs changed: "unknown" makes the engine diff old and new inputs into a
            # detailed diff, which `preview --diff` shows as the changed files' line diffs.
            changes = None
        else:
            changes = True  # drift (or a state from before the digests): an update, shown whole
        return dyn.DiffResult(changes=changes, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        old_managed = set(_plain(olds.get("managed")) or {})
        new_managed = set(_plain(news.get("managed")) or {})
        new_fleet = set(_plain(news.get("fleet")) or {})
        gone = sorted(old_managed - new_managed - new_fleet)
        result = _push(news, remove=gone)
        return dyn.UpdateResult(_outs(news, result, olds.get("commit_id")))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        from components.adapters.git_writer import read_state

        outs = {k: v for k, v in props.items() if k != "__provider"}
        if props.get("state_format") != STATE_FORMAT:
            # A state from before the digests keeps its form (contents as read) until the next up
            # rewrites it: its recorded contents may already hold an earlier refresh's drift.
            managed = _plain(props.get("managed")) or {}
            fleet = _plain(props.get("fleet")) or {}
            found = read_state(
                props["repo_url"],
                props["branch"],
                [*managed, *fleet],
                credentials=_credentials(props),
            )
            outs["managed"] = {p: found[p] for p in managed if found.get(p) is not None}
            outs["fleet"] = {p: found[p] for p in fleet if found.get(p) is not None}
            return dyn.ReadResult(id_, outs)
        written = {}
        for kind in CONTENT_KINDS:
            # what the last up wrote, without any earlier drift
            recorded = _recorded({**props, "drift": {}}, kind) or {}
            outs[kind] = recorded
            if kind != "scaffolds":  # a scaffold belongs to people: never drift
                written.update(recorded)
        state = read_state(
            props["repo_url"], props["branch"], sorted(written), credentials=_credentials(props)
        )
        drift = {}
        for path, expected in sorted(written.items()):
            content = state.get(path)
            seen = digest(content) if content is not None else ""
            if seen != expected:
                drift[path] = seen
        outs["drift"] = drift
        outs["state_format"] = STATE_FORMAT
        return dyn.ReadResult(id_, outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if not props.get("delete_files"):
            return
        from components.adapters.git_writer import delete_files

        delete_files(
            props["repo_url"],
            props["branch"],
            sorted(_plain(props.get("managed")) or {}),
            stack=props["stack"],
            author=_author(props),
            message=props.get("message_prefix") or None,
            push_mode=props.get("push_mode") or "direct",
            credentials=_credentials(props),
        )


@dataclass(frozen=True)
class GitOpsFilesArgs:
    """Inputs of `GitOpsFiles`. `ssh_private_key` and `token` are made secret here."""

    repo_url: pulumi.Input[str]
    branch: pulumi.Input[str]
    stack: pulumi.Input[str]
    managed: pulumi.Input[Mapping[str, str]]
    fleet: pulumi.Input[Mapping[str, str]]
    scaffolds: pulumi.Input[Mapping[str, Mapping[str, str]]]  # {path: {content, guard}}
    author_name: pulumi.Input[str] = DEFAULT_AUTHOR[0]
    author_email: pulumi.Input[str] = DEFAULT_AUTHOR[1]
    message_prefix: pulumi.Input[str] = ""
    push_mode: pulumi.Input[str] = "direct"
    create_branch: pulumi.Input[bool] = False
    delete_files: pulumi.Input[bool] = False
    username: pulumi.Input[str] = "git"
    known_hosts: pulumi.Input[str] | None = None
    ssh_private_key: pulumi.Input[str] | None = None
    token: pulumi.Input[str] | None = None

    @staticmethod
    def from_settings(
        settings: GitSettings,
        stack: str,
        files: RepoFiles,
        *,
        ssh_private_key: pulumi.Input[str] | None = None,
        token: pulumi.Input[str] | None = None,
    ) -> GitOpsFilesArgs:
        """Inputs for one stack from its `git` settings and rendered files."""
        return GitOpsFilesArgs(
            repo_url=settings.push_url or settings.url,
            branch=settings.branch,
            stack=stack,
            managed=files.owned_by("managed"),
            fleet=files.owned_by("fleet"),
            scaffolds={
                p: {"content": f.content, "guard": f.guard}
                for p, f in files.items()
                if f.owner == "scaffold"
            },
            author_name=settings.author.name,
            author_email=settings.author.email,
            push_mode=settings.push_mode,
            create_branch=settings.create_branch,
            delete_files=settings.delete_files,
            username=settings.username,
            known_hosts=settings.known_hosts,
            ssh_private_key=ssh_private_key,
            token=token,
        )


class GitOpsFiles(dyn.Resource, module="flux-gitops", name="GitOpsFiles"):
    """One stack's files in the GitOps repository, committed on create/update."""

    commit_id: pulumi.Output[str]
    pushed_branch: pulumi.Output[str]
    files: pulumi.Output[list[str]]
    changed_files: pulumi.Output[list[str]]
    created_scaffolds: pulumi.Output[list[str]]
    # inputs echoed in the state, secret (delete and refresh need them after the program is gone)
    ssh_private_key: pulumi.Output[str | None]
    token: pulumi.Output[str | None]

    def __init__(
        self, name: str, args: GitOpsFilesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props: dict[str, Any] = {
            k: getattr(args, k) for k in GitOpsFilesArgs.__dataclass_fields__ if k != "stack"
        }
        props["stack"] = args.stack
        for key in SECRET_INPUTS:
            if props[key] is not None:
                props[key] = pulumi.Output.secret(props[key])
        for key in ("commit_id", "pushed_branch", "files", "changed_files", "created_scaffolds"):
            props[key] = None  # outputs: declared so the attributes exist
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_INPUTS))
        super().__init__(
            GitOpsFilesProvider(),
            name,
            props,
            pulumi.ResourceOptions.merge(opts, secret_opts),
        )


__all__ = ["GitOpsFiles", "GitOpsFilesArgs", "GitOpsFilesProvider", "digest", "planned_changes"]
