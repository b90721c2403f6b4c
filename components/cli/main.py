"""`fluxboot`: the Pulumi program's pipeline without the Pulumi engine.

Runs from the project root (the directory with Pulumi.yaml) and reads the same stack files as
`pulumi up`, so a user without cluster credentials, and every test, sees exactly what a stack
would commit. Exit status: 0 success, 1 a check found problems, 2 bad input (config, template,
manifest, usage, an unreadable file): one line per problem, no traceback, nothing written.
Every line printed has the user info of its URLs redacted.

This module holds the arguments of every command and nothing heavy: a command's module
(`components.cli.<command>`) is imported when that command runs, so `fluxboot render` never
loads GitPython or the Kubernetes client.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO, TypeAlias

import yaml

from components.common import urls
from components.common.errors import (
    ESCAPED,
    ConfigError,
    FluxGitopsError,
    ValidationError,
    describe,
    quote,
)
from components.common.git_refs import branch_problem
from components.config.stack_names import stack_name_problem

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2

Command = Callable[[argparse.Namespace], int]
if TYPE_CHECKING:
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def stack_argument(value: str) -> str:
    """argparse type of a stack name: Pulumi's rule, so `Pulumi.<stack>.yaml` stays a file
    name in the project directory."""
    problem = stack_name_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def branch_argument(value: str) -> str:
    """argparse type of a branch name flag: Git's rules, checked before anything runs."""
    problem = branch_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(
            f"{quote(value)} is not a usable Git branch name: it {problem}"
        )
    return value


def _command(name: str) -> Command:
    """`run` of `components.cli.<name>`, imported when the command is run."""

    def run(args: argparse.Namespace) -> int:
        module = importlib.import_module(f"components.cli.{name}")
        func: Command = getattr(module, f"cmd_{name}")
        return func(args)

    return run


def _add_render(sub: SubParsers) -> None:
    cmd = sub.add_parser(
        "render", help="write a stack's files as they would stand in the repository"
    )
    cmd.add_argument(
        "stack", nargs="?", type=stack_argument, help="stack name (Pulumi.<stack>.yaml)"
    )
    cmd.add_argument("--all", action="store_true", help="every Pulumi.*.yaml stack into one tree")
    cmd.add_argument("--out", type=Path, help="directory to write into (new or empty)")
    cmd.add_argument(
        "--clean",
        action="store_true",
        help="empty the --out directory first (it may hold an earlier render)",
    )
    cmd.add_argument("--list", action="store_true", help="print the paths with their kind instead")
    cmd.set_defaults(func=_command("render"))


def _add_push(sub: SubParsers) -> None:
    cmd = sub.add_parser(
        "push", help="commit a stack's files to the GitOps repository, as `pulumi up` does"
    )
    cmd.add_argument("stack", type=stack_argument, help="stack (cluster) whose files are pushed")
    cmd.add_argument(
        "--repo", help="repository URL or local path (default: git.pushUrl, then git.url)"
    )
    cmd.add_argument(
        "--branch", type=branch_argument, help="branch to commit to (default: git.branch)"
    )
    cmd.add_argument(
        "--dry-run", action="store_true", help="print the file-level diff and change nothing"
    )
    cmd.add_argument(
        "--create-branch",
        action="store_true",
        help="create the branch when it does not exist (as git.createBranch)",
    )
    cmd.set_defaults(func=_command("push"))


def _add_validate(sub: SubParsers) -> None:
    cmd = sub.add_parser(
        "validate",
        help="check a whole GitOps repository the way Flux would see it (exit 1 on errors)",
        description="Build every Flux Kustomization path of every cluster, validate every Flux "
        "object against the CRDs of its Flux version (schemas and CEL rules), check dependsOn, "
        "source and provider references and duplicate objects; with --server, also dry-run "
        "every object on the cluster. One line per finding: `file: Kind ns/name: problem`.",
    )
    cmd.add_argument(
        "dir",
        nargs="?",
        type=Path,
        help="checkout of the GitOps repository (default: the rendered tree of every stack)",
    )
    cmd.add_argument("--stack", type=stack_argument, help="only this stack's cluster")
    cmd.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (json for CI)"
    )
    cmd.add_argument(
        "--server",
        action="store_true",
        help="also dry-run every object on the cluster's API server (server-side apply, "
        "dryRun=All: nothing changes); the cluster is --kubeconfig/--context, else each stack's "
        "cluster.kubeContext",
    )
    cmd.add_argument("--context", help="kubeconfig context for --server")
    cmd.add_argument(
        "--kubeconfig",
        type=Path,
        help="kubeconfig file for --server (default: $KUBECONFIG, ~/.kube/config)",
    )
    cmd.set_defaults(func=_command("validate"))


def _add_graph(sub: SubParsers) -> None:
    cmd = sub.add_parser(
        "graph",
        help="show a cluster's reconciliation order: Kustomizations, HelmReleases, sources",
        description="flux-system -> core-apps -> apps, the HelmReleases and sources each "
        "Kustomization applies (found by building its path), chart sources and dependsOn edges.",
    )
    cmd.add_argument("stack", type=stack_argument, help="stack name (Pulumi.<stack>.yaml)")
    cmd.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    cmd.set_defaults(func=_command("graph"))


def _add_new_cluster(sub: SubParsers) -> None:
    cmd = sub.add_parser(
        "new-cluster",
        help="write the stack file of a new cluster (from an existing stack or minimal)",
    )
    cmd.add_argument("name", help="the new stack and cluster name (a DNS-1123 label)")
    cmd.add_argument(
        "--from",
        dest="source",
        metavar="STACK",
        type=stack_argument,
        help="copy this stack's settings (not secrets)",
    )
    cmd.set_defaults(func=_command("new_cluster"))


def _add_status(sub: SubParsers) -> None:
    cmd = sub.add_parser(
        "status",
        help="Flux sources, Kustomizations and HelmReleases of a cluster (exit 1 if not all Ready)",
    )
    cmd.add_argument(
        "stack", nargs="?", type=stack_argument, help="stack whose cluster.kubeContext to use"
    )
    cmd.add_argument("--context", help="kubeconfig context (instead of the stack's)")
    cmd.add_argument(
        "--kubeconfig", type=Path, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    cmd.set_defaults(func=_command("status"))


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line like every other problem (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
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
    for add in (_add_render, _add_push, _add_validate, _add_graph, _add_new_cluster, _add_status):
        add(sub)
    return parser


class _RedactingStream(io.TextIOBase):
    """A text stream that writes whole lines to `target`, each with URL user info redacted.

    Lines are held until their newline so that a URL written in two pieces is still seen whole.
    """

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self._target = target
        self._pending = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._target.isatty()

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            lines, _, self._pending = self._pending.rpartition("\n")
            self._target.write(urls.redact(lines + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._target.write(urls.redact(self._pending))
            self._pending = ""
        self._target.flush()


@contextlib.contextmanager
def _redacted_output() -> Iterator[None]:
    """Every line any command prints (its own, argparse's, Git's text in errors, warnings)
    leaves with the user info of its URLs redacted: a token given in `--repo` or held in a
    repository file never reaches the terminal or a CI log."""
    out, err = _RedactingStream(sys.stdout), _RedactingStream(sys.stderr)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        out.flush()
        err.flush()


def main(argv: Sequence[str] | None = None) -> int:
    with _redacted_output():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    where = f"fluxboot {args.command}"
    try:
        return func(args)
    except (ConfigError, ValidationError) as err:
        # one line per problem, each naming its file and key: nothing to add around them
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    except FluxGitopsError as err:
        print(f"{where}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # Below: what escaped the checks at its source. Each source names its file itself; these
    # keep the promise that bad input is one line and exit status 2, never a traceback (nor 1,
    # which means that `validate` found problems).
    except (*ESCAPED, yaml.YAMLError) as err:
        prefix = "YAML error: " if isinstance(err, yaml.YAMLError) else ""
        print(f"{where}: {prefix}{describe(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
