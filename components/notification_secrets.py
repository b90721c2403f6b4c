"""NotificationSecrets: the Kubernetes Secrets that the notification Providers reference.

The Provider and Alert objects are managed files in the repository (Flux applies them); their
credentials are Pulumi secrets, written here straight to the cluster, never to Git.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.common.flux import FLUX_NAMESPACE
from components.config.model import NotificationProvider
from components.kube_resources import forced_metadata


@dataclass(frozen=True)
class NotificationSecretsArgs:
    """Providers by name, and each one's credential (a Pulumi secret)."""

    providers: Mapping[str, NotificationProvider]
    credentials: Mapping[str, pulumi.Output[str]]


class NotificationSecrets(pulumi.ComponentResource):
    """One Secret per notification provider, in flux-system, named as its `secretRef` says."""

    secret_names: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: NotificationSecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("flux-gitops:notifications:NotificationSecrets", name, None, opts)
        self.secrets: dict[str, k8s.core.v1.Secret] = {}
        for provider_name, provider in sorted(args.providers.items()):
            self.secrets[provider_name] = k8s.core.v1.Secret(
                f"{name}-{provider_name}",
                metadata=forced_metadata(
                    {
                        "name": provider.secret_name,
                        "namespace": FLUX_NAMESPACE,
                        "labels": {"app.kubernetes.io/managed-by": "flux-gitops"},
                    }
                ),
                type="Opaque",
                # notification-controller reads `address` (webhook URL) or `token` (bot token)
                string_data={provider.secret_field: args.credentials[provider_name]},
                opts=pulumi.ResourceOptions(
                    parent=self, additional_secret_outputs=["data", "stringData"]
                ),
            )
        self.secret_names = pulumi.Output.from_input(
            sorted(p.secret_name for p in args.providers.values())
        )
        self.register_outputs({"secretNames": self.secret_names})
