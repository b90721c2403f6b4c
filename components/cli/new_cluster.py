"""`fluxboot new-cluster`: write the stack file of a new cluster, and say what it will write."""

from __future__ import annotations

import argparse

from components.cli.main import EXIT_OK
from components.cli.render import print_listing
from components.config import new_cluster
from components.render.pipeline import render_config


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
    print_listing(files, indent="  ")
    return EXIT_OK
