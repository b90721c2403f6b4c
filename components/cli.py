"""`fluxboot`: the Pulumi program's pipeline without the Pulumi engine.

Runs from the project root (the directory with Pulumi.yaml) and reads the same stack files as
`pulumi up`, so a user without cluster credentials, and every test, sees exactly what a stack
would commit. Exit status: 0 success, 1 a check found problems, 2 bad input (config, template,
manifest, usage, an unreadable file): one line per problem, no traceback, nothing written.
Every line printed has the user info of its URLs redacted.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

import yaml

from components import git_writer, graph, new_cluster, repo_validate, status, urls
from components.config_sources import list_stacks, load_stack_config, stack_name_problem
from components.errors import ESCAPED, ConfigError, FluxGitopsError, ValidationError, describe
from components.kustomize_build import SKIPPED_MESSAGE, make_builder
from components.pipeline import render_config, render_stack
from components.render import stale_managed_files
from components.repofiles import RepoFiles
from components.server_dry_run import ServerDryRun

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2


def stack_argument(value: str) -> str:
    """argparse type of a stack name: Pulumi's rule, so `Pulumi.<stack>.yaml` stays a file
    name in the project directory."""
    problem = stack_name_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


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
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.content.encode("utf-8"))
        except OSError as err:
            raise FluxGitopsError(f"cannot write {target}: {err.strerror or err}") from None


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
    for stack in _stacks(args):
        rendered = render_stack(args.project, stack, args.manifests_dir)
        merged = merged.merged(rendered.files)
        notes.update(dict.fromkeys(rendered.unchecked_rules))
    for note in notes:
        print(f"skipped: {note}", file=sys.stderr)
    if args.list:
        width = max((len(f.kind) for f in merged.values()), default=0)
        for path, f in merged.items():
            print(f"{f.kind:<{width}}  {path}")
        return EXIT_OK
    # every stack rendered and validated before the first byte is deleted or written
    if args.clean and args.out.is_dir():
        _empty_out(args.out, args.project)
    _write_tree(args.out, merged)
    print(f"wrote {len(merged)} files to {args.out}")
    return EXIT_OK


def cmd_push(args: argparse.Namespace) -> int:
    """Commit a stack's rendered files to the GitOps repository (same code as `pulumi up`).

    Like `pulumi up`, it removes the managed files the stack no longer renders (a notification
    provider taken out of the config); without Pulumi's state, the repository's own listing of
    them says which (`render.stale_managed_files`).
    """
    rendered = render_stack(args.project, args.stack, args.manifests_dir)
    git = rendered.config.settings.git
    if args.create_branch:
        git = git.model_copy(update={"create_branch": True})
    git_writer.push_stack(
        git,
        args.stack,
        rendered.files,
        repo=args.repo,
        branch=args.branch,
        dry_run=args.dry_run,
        stale=functools.partial(stale_managed_files, rendered.config.cluster, rendered.files),
    )
    return EXIT_OK


# ------------------------------------------------------------------------------------ validate


ServerFor = Callable[[str], repo_validate.ServerCheck | None]


def _validate_rendered(
    args: argparse.Namespace, servers: contextlib.ExitStack
) -> tuple[list[repo_validate.Finding], list[str]]:
    """The rendered tree of the stacks, checked in a scratch directory."""
    stacks = [args.stack] if args.stack else list_stacks(args.project)
    if not stacks:
        raise FluxGitopsError(f"{args.project}: no Pulumi.<stack>.yaml files")
    renders = [render_stack(args.project, s, args.manifests_dir) for s in stacks]
    merged = RepoFiles()
    for r in renders:
        merged = merged.merged(r.files)
    server_for = _server_for(
        args,
        {r.config.cluster: r.config.settings.cluster.kube_context for r in renders},
        servers,
    )
    targets = [
        repo_validate.Target(
            r.config.cluster,
            repo_validate.FluxApis.from_manifest(r.manifest),
            server_for(r.config.cluster),
        )
        for r in renders
    ]
    with tempfile.TemporaryDirectory(prefix="fluxboot-validate-") as tmp:
        _write_tree(Path(tmp), merged)
        return repo_validate.validate_tree(Path(tmp), targets), [t.cluster for t in targets]


def _validate_directory(
    args: argparse.Namespace, servers: contextlib.ExitStack
) -> tuple[list[repo_validate.Finding], list[str]]:
    """A checkout of the GitOps repository: every clusters/<c>/ (or the --stack's cluster)."""
    root: Path = args.dir
    if not root.is_dir():
        raise FluxGitopsError(f"{root}: not a directory")
    names = [args.stack] if args.stack else list_stacks(args.project)
    configs = [load_stack_config(args.project, s) for s in names]
    by_cluster = {c.cluster: c for c in configs}
    clusters = [configs[0].cluster] if args.stack else repo_validate.clusters_in(root)
    if not clusters:
        raise FluxGitopsError(f"{root}: no clusters/<name>/ directories")
    server_for = _server_for(
        args,
        {
            c: by_cluster[c].settings.cluster.kube_context if c in by_cluster else None
            for c in clusters
        },
        servers,
    )
    targets = [
        repo_validate.Target(
            c,
            repo_validate.apis_for(root, c, by_cluster, args.project, args.manifests_dir),
            server_for(c),
        )
        for c in clusters
    ]
    return repo_validate.validate_tree(root, targets), clusters


def _server_for(
    args: argparse.Namespace, contexts: dict[str, str | None], servers: contextlib.ExitStack
) -> ServerFor:
    """Which API server each checked cluster's objects are dry-run on (`--server`).

    `--kubeconfig`/`--context` name one cluster, so they need a single checked cluster;
    without them each cluster's stack names its context (`cluster.kubeContext`) in the default
    kubeconfig, as for `pulumi up`. Every client is made before anything is checked, so a
    cluster that cannot be reached stops the command (exit 2) before the first finding.
    """
    explicit = args.kubeconfig is not None or args.context is not None
    if not args.server:
        if explicit:
            raise FluxGitopsError("--kubeconfig and --context go with --server")
        return lambda cluster: None
    if explicit and len(contexts) > 1:
        raise FluxGitopsError(
            f"--kubeconfig/--context name one cluster, and {len(contexts)} are checked "
            f"({', '.join(contexts)}): add --stack NAME"
        )
    found: dict[str, repo_validate.ServerCheck] = {}
    for cluster, stack_context in contexts.items():
        context = args.context if explicit else stack_context
        if not explicit and context is None:
            raise FluxGitopsError(
                f"cluster {cluster}: its stack sets no flux-gitops:cluster.kubeContext (or there "
                "is no stack for it): pass --context NAME or --kubeconfig PATH with --stack"
            )
        api_client = status.client_for(args.kubeconfig if explicit else None, context)
        servers.callback(api_client.close)
        found[cluster] = ServerDryRun(api_client)
    return found.get


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a GitOps repository (default: every stack's rendered tree) as Flux would see it."""
    with contextlib.ExitStack() as servers:
        if args.dir is None:
            findings, clusters = _validate_rendered(args, servers)
        else:
            findings, clusters = _validate_directory(args, servers)
    if args.format == "json":
        sys.stdout.write(repo_validate.format_json(findings))
    else:
        sys.stdout.write(repo_validate.format_text(findings, tuple(clusters)))
        errors = sum(f.severity == "error" for f in findings)
        warnings = sum(f.severity == "warning" for f in findings)
        print(
            f"checked cluster{'s' if len(clusters) > 1 else ''} {', '.join(clusters)}"
            f"{' (and dry-run on the API server)' if args.server else ''}: "
            f"{errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''}",
            file=sys.stderr,
        )
    return EXIT_FINDINGS if repo_validate.has_errors(findings) else EXIT_OK


def _add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = sub.add_parser(
        "validate",
        help="check a whole GitOps repository the way Flux would see it (exit 1 on errors)",
        description="Build every Flux Kustomization path of every cluster, validate every Flux "
        "object against the CRDs of its Flux version (schemas and CEL rules), check dependsOn, "
        "source and provider references and duplicate objects; with --server, also dry-run "
        "every object on the cluster. One line per finding: `file: Kind ns/name: problem`.",
    )
    validate.add_argument(
        "dir",
        nargs="?",
        type=Path,
        help="checkout of the GitOps repository (default: the rendered tree of every stack)",
    )
    validate.add_argument("--stack", type=stack_argument, help="only this stack's cluster")
    validate.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (json for CI)"
    )
    validate.add_argument(
        "--server",
        action="store_true",
        help="also dry-run every object on the cluster's API server (server-side apply, "
        "dryRun=All: nothing changes); the cluster is --kubeconfig/--context, else each stack's "
        "cluster.kubeContext",
    )
    validate.add_argument("--context", help="kubeconfig context for --server")
    validate.add_argument(
        "--kubeconfig",
        type=Path,
        help="kubeconfig file for --server (default: $KUBECONFIG, ~/.kube/config)",
    )
    validate.set_defaults(func=cmd_validate)


# --------------------------------------------------------------------------------- new-cluster


def cmd_new_cluster(args: argparse.Namespace) -> int:
    """Write Pulumi.NAME.yaml for a new cluster; list its secrets and the files it will write."""
    new = new_cluster.plan(args.project, args.name, args.source)
    # rendered (and validated) before the stack file is written: a failure writes nothing
    files = render_config(new.config, args.project, args.manifests_dir).files
    new_cluster.write(new)
    print(f"wrote {new.path.name}" + (f" (settings of stack {args.source})" if args.source else ""))
    if new.secret_commands:
        print("set its secrets (never copied from another stack):")
        for command in new.secret_commands:
            print(f"  {command}")
    print(f"`pulumi up -s {new.name}` (see `fluxboot render {new.name}`) will write:")
    width = max((len(f.kind) for f in files.values()), default=0)
    for path, f in files.items():
        print(f"  {f.kind:<{width}}  {path}")
    return EXIT_OK


def _add_new_cluster(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    cmd.set_defaults(func=cmd_new_cluster)


# -------------------------------------------------------------------------------------- status


def cmd_status(args: argparse.Namespace) -> int:
    """Ready, revision, suspended and message of every Flux object (`flux get all -A`)."""
    context: str | None = args.context
    if args.kubeconfig is None and context is None:
        if not args.stack:
            raise FluxGitopsError("name a STACK, or pass --context NAME or --kubeconfig PATH")
        context = load_stack_config(args.project, args.stack).settings.cluster.kube_context
        if context is None:
            raise FluxGitopsError(
                f"stack {args.stack} sets no flux-gitops:cluster.kubeContext: "
                "pass --context NAME or --kubeconfig PATH"
            )
    api_client = status.client_for(args.kubeconfig, context)
    try:
        found = status.rows(status.list_flux_objects(api_client))
    finally:
        api_client.close()
    if not found:
        print("no Flux objects found (is Flux installed?)", file=sys.stderr)
        return EXIT_FINDINGS
    sys.stdout.write(status.table(found))
    not_ready = [r for r in found if not r.is_ready]
    print(f"{len(found)} Flux objects, {len(not_ready)} not ready", file=sys.stderr)
    return EXIT_FINDINGS if not_ready else EXIT_OK


def _add_status(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    cmd.set_defaults(func=cmd_status)


# --------------------------------------------------------------------------------------- graph


def cmd_graph(args: argparse.Namespace) -> int:
    """Print the reconciliation order of a stack's cluster (Mermaid or Graphviz dot)."""
    rendered = render_stack(args.project, args.stack, args.manifests_dir)
    with tempfile.TemporaryDirectory(prefix="fluxboot-graph-") as tmp:
        root = Path(tmp) / "tree"
        _write_tree(root, rendered.files)
        builder, real = make_builder(root, Path(tmp))
        objects = repo_validate.collect_cluster(root, rendered.config.cluster, builder, real)
    if not real:
        print(f"skipped: {SKIPPED_MESSAGE}; paths followed without it", file=sys.stderr)
    for f in objects.findings:
        print(f.line(), file=sys.stderr)
    sys.stdout.write(graph.render(graph.build_graph(objects), args.format))
    return EXIT_OK


def _add_graph(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "graph",
        help="show a cluster's reconciliation order: Kustomizations, HelmReleases, sources",
        description="flux-system -> core-apps -> apps, the HelmReleases and sources each "
        "Kustomization applies (found by building its path), chart sources and dependsOn edges.",
    )
    cmd.add_argument("stack", type=stack_argument, help="stack name (Pulumi.<stack>.yaml)")
    cmd.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    cmd.set_defaults(func=cmd_graph)


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

    render = sub.add_parser(
        "render", help="write a stack's files as they would stand in the repository"
    )
    render.add_argument(
        "stack", nargs="?", type=stack_argument, help="stack name (Pulumi.<stack>.yaml)"
    )
    render.add_argument(
        "--all", action="store_true", help="every Pulumi.*.yaml stack into one tree"
    )
    render.add_argument("--out", type=Path, help="directory to write into (new or empty)")
    render.add_argument(
        "--clean",
        action="store_true",
        help="empty the --out directory first (it may hold an earlier render)",
    )
    render.add_argument(
        "--list", action="store_true", help="print the paths with their kind instead"
    )
    render.set_defaults(func=cmd_render)

    push = sub.add_parser(
        "push", help="commit a stack's files to the GitOps repository, as `pulumi up` does"
    )
    git_writer.add_arguments(push, stack_argument)
    push.add_argument(
        "--create-branch",
        action="store_true",
        help="create the branch when it does not exist (as git.createBranch)",
    )
    push.set_defaults(func=cmd_push)
    _add_validate(sub)
    _add_graph(sub)
    _add_new_cluster(sub)
    _add_status(sub)
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
    func: Callable[[argparse.Namespace], int] = args.func
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
