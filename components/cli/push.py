"""`fluxboot push`: commit a stack's rendered files, as `pulumi up` does, and say what happened."""

from __future__ import annotations

import argparse
import functools
import sys
from typing import TextIO

from components.adapters.git_writer import (
    GitCredentials,
    PushResult,
    Stale,
    push_files,
    redact_url,
)
from components.cli.main import EXIT_OK
from components.common.repofiles import RepoFiles
from components.config.model import GitSettings
from components.render.pipeline import render_stack
from components.render.renderers import stale_managed_files


def format_result(result: PushResult, repo_url: str) -> str:
    """What `fluxboot push` prints: the commit id or "up to date", then the files."""
    where = f"{result.branch} of {redact_url(repo_url)}"
    if result.up_to_date:
        tip = f" at {result.head[:12]}" if result.head else ""
        return f"{where} is up to date{tip}\n"
    files = "".join(f"  {c}\n" for c in result.changes)
    count = f"{len(result.changes)} file{'s' if len(result.changes) != 1 else ''}"
    if result.already_proposed:
        return f"{where} already holds this change at {(result.head or '')[:12]}\n{files}"
    if result.dry_run:
        return f"dry run: would commit {count} to {where}\n{files}\n{result.diff}"
    return f"pushed {result.commit} to {where} ({count})\n{files}"


def push_stack(
    settings: GitSettings,
    stack: str,
    files: RepoFiles,
    *,
    repo: str | None = None,
    branch: str | None = None,
    dry_run: bool = False,
    credentials: GitCredentials | None = None,
    out: TextIO | None = None,
    stale: Stale | None = None,
) -> PushResult:
    """Push the rendered `files` with the stack's `git` settings and print what happened.

    `repo` and `branch` override `pushUrl`/`url` and `branch`. Without `credentials` Git uses
    the user's own setup (ssh-agent, credential helpers).
    """
    repo_url = repo or settings.push_url or settings.url
    result = push_files(
        repo_url,
        branch or settings.branch,
        files,
        stack=stack,
        author=(settings.author.name, settings.author.email),
        push_mode=settings.push_mode,
        create_branch=settings.create_branch,
        credentials=credentials,
        dry_run=dry_run,
        stale=stale,
    )
    (out or sys.stdout).write(format_result(result, repo_url))
    return result


def cmd_push(args: argparse.Namespace) -> int:
    """Commit a stack's rendered files to the GitOps repository (same code as `pulumi up`).

    Like `pulumi up`, it removes the managed files the stack no longer renders (a notification
    provider taken out of the config); without Pulumi's state, the repository's own listing of
    them says which (`render.renderers.stale_managed_files`).
    """
    rendered = render_stack(args.project, args.stack, args.manifests_dir)
    git = rendered.config.settings.git
    if args.create_branch:
        git = git.model_copy(update={"create_branch": True})
    push_stack(
        git,
        args.stack,
        rendered.files,
        repo=args.repo,
        branch=args.branch,
        dry_run=args.dry_run,
        stale=functools.partial(stale_managed_files, rendered.config.cluster, rendered.files),
    )
    return EXIT_OK
