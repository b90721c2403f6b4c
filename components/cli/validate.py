"""`fluxboot validate`: a GitOps repository (a checkout, or every stack's rendered tree) checked
as Flux would see it; with `--server`, also dry-run on each cluster's API server."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from components.adapters.kube_client import api_client
from components.adapters.server_dry_run import ServerDryRun
from components.cli.main import EXIT_FINDINGS, EXIT_OK
from components.cli.render import write_tree
from components.common.errors import FluxGitopsError
from components.common.repofiles import RepoFiles
from components.config.stack_files import list_stacks, load_stack_config
from components.render.pipeline import render_stack
from components.repo_check import validate

ServerFor = Callable[[str], validate.ServerCheck | None]


def _validate_rendered(
    args: argparse.Namespace, servers: contextlib.ExitStack
) -> tuple[list[validate.Finding], list[str]]:
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
        validate.Target(
            r.config.cluster,
            validate.FluxApis.from_manifest(r.manifest),
            server_for(r.config.cluster),
        )
        for r in renders
    ]
    with tempfile.TemporaryDirectory(prefix="fluxboot-validate-") as tmp:
        write_tree(Path(tmp), merged)
        return validate.validate_tree(Path(tmp), targets), [t.cluster for t in targets]


def _validate_directory(
    args: argparse.Namespace, servers: contextlib.ExitStack
) -> tuple[list[validate.Finding], list[str]]:
    """A checkout of the GitOps repository: every clusters/<c>/ (or the --stack's cluster)."""
    root: Path = args.dir
    if not root.is_dir():
        raise FluxGitopsError(f"{root}: not a directory")
    names = [args.stack] if args.stack else list_stacks(args.project)
    configs = [load_stack_config(args.project, s) for s in names]
    by_cluster = {c.cluster: c for c in configs}
    clusters = [configs[0].cluster] if args.stack else validate.clusters_in(root)
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
        validate.Target(
            c,
            validate.apis_for(root, c, by_cluster, args.project, args.manifests_dir),
            server_for(c),
        )
        for c in clusters
    ]
    return validate.validate_tree(root, targets), clusters


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
    found: dict[str, validate.ServerCheck] = {}
    for cluster, stack_context in contexts.items():
        context = args.context if explicit else stack_context
        if not explicit and context is None:
            raise FluxGitopsError(
                f"cluster {cluster}: its stack sets no flux-gitops:cluster.kubeContext (or there "
                "is no stack for it): pass --context NAME or --kubeconfig PATH with --stack"
            )
        client = api_client(args.kubeconfig if explicit else None, context)
        servers.callback(client.close)
        found[cluster] = ServerDryRun(client)
    return found.get


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a GitOps repository (default: every stack's rendered tree) as Flux would see it."""
    with contextlib.ExitStack() as servers:
        if args.dir is None:
            findings, clusters = _validate_rendered(args, servers)
        else:
            findings, clusters = _validate_directory(args, servers)
    if args.format == "json":
        sys.stdout.write(validate.format_json(findings))
    else:
        sys.stdout.write(validate.format_text(findings, tuple(clusters)))
        errors = sum(f.severity == "error" for f in findings)
        warnings = sum(f.severity == "warning" for f in findings)
        print(
            f"checked cluster{'s' if len(clusters) > 1 else ''} {', '.join(clusters)}"
            f"{' (and dry-run on the API server)' if args.server else ''}: "
            f"{errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''}",
            file=sys.stderr,
        )
    return EXIT_FINDINGS if validate.has_errors(findings) else EXIT_OK
