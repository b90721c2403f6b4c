"""flux-gitops: one Pulumi stack per cluster.

A table of contents: load and validate the stack config, render the stack's GitOps files,
build the explicit Kubernetes provider, create one ClusterStack, export its outputs.
Resource details live in components/.
"""

from pathlib import Path

import pulumi
import yaml

from components.cluster_stack import ClusterStack, ClusterStackArgs
from components.common.errors import ESCAPED, FluxGitopsError, describe
from components.engine_config import load_engine_config
from components.kube_provider import cluster_provider
from components.render.pipeline import render_config
from components.stack_secrets import read_stack_secrets

PROJECT_DIR = Path(__file__).resolve().parent

try:
    config = load_engine_config(PROJECT_DIR, pulumi.get_stack())
    secrets = read_stack_secrets(config)
    rendered = render_config(config, PROJECT_DIR)
    provider = cluster_provider(config, secrets.kubeconfig)
except FluxGitopsError as err:
    # one line per problem, the same lines `fluxboot render` prints; no traceback
    raise pulumi.RunError(str(err)) from None
except (*ESCAPED, yaml.YAMLError) as err:
    # what escaped the checks at its source: still one line, as `fluxboot` prints it
    raise pulumi.RunError(describe(err)) from None

for note in rendered.unchecked_rules:  # CEL rules the offline check could not evaluate
    pulumi.log.warn(note)

cluster = ClusterStack(
    config.cluster,
    ClusterStackArgs(rendered=rendered, secrets=secrets),
    pulumi.ResourceOptions(providers=[provider]),
)

pulumi.export("cluster", config.cluster)
pulumi.export("fluxVersion", cluster.flux_version)
pulumi.export("components", cluster.components)
pulumi.export("commit", cluster.commit)
pulumi.export("branch", cluster.branch)
pulumi.export("files", cluster.files)
pulumi.export("deployPublicKey", cluster.deploy_public_key)
pulumi.export("kustomizations", cluster.kustomizations)
