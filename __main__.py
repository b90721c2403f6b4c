"""flux-gitops: one Pulumi stack per cluster.

Reads like a table of contents: load and validate the stack config, render and validate the
stack's GitOps files, export what the stack manages. Resource details live in components/.
"""

from pathlib import Path

import pulumi

from components.config import build_stack_config
from components.config_sources import read_pulumi_config
from components.errors import FluxGitopsError
from components.pipeline import render_config

PROJECT_DIR = Path(__file__).resolve().parent

try:
    config = build_stack_config(read_pulumi_config(PROJECT_DIR, pulumi.get_stack()))
    rendered = render_config(config, PROJECT_DIR)
except FluxGitopsError as err:
    # one line per problem, the same lines `fluxboot render` prints; no traceback
    raise pulumi.RunError(str(err)) from None

pulumi.export("cluster", config.cluster)
pulumi.export("fluxVersion", config.settings.flux.version)
pulumi.export("files", sorted(rendered.files))
