"""`fluxboot status`: Ready, revision, suspended and message of every Flux object of a cluster."""

from __future__ import annotations

import argparse
import sys

from components.adapters import status
from components.adapters.kube_client import api_client
from components.cli.main import EXIT_FINDINGS, EXIT_OK
from components.common.errors import FluxGitopsError
from components.config.stack_files import load_stack_config


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
    client = api_client(args.kubeconfig, context)
    try:
        found = status.rows(status.list_flux_objects(client))
    finally:
        client.close()
    if not found:
        print("no Flux objects found (is Flux installed?)", file=sys.stderr)
        return EXIT_FINDINGS
    sys.stdout.write(status.table(found))
    not_ready = [r for r in found if not r.is_ready]
    print(f"{len(found)} Flux objects, {len(not_ready)} not ready", file=sys.stderr)
    return EXIT_FINDINGS if not_ready else EXIT_OK
