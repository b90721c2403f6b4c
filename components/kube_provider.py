"""The one explicit Kubernetes provider of a stack.

Default providers are disabled in the stack files (`pulumi:disable-default-providers`), so no
resource can ever land on whatever kube context happens to be active: every Kubernetes resource
is created with this provider, passed once at the top of the component tree.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.common.errors import ConfigError, Problem
from components.config.model import PROJECT, StackConfig
from components.config.stack_names import stack_file_name


def cluster_provider(config: StackConfig, kubeconfig: pulumi.Output[str] | None) -> k8s.Provider:
    """A provider for the stack's cluster: the `kubeconfig` secret, else `cluster.kubeContext`."""
    context = config.settings.cluster.kube_context
    if kubeconfig is None and context is None:
        raise ConfigError(
            [
                Problem(
                    stack_file_name(config.stack),
                    f"{PROJECT}:kubeconfig",
                    "not set, and no cluster.kubeContext either: run "
                    f"`pulumi config set --secret kubeconfig < kubeconfig.yaml -s {config.stack}` "
                    "or set cluster.kubeContext to a context of your kubeconfig",
                )
            ]
        )
    return k8s.Provider(
        f"{config.cluster}-k8s",
        kubeconfig=kubeconfig,
        context=context,
        # Without it, a rotated kubeconfig would replace the provider and every resource under it;
        # the cluster is what identifies it (pulumi-kubernetes `clusterIdentifier`).
        cluster_identifier=config.cluster,
    )
