"""`fluxboot`: the Pulumi program's pipeline without the Pulumi engine.

Runs from the project root (the directory with Pulumi.yaml) and reads the same stack files as
`pulumi up`, so a user without cluster credentials, and every test, sees exactly what a stack
would commit. Exit status: 0 success, 1 a check found problems, 2 bad input (config, template,
manifest, usage): one line per problem, no traceback, nothing written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from components import git_writer
from components.config import GitSettings
from components.config_sources import list_stacks
from components.errors import ConfigError, FluxGitopsError, ValidationError
from components.pipeline import render_stack
from components.repofiles import RepoFiles

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2


def _stacks(args: argparse.Namespace) -> list[str]:
    if args.all:
        stacks = list_stacks(args.project)
        if not stacks:
            raise FluxGitopsError(f"{args.project}: no Pulumi.<stack>.yaml files")
        return stacks
    if not args.stack:
        raise FluxGitopsError("name a STACK, or pass --all")
    return [args.stack]


def _write_tree(out: Path, files: RepoFiles) -> None:
    for path, f in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.content.encode("utf-8"))


def cmd_render(args: argparse.Namespace) -> int:
    """Render one stack (or every stack) into a directory, or list the files."""
    merged = RepoFiles()
    for stack in _stacks(args):
        merged = merged.merged(render_stack(args.project, stack, args.manifests_dir).files)
    if args.list:
        width = max((len(f.kind) for f in merged.values()), default=0)
        for path, f in merged.items():
            print(f"{f.kind:<{width}}  {path}")
        return EXIT_OK
    if args.out is None:
        raise FluxGitopsError("render needs --out DIR (or --list)")
    if args.out.exists() and not args.out.is_dir():
        raise FluxGitopsError(f"--out {args.out}: exists and is not a directory")
    # every stack rendered and validated before the first byte is written
    _write_tree(args.out, merged)
    print(f"wrote {len(merged)} files to {args.out}")
    return EXIT_OK


def cmd_push(args: argparse.Namespace) -> int:
    """Commit a stack's rendered files to the GitOps repository (same code as `pulumi up`)."""

    def files_for(stack: str) -> tuple[GitSettings, RepoFiles]:
        rendered = render_stack(args.project, stack, args.manifests_dir)
        git = rendered.config.settings.git
        if args.create_branch:
            git = git.model_copy(update={"create_branch": True})
        return git, rendered.files

    return git_writer.run(args, files_for)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fluxboot",
        description="Render, push and check the Flux GitOps repository of each Pulumi stack.",
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=Path("."),
        help="project directory holding Pulumi.yaml (default: the current directory)",
    )
    parser.add_argument(
        "--manifests-dir",
        type=Path,
        default=None,
        help="local mirror of Flux install manifests, laid out <dir>/<version>/gotk-components.yaml "
        "(default: $FLUXBOOT_MANIFESTS_DIR)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = sub.add_parser(
        "render", help="write a stack's files as they would stand in the repository"
    )
    render.add_argument("stack", nargs="?", help="stack name (Pulumi.<stack>.yaml)")
    render.add_argument(
        "--all", action="store_true", help="every Pulumi.*.yaml stack into one tree"
    )
    render.add_argument("--out", type=Path, help="directory to write into")
    render.add_argument(
        "--list", action="store_true", help="print the paths with their kind instead"
    )
    render.set_defaults(func=cmd_render)

    push = sub.add_parser(
        "push", help="commit a stack's files to the GitOps repository, as `pulumi up` does"
    )
    git_writer.add_arguments(push)
    push.add_argument(
        "--create-branch",
        action="store_true",
        help="create the branch when it does not exist (as git.createBranch)",
    )
    push.set_defaults(func=cmd_push)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ConfigError, ValidationError) as err:
        # one line per problem, each naming its file and key: nothing to add around them
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    except FluxGitopsError as err:
        print(f"fluxboot {args.command}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
