"""NotificationSecrets and the Kubernetes provider, under Pulumi mocks."""

from __future__ import annotations

import pulumi
import pytest

from components.config import NotificationProvider, RawConfig, build_stack_config
from components.errors import ConfigError
from components.kube_provider import cluster_provider
from components.notification_secrets import NotificationSecrets, NotificationSecretsArgs
from tests.pulumi_harness import RecordingMonitor, install, leaks

WEBHOOK = "https://hooks.slack.com/services/T000/B000/very-secret-webhook"


@pytest.fixture
def monitor() -> RecordingMonitor:
    return install()


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


@pulumi.runtime.test
def test_one_secret_per_provider_in_flux_system_with_the_provider(
    monitor: RecordingMonitor,
) -> pulumi.Output[None]:
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

    def check(args: list[object]) -> None:
        assert args[0] == ["slack-bot", "slack-webhook"]
        secrets = monitor.of_type("kubernetes:core/v1:Secret")
        assert sorted(s.name for s in secrets) == [
            "k8s-01-notifications-bot",
            "k8s-01-notifications-slack",
        ]
        comp = monitor.of_type("flux-gitops:notifications:NotificationSecrets")[0]
        for s in secrets:
            assert s.parent == comp.urn
            assert s.provider.startswith("urn:pulumi:") and "k8s-01-k8s" in s.provider
            assert s.inputs["metadata"]["namespace"] == "flux-system"
            assert set(s.additional_secret_outputs) >= {"data", "stringData"}
        by_name = {s.inputs["metadata"]["name"]: s.inputs["stringData"] for s in secrets}
        assert by_name == {
            "slack-webhook": {"address": WEBHOOK},
            "slack-bot": {"token": "xoxb-token"},
        }
        assert leaks(monitor, WEBHOOK) == [] and leaks(monitor, "xoxb-token") == []

    return pulumi.Output.all(
        component.secret_names, *(s.urn for s in component.secrets.values())
    ).apply(check)


def _config(cluster: dict[str, str]) -> object:
    fleet = {"git": {"url": "ssh://git@example.com/x.git"}, "cluster": {}}
    del fleet["cluster"]
    return build_stack_config(
        RawConfig(
            stack="k8s-01",
            project={"fleet": fleet},
            stack_values={"cluster": cluster},
            secret=frozenset(),
        )
    )


@pulumi.runtime.test
def test_provider_from_context_is_pinned_to_the_cluster(
    monitor: RecordingMonitor,
) -> pulumi.Output[None]:
    provider = cluster_provider(_config({"kubeContext": "prod-1"}), None)  # type: ignore[arg-type]

    def check(_: str) -> None:
        (reg,) = monitor.of_type("pulumi:providers:kubernetes")
        assert reg.inputs["context"] == "prod-1"
        # a rotated kubeconfig must not replace every resource: the identifier is the cluster
        assert reg.inputs["clusterIdentifier"] == "k8s-01"

    return provider.urn.apply(check)


@pulumi.runtime.test
def test_provider_from_kubeconfig_secret_keeps_it_secret(
    monitor: RecordingMonitor,
) -> pulumi.Output[None]:
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nusers: [{name: a, user: {token: super-secret-token}}]\n"
    )
    provider = cluster_provider(_config({}), pulumi.Output.secret(kubeconfig))  # type: ignore[arg-type]

    def check(_: str) -> None:
        assert leaks(monitor, "super-secret-token") == []
        (reg,) = monitor.of_type("pulumi:providers:kubernetes")
        assert reg.inputs["kubeconfig"] == kubeconfig

    return provider.urn.apply(check)


def test_provider_needs_a_kubeconfig_or_a_context() -> None:
    with pytest.raises(ConfigError) as err:
        cluster_provider(_config({}), None)  # type: ignore[arg-type]
    (problem,) = err.value.problems
    assert str(problem).startswith(
        "Pulumi.k8s-01.yaml: flux-gitops:kubeconfig: not set, and no cluster.kubeContext"
    )
