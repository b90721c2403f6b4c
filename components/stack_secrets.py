"""The stack's secrets, read from Pulumi config as Pulumi secrets (never plain values).

They are kept apart from `StackConfig` on purpose: the renderers never see a secret, so nothing
rendered into the GitOps repository can contain one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config.model import PROJECT, StackConfig


@dataclass(frozen=True)
class StackSecrets:
    """Secret Outputs of one stack; None where the key is not set."""

    kubeconfig: pulumi.Output[str] | None
    git_ssh_private_key: pulumi.Output[str] | None
    git_token: pulumi.Output[str] | None
    # notification provider name -> its credential
    providers: dict[str, pulumi.Output[str]]


def read_stack_secrets(config: StackConfig) -> StackSecrets:
    """Read every secret the stack uses, as Pulumi secrets.

    A missing one has been refused already by the config layer (`components.config.model`), which
    knows from the engine which secrets are set; a gap here is a programming error.
    """
    bag = pulumi.Config(PROJECT)
    providers: dict[str, pulumi.Output[str]] = {}
    for name, provider in sorted(config.settings.notifications.providers.items()):
        value = bag.get_secret(provider.secret_config_key)
        if value is None:
            raise RuntimeError(
                f"secret {provider.secret_config_key} of provider {name!r} is not set"
            )
        providers[name] = value
    return StackSecrets(
        kubeconfig=bag.get_secret("kubeconfig"),
        git_ssh_private_key=bag.get_secret("gitSshPrivateKey"),
        git_token=bag.get_secret("gitToken"),
        providers=providers,
    )
