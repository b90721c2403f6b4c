"""`fluxboot render`: a stack's files, written into a directory or listed."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from components.cli.main import EXIT_OK
from components.common.errors import FluxGitopsError
from components.common.repofiles import RepoFiles
from components.config.stack_files import list_stacks
from components.render.pipeline import render_stack


def stacks_of(args: argparse.Namespace) -> list[str]:
    """The stacks a command names: STACK, or every stack with `--all`."""
    if args.all:
        stacks = list_stacks(args.project)
        if not stacks:
            raise FluxGitopsError(f"{args.project}: no Pulumi.<stack>.yaml files")
        return stacks
    if not args.stack:
        raise FluxGitopsError("name a STACK, or pass --all")
    return [args.stack]


def write_tree(out: Path, files: RepoFiles) -> None:
    """Write `files` under `out`, each as UTF-8 bytes."""
    for path, f in files.items():
        target = out / path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.content.encode("utf-8"))
        except OSError as err:
            raise FluxGitopsError(f"cannot write {target}: {err.strerror or err}") from None


def print_listing(files: RepoFiles, indent: str = "") -> None:
    """One line per file: its owner (managed, fleet, scaffold), then its path."""
    width = max((len(f.owner) for f in files.values()), default=0)
    for path, f in files.items():
        print(f"{indent}{f.owner:<{width}}  {path}")


def _check_out(out: Path, clean: bool) -> None:
    """`--out` must be a directory, or not exist under a directory; and be empty, unless
    `--clean`: files left from an earlier render (a provider removed since) would otherwise
    look rendered, where `pulumi up` deletes them from the repository."""
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                raise FluxGitopsError(f"--out {out}: {parent} is a file, not a directory")
            break
    if out.is_dir() and any(out.iterdir()) and not clean:
        raise FluxGitopsError(
            f"--out {out}: not empty; files left from before would look rendered: choose a new "
            "or empty directory, or pass --clean to empty it first"
        )


def _empty_out(out: Path, project: Path) -> None:
    """Empty the `--out` directory for `--clean`; never a checkout, the project or a parent."""
    resolved = out.resolve()
    guarded = [Path.home(), Path.cwd(), project]
    if resolved == Path(resolved.anchor) or any(
        resolved == g.resolve() or resolved in g.resolve().parents for g in guarded
    ):
        raise FluxGitopsError(
            f"--out {out} --clean: refusing to empty the project, the current or the home "
            "directory, or one of their parents"
        )
    if (out / ".git").exists():
        raise FluxGitopsError(f"--out {out} --clean: refusing to empty a Git checkout")
    for entry in out.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def cmd_render(args: argparse.Namespace) -> int:
    """Render one stack (or every stack) into a directory, or list the files."""
    if not args.list:
        if args.out is None:
            raise FluxGitopsError("render needs --out DIR (or --list)")
        _check_out(args.out, args.clean)
    merged = RepoFiles()
    notes: dict[str, None] = {}
    for stack in stacks_of(args):
        rendered = render_stack(args.project, stack, args.manifests_dir)
        merged = merged.merged(rendered.files)
        notes.update(dict.fromkeys(rendered.unchecked_rules))
    for note in notes:
        print(f"skipped: {note}", file=sys.stderr)
    if args.list:
        print_listing(merged)
        return EXIT_OK
    # every stack rendered and validated before the first byte is deleted or written
    if args.clean and args.out.is_dir():
        _empty_out(args.out, args.project)
    write_tree(args.out, merged)
    print(f"wrote {len(merged)} files to {args.out}")
    return EXIT_OK
