"""The stack's secrets, read from Pulumi config as Pulumi secrets (never plain values).

They are kept apart from `StackConfig` on purpose: the renderers never see a secret, so nothing
rendered into the GitOps repository can contain one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import PROJECT, StackConfig
from components.config_sources import stack_file_name
from components.errors import ConfigError, Problem


@dataclass(frozen=True)
class StackSecrets:
    """Secret Outputs of one stack; None where the key is not set."""

    kubeconfig: pulumi.Output[str] | None
    git_ssh_private_key: pulumi.Output[str] | None
    git_token: pulumi.Output[str] | None
    # notification provider name -> its credential
    providers: dict[str, pulumi.Output[str]]


def read_stack_secrets(config: StackConfig) -> StackSecrets:
    """Read every secret the stack uses; a missing notification credential is a config error."""
    bag = pulumi.Config(PROJECT)
    problems = []
    providers: dict[str, pulumi.Output[str]] = {}
    for name, provider in sorted(config.settings.notifications.providers.items()):
        value = bag.get_secret(provider.secret_config_key)
        if value is None:
            problems.append(
                Problem(
                    stack_file_name(config.stack),
                    f"{PROJECT}:{provider.secret_config_key}",
                    f"not set: the credential of notification provider {name!r}; run "
                    f"`pulumi config set --secret {provider.secret_config_key} <value> -s {config.stack}`",
                )
            )
        else:
            providers[name] = value
    if problems:
        raise ConfigError(problems)
    return StackSecrets(
        kubeconfig=bag.get_secret("kubeconfig"),
        git_ssh_private_key=bag.get_secret("gitSshPrivateKey"),
        git_token=bag.get_secret("gitToken"),
        providers=providers,
    )
