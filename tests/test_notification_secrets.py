"""NotificationSecrets and the Kubernetes provider, under Pulumi mocks."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from components.common.errors import ConfigError
from components.config.model import NotificationProvider, RawConfig, StackConfig, build_stack_config
from components.kube_provider import cluster_provider
from components.notification_secrets import NotificationSecrets, NotificationSecretsArgs
from tests.pulumi_harness import assert_never_plain, run

WEBHOOK = "https://hooks.slack.com/services/T000/B000/very-secret-webhook"


def _providers() -> dict[str, NotificationProvider]:
    return {
        "slack": NotificationProvider.model_validate(
            {
                "channel": "#flux",
                "secretName": "slack-webhook",
                "secretConfigKey": "slackWebhookUrl",
            }
        ),
        "bot": NotificationProvider.model_validate(
            {
                "address": "https://slack.com/api/chat.postMessage",
                "secretName": "slack-bot",
                "secretConfigKey": "slackBotToken",
                "secretField": "token",
            }
        ),
    }


def test_one_secret_per_provider_in_flux_system_with_the_provider() -> None:
    def program() -> Any:
        provider = pulumi.ProviderResource("kubernetes", "k8s-01-k8s", {})
        component = NotificationSecrets(
            "k8s-01-notifications",
            NotificationSecretsArgs(
                providers=_providers(),
                credentials={
                    "slack": pulumi.Output.secret(WEBHOOK),
                    "bot": pulumi.Output.secret("xoxb-token"),
                },
            ),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )
        return component.secret_names

    rec = run(program)
    comp = rec.resources["k8s-01-notifications"]
    assert comp.type == "flux-gitops:notifications:NotificationSecrets"
    assert rec.outputs[comp.urn] == {"secretNames": ["slack-bot", "slack-webhook"]}
    secrets = rec.of_type("kubernetes:core/v1:Secret")
    assert sorted(s.name for s in secrets) == [
        "k8s-01-notifications-bot",
        "k8s-01-notifications-slack",
    ]
    for s in secrets:
        assert s.parent == comp.urn
        assert "k8s-01-k8s" in s.provider
        assert s.inputs["metadata"]["namespace"] == "flux-system"
        assert set(s.additional_secret_outputs) >= {"data", "stringData"}
    by_name = {
        s.inputs["metadata"]["name"]: {
            k: rpc.unwrap_rpc_secret(v)
            for k, v in rpc.unwrap_rpc_secret(s.inputs["stringData"]).items()
        }
        for s in secrets
    }
    assert by_name == {"slack-webhook": {"address": WEBHOOK}, "slack-bot": {"token": "xoxb-token"}}
    assert_never_plain(rec, [WEBHOOK, "xoxb-token"])


def _config(cluster: dict[str, str]) -> StackConfig:
    return build_stack_config(
        RawConfig(
            stack="k8s-01",
            project={"fleet": {"git": {"url": "ssh://git@example.com/x.git", "knownHosts": "h"}}},
            stack_values={"cluster": cluster},
            secret=frozenset(),
        )
    )


def test_provider_from_context_is_pinned_to_the_cluster() -> None:
    rec = run(lambda: cluster_provider(_config({"kubeContext": "prod-1"}), None).urn)
    (reg,) = rec.of_type("pulumi:providers:kubernetes")
    assert reg.inputs["context"] == "prod-1"
    # a rotated kubeconfig must not replace every resource: the identifier is the cluster
    assert reg.inputs["clusterIdentifier"] == "k8s-01"


def test_provider_from_kubeconfig_secret_keeps_it_secret() -> None:
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nusers: [{name: a, user: {token: super-secret-token}}]\n"
    )
    rec = run(lambda: cluster_provider(_config({}), pulumi.Output.secret(kubeconfig)).urn)
    (reg,) = rec.of_type("pulumi:providers:kubernetes")
    assert rpc.unwrap_rpc_secret(reg.inputs["kubeconfig"]) == kubeconfig
    assert_never_plain(rec, ["super-secret-token"])


def test_provider_needs_a_kubeconfig_or_a_context() -> None:
    with pytest.raises(ConfigError) as err:
        cluster_provider(_config({}), None)
    (problem,) = err.value.problems
    assert str(problem).startswith(
        "Pulumi.k8s-01.yaml: flux-gitops:kubeconfig: not set, and no cluster.kubeContext"
    )
