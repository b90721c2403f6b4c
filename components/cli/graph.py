"""`fluxboot graph`: the reconciliation order of a stack's cluster, as Mermaid or Graphviz dot."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from components.cli.main import EXIT_OK
from components.cli.render import write_tree
from components.render.pipeline import render_stack
from components.repo_check import graph, validate
from components.repo_check.kustomize_build import SKIPPED_MESSAGE, make_builder


def cmd_graph(args: argparse.Namespace) -> int:
    """Print the reconciliation order of a stack's cluster (Mermaid or Graphviz dot)."""
    rendered = render_stack(args.project, args.stack, args.manifests_dir)
    with tempfile.TemporaryDirectory(prefix="fluxboot-graph-") as tmp:
        root = Path(tmp) / "tree"
        write_tree(root, rendered.files)
        builder, real = make_builder(root, Path(tmp))
        objects = validate.collect_cluster(root, rendered.config.cluster, builder, real)
    if not real:
        print(f"skipped: {SKIPPED_MESSAGE}; paths followed without it", file=sys.stderr)
    for f in objects.findings:
        print(f.line(), file=sys.stderr)
    sys.stdout.write(graph.render(graph.build_graph(objects), args.format))
    return EXIT_OK
