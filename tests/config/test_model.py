"""Config model and loaders: merging, defaults, and a precise message for each kind of bad input."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.common.errors import ConfigError
from components.config.model import RawConfig, build_stack_config
from components.config.stack_files import load_stack_config
from components.engine_config import read_pulumi_config
from tests.conftest import PROJECT_DIR
from tests.pulumi_harness import engine_config


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def fleet(doc: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = doc["config"]["fleet"]["value"]
    return value


def problems(project: Path, stack: str = "k8s-01") -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_stack_config(project, stack)
    return [str(p) for p in err.value.problems]


# ----------------------------------------------------------------------------- the real stacks


def test_both_stacks_load_with_fleet_defaults_and_overrides() -> None:
    one = load_stack_config(PROJECT_DIR, "k8s-01")
    two = load_stack_config(PROJECT_DIR, "k8s-02")
    assert (one.cluster, two.cluster) == ("k8s-01", "k8s-02")
    # the fleet value of apps.timeout is 10m; k8s-01 overrides it, k8s-02 does not
    assert one.settings.kustomizations.apps.timeout == "15m"
    assert two.settings.kustomizations.apps.timeout == "10m"
    # maps merge key by key: k8s-01 adds a provider and keeps the fleet's slack provider
    assert sorted(one.settings.notifications.providers) == ["slack", "slack-errors"]
    assert sorted(two.settings.notifications.providers) == ["slack"]
    assert one.settings.notifications.providers["slack"].channel == "#flux"
    assert [s.name for s in one.settings.sources] == ["prometheus-community", "victoriametrics"]
    assert two.settings.flux.toleration_keys == ["node-role.kubernetes.io/infra"]
    assert one.settings.flux.version == "v2.9.4"


def test_lists_replace_rather_than_merge(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"].update({"flux-gitops:flux": {"tolerationKeys": ["a"]}}),
    )
    edit(project / "Pulumi.yaml", lambda d: fleet(d)["flux"].update({"tolerationKeys": ["x", "y"]}))
    assert load_stack_config(project, "k8s-01").settings.flux.toleration_keys == ["a"]
    assert load_stack_config(project, "k8s-02").settings.flux.toleration_keys == [
        "node-role.kubernetes.io/infra"
    ]


def test_cluster_name_defaults_to_stack_and_may_be_set(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-02.yaml",
        lambda d: d["config"]["flux-gitops:cluster"].update({"name": "paris-1"}),
    )
    assert load_stack_config(project, "k8s-02").cluster == "paris-1"


# ------------------------------------------------------------------------------------ bad input


def test_yaml_syntax_error_names_file_and_line(project: Path) -> None:
    (project / "Pulumi.k8s-01.yaml").write_text("config:\n  flux-gitops:git: {url: [\n")
    (msg,) = problems(project)
    assert msg.startswith("Pulumi.k8s-01.yaml: YAML syntax error at line ")


def test_duplicate_yaml_key_is_an_error(project: Path) -> None:
    (project / "Pulumi.k8s-01.yaml").write_text(
        "config:\n  flux-gitops:cluster:\n    name: a\n    name: b\n"
    )
    (msg,) = problems(project)
    assert "Pulumi.k8s-01.yaml" in msg and "duplicate key 'name'" in msg


def test_unknown_key_names_file_and_full_key(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"]["flux-gitops:kustomizations"]["apps"].update({"timeOut": "5m"}),
    )
    assert problems(project) == [
        "Pulumi.k8s-01.yaml: flux-gitops:kustomizations.apps.timeOut: unknown key"
    ]


def test_unknown_top_level_key(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"].update({"flux-gitops:gti": {"url": "x"}}),
    )
    (msg,) = problems(project)
    assert msg.startswith("Pulumi.k8s-01.yaml: flux-gitops:gti: unknown key (known: ")


def test_wrong_type_names_key_and_value(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"]["flux-gitops:notifications"]["providers"]["slack-errors"].update(
            {"channel": 5}
        ),
    )
    (msg,) = problems(project)
    assert msg.startswith(
        "Pulumi.k8s-01.yaml: flux-gitops:notifications.providers.slack-errors.channel: "
    )
    assert "valid string" in msg and "5" in msg


def test_override_of_fleet_value_is_blamed_on_the_stack_file(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"]["flux-gitops:notifications"].update(
            {"providers": {"slack": {"channel": ["#a"]}}}
        ),
    )
    (msg,) = problems(project)
    assert msg.startswith("Pulumi.k8s-01.yaml: flux-gitops:notifications.providers.slack.channel: ")


@pytest.mark.parametrize(
    "name", ["K8S-01", "k8s_01", "../etc", "a/b", "-k8s", "x" * 64, "k8s-01\n"]
)
def test_bad_cluster_name(project: Path, name: str) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"]["flux-gitops:cluster"].update({"name": name}),
    )
    (msg,) = problems(project)
    assert msg.startswith("Pulumi.k8s-01.yaml: flux-gitops:cluster.name: ")
    assert "DNS-1123 label" in msg


def test_stack_name_that_is_no_cluster_name_needs_cluster_name(project: Path) -> None:
    (project / "Pulumi.Prod_1.yaml").write_text("config: {flux-gitops:git: {knownHosts: h}}\n")
    (msg,) = problems(project, "Prod_1")
    assert msg.startswith(
        "Pulumi.Prod_1.yaml: flux-gitops:cluster.name: not set, and the stack name"
    )


def test_malformed_duration(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"]["flux-gitops:kustomizations"]["apps"].update(
            {"interval": "5 minutes"}
        ),
    )
    assert problems(project) == [
        "Pulumi.k8s-01.yaml: flux-gitops:kustomizations.apps.interval: "
        "'5 minutes' is not a duration; write it like 30s, 5m, 1h or 1h30m"
    ]


def test_fleet_problem_is_blamed_on_pulumi_yaml(project: Path) -> None:
    edit(project / "Pulumi.yaml", lambda d: fleet(d)["sources"][1].update({"interval": "1 hour"}))
    (msg,) = problems(project)
    assert msg.startswith(
        "Pulumi.yaml: flux-gitops:fleet.sources[1].interval: '1 hour' is not a duration"
    )


def test_two_sources_of_one_name(project: Path) -> None:
    edit(
        project / "Pulumi.yaml",
        lambda d: fleet(d)["sources"][1].update({"name": "prometheus-community"}),
    )
    (msg,) = problems(project)
    assert (
        msg
        == "Pulumi.yaml: flux-gitops:fleet.sources: two sources are named 'prometheus-community'"
    )


def test_sources_are_fleet_only(project: Path) -> None:
    edit(project / "Pulumi.k8s-01.yaml", lambda d: d["config"].update({"flux-gitops:sources": []}))
    (msg,) = problems(project)
    assert msg.startswith("Pulumi.k8s-01.yaml: flux-gitops:sources: is fleet-wide")


def test_alert_naming_unknown_provider(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"]["flux-gitops:notifications"]["alerts"]["errors"].update(
            {"providerRef": "pagerduty"}
        ),
    )
    (msg,) = problems(project)
    assert msg.startswith(
        "Pulumi.k8s-01.yaml: flux-gitops:notifications: alert 'errors' names provider 'pagerduty'"
    )
    assert "providers: slack, slack-errors" in msg


def test_secret_in_plain_text_is_refused(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"].update({"flux-gitops:slackWebhookUrl": "https://hooks"}),
    )
    (msg,) = problems(project)
    assert msg.startswith("Pulumi.k8s-01.yaml: flux-gitops:slackWebhookUrl: is a secret")
    assert "https://hooks" not in msg


def test_secure_values_are_accepted_and_recorded(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"].update(
            {
                "flux-gitops:slackErrorsWebhookUrl": {"secure": "v1:abc"},
                "flux-gitops:kubeconfig": {"secure": "v1:def"},
            }
        ),
    )
    cfg = load_stack_config(project, "k8s-01")
    assert cfg.secrets_present == {"slackErrorsWebhookUrl", "kubeconfig"}


def test_object_in_project_file_must_be_under_value(project: Path) -> None:
    edit(project / "Pulumi.yaml", lambda d: d["config"].update({"fleet": fleet(d)}))
    (msg,) = problems(project)
    assert msg == "Pulumi.yaml: flux-gitops:fleet: an object value must be nested under `value:`"


def test_every_problem_is_reported_not_just_the_first(project: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["config"]["flux-gitops:kustomizations"]["apps"]["interval"] = "soon"
        d["config"]["flux-gitops:kustomizations"]["coreApps"]["prune"] = "perhaps"
        d["config"]["flux-gitops:git"] = {"branch": "a..b"}

    edit(project / "Pulumi.k8s-01.yaml", change)
    found = problems(project)
    assert len(found) == 3
    assert {m.split(": ")[1] for m in found} == {
        "flux-gitops:kustomizations.apps.interval",
        "flux-gitops:kustomizations.coreApps.prune",
        "flux-gitops:git.branch",
    }


def test_git_url_must_be_one_flux_accepts(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"].update({"flux-gitops:git": {"url": "git@gitlab.com:x/y.git"}}),
    )
    (msg,) = problems(project)
    assert msg.startswith(
        "Pulumi.k8s-01.yaml: flux-gitops:git.url: 'git@gitlab.com:x/y.git' must start with ssh://"
    )


def test_cluster_name_cannot_be_substituted_by_hand(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"]["flux-gitops:kustomizations"]["apps"]["substitute"].update(
            {"cluster_name": "x"}
        ),
    )
    (msg,) = problems(project)
    assert "flux-gitops:kustomizations.apps" in msg and "cluster_name" in msg


# -------------------------------------------------------------- same input, same model (program)


@pytest.mark.parametrize("stack", ["k8s-01", "k8s-02"])
def test_program_and_cli_build_the_same_model(project: Path, stack: str) -> None:
    from pulumi.runtime import config as runtime_config

    secrets = {"kubeconfig": "decrypted-secret-value", **slack_secrets(stack)}
    edit(
        project / f"Pulumi.{stack}.yaml",
        lambda d: d["config"].update({f"flux-gitops:{k}": {"secure": "v1:x"} for k in secrets}),
    )
    values, secret = engine_config(project, stack, secrets)
    runtime_config.set_all_config(values, secret)
    try:
        raw = read_pulumi_config(project, stack)
        from_program = build_stack_config(raw)
    finally:
        runtime_config.set_all_config({}, [])
    from_files = load_stack_config(project, stack)
    assert from_program == from_files
    assert "decrypted-secret-value" not in repr(raw) + repr(from_program)


def slack_secrets(stack: str) -> dict[str, str]:
    """The notification credentials the committed stack `stack` needs."""
    keys = ["slackWebhookUrl", *(["slackErrorsWebhookUrl"] if stack == "k8s-01" else [])]
    return {k: f"https://hooks.slack.invalid/{k}" for k in keys}


def test_program_reports_the_same_problem_as_the_cli(project: Path) -> None:
    from pulumi.runtime import config as runtime_config

    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"]["flux-gitops:kustomizations"]["apps"].update(
            {"interval": "5 minutes"}
        ),
    )
    values, secret = engine_config(project, "k8s-01", slack_secrets("k8s-01"))
    runtime_config.set_all_config(values, secret)
    try:
        with pytest.raises(ConfigError) as from_program:
            build_stack_config(read_pulumi_config(project, "k8s-01"))
    finally:
        runtime_config.set_all_config({}, [])
    assert [str(p) for p in from_program.value.problems] == problems(project)


def test_raw_config_without_git_url_is_required() -> None:
    raw = RawConfig(stack="k8s-09", project={"fleet": {}}, stack_values={}, secret=frozenset())
    with pytest.raises(ConfigError) as err:
        build_stack_config(raw)
    assert [str(p) for p in err.value.problems] == [
        "Pulumi.yaml: flux-gitops:fleet.git: required, not set"
    ]


def _raw(
    git: dict[str, Any], *, secret: set[str], known: bool, providers: bool = True
) -> RawConfig:
    fleet: dict[str, Any] = {"git": git}
    if not providers:
        fleet["notifications"] = {"providers": {}, "alerts": {}}
    return RawConfig(
        stack="k8s-09",
        project={"fleet": fleet},
        stack_values={},
        secret=frozenset(secret),
        secrets_known=known,
    )


def _lines(raw: RawConfig) -> list[str]:
    try:
        build_stack_config(raw)
    except ConfigError as err:
        return [str(p) for p in err.problems]
    return []


def test_ssh_url_needs_known_hosts_in_the_config_layer() -> None:
    raw = _raw({"url": "ssh://git@example.com/x.git"}, secret=set(), known=False)
    assert _lines(raw) == [
        "Pulumi.k8s-09.yaml: flux-gitops:git.knownHosts: required for the ssh:// URL "
        "ssh://git@example.com/x.git: source-controller verifies the host key against it "
        "(`ssh-keyscan <host>`)"
    ]


def test_missing_secrets_are_refused_where_the_secrets_are_known() -> None:
    https = {"url": "https://example.com/x.git"}
    assert _lines(_raw(https, secret=set(), known=True)) == [
        "Pulumi.k8s-09.yaml: flux-gitops:gitToken: not set: the password of git.username for "
        "https://example.com/x.git; run `pulumi config set --secret gitToken <value> -s k8s-09`",
        "Pulumi.k8s-09.yaml: flux-gitops:slackWebhookUrl: not set: the credential of "
        "notification provider 'slack'; run `pulumi config set --secret slackWebhookUrl <value> "
        "-s k8s-09`",
    ]
    # set, they pass; and the YAML files `fluxboot` reads (no secrets in them) are not held to it
    assert _lines(_raw(https, secret={"gitToken", "slackWebhookUrl"}, known=True)) == []
    assert _lines(_raw(https, secret=set(), known=False)) == []
    # an ssh:// URL needs no token (a deploy key is generated when no private key is set)
    ssh = {"url": "ssh://git@example.com/x.git", "knownHosts": "h"}
    assert _lines(_raw(ssh, secret=set(), known=True, providers=False)) == []


# ------------------------------------------------------------- unreadable and hostile config files


@pytest.mark.parametrize("name", ["Pulumi.yaml", "Pulumi.k8s-01.yaml"])
def test_non_utf8_config_file_is_one_problem_naming_it(project: Path, name: str) -> None:
    path = project / name
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")
    (msg,) = problems(project)
    assert msg.startswith(f"{name}: is not UTF-8 text (byte 0xe9 at offset ")


def test_oversized_stack_file_is_refused_before_it_is_parsed(project: Path) -> None:
    from components.config.stack_files import MAX_CONFIG_BYTES

    path = project / "Pulumi.k8s-01.yaml"
    path.write_text(path.read_text() + "#" * (40 * 1024 * 1024) + "\n")
    started = time.monotonic()
    (msg,) = problems(project)
    assert time.monotonic() - started < 2
    assert msg == (
        f"Pulumi.k8s-01.yaml: is larger than {MAX_CONFIG_BYTES} bytes, more than such a file "
        "ever needs: refused"
    )


def test_alias_bomb_in_a_stack_file_is_refused_in_one_short_line(project: Path) -> None:
    lines = ["config:", "  flux-gitops:cluster: &l0 [ha, ha, ha, ha, ha, ha, ha, ha, ha, ha]"]
    for i in range(1, 10):
        lines.append(f"  x{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    lines.append("  flux-gitops:kustomizations: {apps: {timeout: *l9}}")
    (project / "Pulumi.k8s-01.yaml").write_text("\n".join(lines) + "\n")
    (msg,) = problems(project)
    assert msg.startswith("Pulumi.k8s-01.yaml: refused: line 1, column 1: aliases would expand")
    assert len(msg) < 300


def test_a_huge_value_is_quoted_short(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"]["flux-gitops:kustomizations"]["apps"].update(
            {"timeout": "9" * 500_000 + "parsecs", "prune": {"k": ["v" * 1000] * 50}}
        ),
    )
    found = problems(project)
    assert len(found) == 2
    for msg in found:
        assert len(msg) < 400, msg[:500]
    assert "(500007 characters)" in found[1] or "(500007 characters)" in found[0]


# ------------------------------------------------------------------------ credentials in URLs

SECRET = "s3cr3t-T0K"


def _stack_problem(project: Path, change: Callable[[dict[str, Any]], None]) -> str:
    edit(project / "Pulumi.k8s-01.yaml", lambda d: change(d["config"]))
    (msg,) = problems(project)
    assert SECRET not in msg
    return msg


@pytest.mark.parametrize(
    ("setting", "url", "key", "advice"),
    [
        ("git", f"https://deploy:{SECRET}@host/x.git", "git.url", "gitToken"),
        ("git", f"https://{SECRET}@host/x.git", "git.url", "gitToken"),
        ("git", f"https://u:p@ss{SECRET}@host/x.git", "git.url", "gitToken"),
        ("git", f"https://u:p/{SECRET}@host/x.git", "git.url", "gitToken"),
        ("git", f"ssh://git:{SECRET}@host/x.git", "git.url", "gitSshPrivateKey"),
        ("push", f"http://oauth2:{SECRET}@127.0.0.1/x.git", "git.pushUrl", "gitToken"),
        ("provider", f"https://bot:{SECRET}@chat.example.com/post", "address", "secretConfigKey"),
    ],
)
def test_credentials_in_a_url_are_refused_with_the_key_and_the_secret_to_use(
    project: Path, setting: str, url: str, key: str, advice: str
) -> None:
    def change(c: dict[str, Any]) -> None:
        if setting == "git":
            c["flux-gitops:git"] = {"url": url, "knownHosts": "h"}
        elif setting == "push":
            c["flux-gitops:git"] = {"pushUrl": url}
        else:
            c["flux-gitops:notifications"]["providers"]["slack-errors"]["address"] = url

    msg = _stack_problem(project, change)
    full = key if setting != "provider" else f"notifications.providers.slack-errors.{key}"
    assert msg.startswith(f"Pulumi.k8s-01.yaml: flux-gitops:{full}: "), msg
    assert "***@" in msg and advice in msg


def test_credentials_in_a_source_url_are_refused_in_pulumi_yaml(project: Path) -> None:
    edit(
        project / "Pulumi.yaml",
        lambda d: fleet(d)["sources"][0].update({"url": f"oci://robot:{SECRET}@ghcr.io/charts"}),
    )
    (msg,) = problems(project)
    assert msg.startswith("Pulumi.yaml: flux-gitops:fleet.sources[0].url: 'oci://***@ghcr.io/")
    assert "secretRef" in msg and SECRET not in msg


def test_an_ssh_login_name_is_not_a_credential(project: Path) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"].update({"flux-gitops:git": {"pushUrl": "ssh://git@mirror/x.git"}}),
    )
    assert load_stack_config(project, "k8s-01").settings.git.push_url == "ssh://git@mirror/x.git"


# ------------------------------------------------------------------------- secret collisions


@pytest.mark.parametrize(
    ("provider", "extra", "expected"),
    [
        ({"secretConfigKey": "kubeconfig"}, {}, "secretConfigKey: 'kubeconfig' is the program's"),
        ({"secretConfigKey": "gitToken"}, {}, "secretConfigKey: 'gitToken' is the program's"),
        (
            {"secretConfigKey": "gitSshPrivateKey"},
            {},
            "secretConfigKey: 'gitSshPrivateKey' is the program's",
        ),
        ({"secretConfigKey": "fleet"}, {}, "secretConfigKey: 'fleet' is a settings key"),
        ({"secretName": "slack-webhook"}, {}, "secretName: 'slack-webhook' is also the secretName"),
        ({"secretName": "flux-system"}, {}, "secretName: 'flux-system' is the Git credentials"),
        (
            {"secretName": "regcred"},
            {"flux-gitops:flux": {"imagePullSecret": "regcred"}},
            "secretName: 'regcred' is flux.imagePullSecret",
        ),
        (
            {"secretName": "cluster-vars"},
            {
                "flux-gitops:kustomizations": {
                    "apps": {"substituteFrom": [{"kind": "Secret", "name": "cluster-vars"}]}
                }
            },
            "secretName: 'cluster-vars' is the Secret kustomizations.apps.substituteFrom[0] reads",
        ),
    ],
)
def test_secret_collisions_are_refused_at_config_time(
    project: Path, provider: dict[str, str], extra: dict[str, Any], expected: str
) -> None:
    def change(d: dict[str, Any]) -> None:
        d["config"]["flux-gitops:notifications"]["providers"]["slack-errors"].update(provider)
        d["config"].update(extra)

    edit(project / "Pulumi.k8s-01.yaml", change)
    (msg,) = problems(project)
    key = "flux-gitops:notifications.providers.slack-errors."
    assert msg.startswith(f"Pulumi.k8s-01.yaml: {key}{expected}"), msg


def test_a_provider_secret_that_is_a_sources_credentials_is_refused(project: Path) -> None:
    edit(project / "Pulumi.yaml", lambda d: fleet(d)["sources"][0].update({"secretRef": "helm"}))
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"]["flux-gitops:notifications"]["providers"]["slack-errors"].update(
            {"secretName": "helm"}
        ),
    )
    (msg,) = problems(project)
    assert "secretName: 'helm' is the Secret source 'prometheus-community' reads" in msg


# --------------------------------------------------------------- values written into Flux files


@pytest.mark.parametrize(
    ("flux", "key", "words"),
    [
        ({"tolerationKeys": [""]}, "flux.tolerationKeys[0]", "not a taint key"),
        ({"tolerationKeys": ["has space:!!"]}, "flux.tolerationKeys[0]", "not a taint key"),
        ({"tolerationKeys": ["a", "a"]}, "flux.tolerationKeys", "twice"),
        ({"registry": "Registry.example.com/Flux"}, "flux.registry", "not a registry"),
        ({"registry": "ghcr.io/flux cd"}, "flux.registry", "not a registry"),
        ({"registry": "https://ghcr.io/fluxcd"}, "flux.registry", "not a registry"),
        ({"clusterDomain": "cluster.local."}, "flux.clusterDomain", "not a DNS domain"),
        ({"clusterDomain": "Cluster_Local"}, "flux.clusterDomain", "not a DNS domain"),
        ({"imagePullSecret": "Reg Cred"}, "flux.imagePullSecret", "not a valid Kubernetes"),
        ({"imagePullSecret": ""}, "flux.imagePullSecret", "not a valid Kubernetes"),
        ({"patches": [{"patch": "a: ["}]}, "flux.patches[0]", "patch is not YAML"),
        ({"patches": [{"patch": "just text"}]}, "flux.patches[0]", "neither a strategic"),
        ({"patches": [{"patch": ""}]}, "flux.patches[0]", "patch is empty"),
        (
            {"patches": [{"patch": "- {op: add, path: /x, value: 1}"}]},
            "flux.patches[0]",
            "needs a target",
        ),
        (
            {"patches": [{"patch": "- {op: frob, path: /x}", "target": {"kind": "Deployment"}}]},
            "flux.patches[0]",
            "op must be one of",
        ),
        (
            {"patches": [{"patch": "- {op: add, path: /x}", "target": {"kind": "Deployment"}}]},
            "flux.patches[0]",
            "add needs a value",
        ),
        (
            {"patches": [{"patch": "spec: {replicas: 2}", "target": {"kind": "Deployment"}}]},
            "flux.patches[0]",
            "needs kind and metadata.name",
        ),
        (
            {"patches": [{"patch": "kind: Deployment\nmetadata: {name: x}"}]},
            "flux.patches[0]",
            "needs apiVersion",
        ),
        (
            {"patches": [{"patch": "- {op: test, path: /x, value: 1}", "target": {"name": "("}}]},
            "flux.patches[0].target.name",
            "not a regular expression",
        ),
        (
            {
                "patches": [
                    {
                        "patch": "- {op: test, path: /x, value: 1}",
                        "target": {"labelSelector": "a b"},
                    }
                ]
            },
            "flux.patches[0].target.labelSelector",
            "cannot parse selector",
        ),
    ],
)
def test_values_written_into_flux_files_are_checked_at_config_time(
    project: Path, flux: dict[str, Any], key: str, words: str
) -> None:
    edit(project / "Pulumi.k8s-01.yaml", lambda d: d["config"].update({"flux-gitops:flux": flux}))
    (msg,) = problems(project)
    assert msg.startswith(f"Pulumi.k8s-01.yaml: flux-gitops:{key}: "), msg
    assert words in msg


@pytest.mark.parametrize(
    "flux",
    [
        {"tolerationKeys": ["node-role.kubernetes.io/infra", "dedicated"]},
        {"registry": "registry.example.com:5000/mirror/fluxcd"},
        {"registry": "localhost:5000"},
        {"registry": "ghcr.io/fluxcd/"},
        {"clusterDomain": "k8s.example.internal"},
        {"imagePullSecret": "regcred"},
    ],
)
def test_usual_flux_values_pass(project: Path, flux: dict[str, Any]) -> None:
    edit(project / "Pulumi.k8s-01.yaml", lambda d: d["config"].update({"flux-gitops:flux": flux}))
    load_stack_config(project, "k8s-01")


# -------------------------------------------------------- anchors: a trailing newline is caught

NEWLINE_CASES = [
    ("flux-gitops:git", {"branch": "main\n"}, "git.branch"),
    ("flux-gitops:git", {"interval": "1m\n"}, "git.interval"),
    ("flux-gitops:flux", {"version": "v2.9.4\n"}, "flux.version"),
    ("flux-gitops:flux", {"manifestsSha256": "a" * 64 + "\n"}, "flux.manifestsSha256"),
    ("flux-gitops:flux", {"syncInterval": "10m\n"}, "flux.syncInterval"),
    ("flux-gitops:kustomizations", {"apps": {"timeout": "5m\n"}}, "kustomizations.apps.timeout"),
    ("flux-gitops:kustomizations", {"apps": {"substitute": {"a\n": "b"}}}, "kustomizations.apps"),
    ("flux-gitops:cluster", {"name": "k8s-01\n"}, "cluster.name"),
    ("flux-gitops:cluster", {"kubeContext": "k8s-01\n"}, "cluster.kubeContext"),
    ("flux-gitops:flux", {"tolerationKeys": ["infra\n"]}, "flux.tolerationKeys[0]"),
    ("flux-gitops:flux", {"clusterDomain": "cluster.local\n"}, "flux.clusterDomain"),
    ("flux-gitops:flux", {"imagePullSecret": "regcred\n"}, "flux.imagePullSecret"),
    ("flux-gitops:flux", {"registry": "ghcr.io/fluxcd\n"}, "flux.registry"),
    ("flux-gitops:git", {"username": "git\n"}, "git.username"),
    ("flux-gitops:git", {"author": {"name": "bot\n"}}, "git.author.name"),
    ("flux-gitops:git", {"url": "https://h/x.git\n"}, "git.url"),
    (
        "flux-gitops:notifications",
        {"providers": {"slack": {"channel": "#flux\n"}}},
        "notifications.providers.slack.channel",
    ),
    (
        "flux-gitops:notifications",
        {"providers": {"slack": {"secretConfigKey": "slackWebhookUrl\n"}}},
        "notifications.providers.slack.secretConfigKey",
    ),
]


@pytest.mark.parametrize(("top", "value", "key"), NEWLINE_CASES)
def test_a_trailing_newline_is_caught_with_the_key_named(
    project: Path, top: str, value: dict[str, Any], key: str
) -> None:
    edit(project / "Pulumi.k8s-01.yaml", lambda d: d["config"].update({top: value}))
    found = problems(project)
    assert any(m.startswith(f"Pulumi.k8s-01.yaml: flux-gitops:{key}: ") for m in found), found


def test_no_validation_pattern_is_anchored_with_dollar() -> None:
    """Python's `$` matches before a final newline; every pattern of components/ that a value
    is checked against uses `fullmatch` or `\\Z` instead (one class of defect, checked whole)."""
    import ast

    found = []
    for path in sorted((PROJECT_DIR / "components").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr in ("compile", "match", "search", "fullmatch")
                and node.args
            ):
                pattern = node.args[0]
                texts = [
                    n.value
                    for n in ast.walk(pattern)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)
                ]
                if any(t.rstrip(")").endswith("$") and not t.endswith("\\$") for t in texts):
                    found.append(f"{path.name}:{node.lineno}")
    assert found == []


# -------------------------------------------------------------------------------- git identity


@pytest.mark.parametrize(
    ("author", "words"),
    [
        ({"name": ""}, "empty once Git strips"),
        ({"name": "  "}, "empty once Git strips"),
        ({"name": "..."}, "empty once Git strips"),
        ({"name": " bot"}, "would be changed by Git"),
        ({"name": "a <b>"}, "would be changed by Git"),
        ({"email": ""}, "empty once Git strips"),
        ({"email": "<x@y>"}, "would be changed by Git"),
    ],
)
def test_a_commit_identity_git_would_refuse_or_change_is_refused(
    project: Path, author: dict[str, str], words: str
) -> None:
    edit(
        project / "Pulumi.k8s-01.yaml",
        lambda d: d["config"].update({"flux-gitops:git": {"author": author}}),
    )
    (msg,) = problems(project)
    field = next(iter(author))
    assert msg.startswith(f"Pulumi.k8s-01.yaml: flux-gitops:git.author.{field}: ")
    assert words in msg


@pytest.mark.parametrize(
    "name", ["flux-gitops", "Jane Doe", "Zoë O'Brien", "ops (ci)", "", " x", "a <b>", "bot."]
)
def test_identity_rules_agree_with_git(name: str, tmp_path: Path) -> None:
    """An identity the config accepts is the one Git writes; one it refuses, Git alters or
    refuses (git commit-tree is the oracle)."""
    import subprocess

    from pydantic import ValidationError as PydanticError

    from components.config.model import GitAuthor

    try:
        GitAuthor.model_validate({"name": name})
        accepted = True
    except PydanticError:
        accepted = False
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path)], check=True)
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": "a@b.c",
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": "a@b.c",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        ["git", "commit-tree", "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "-m", "x"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        assert not accepted
        return
    shown = subprocess.run(
        ["git", "log", "-1", "--format=%an", done.stdout.strip()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.rstrip("\n")
    assert accepted == (shown == name), (name, shown)


# ----------------------------------------------------------------- one stack per cluster


def test_two_stacks_rendering_one_cluster_are_both_named(project: Path) -> None:
    (project / "Pulumi.k8s-03.yaml").write_text(
        "config:\n  flux-gitops:cluster: {name: k8s-01, kubeContext: k8s-03}\n"
    )
    expected = (
        "flux-gitops:cluster.name: stacks k8s-01, k8s-03 all render cluster 'k8s-01' "
        "(Pulumi.k8s-01.yaml, Pulumi.k8s-03.yaml); a cluster belongs to one stack"
    )
    assert problems(project, "k8s-03")[0].startswith(f"Pulumi.k8s-03.yaml: {expected}")
    assert problems(project, "k8s-01")[0].startswith(f"Pulumi.k8s-01.yaml: {expected}")
    # a stack file that cannot be read is its own problem, not this one
    (project / "Pulumi.k8s-03.yaml").write_bytes(b"\xff")
    load_stack_config(project, "k8s-01")


def test_the_program_refuses_a_cluster_of_two_stacks_with_the_same_line(project: Path) -> None:
    from pulumi.runtime import config as runtime_config

    from components.engine_config import load_engine_config

    (project / "Pulumi.k8s-03.yaml").write_text("config:\n  flux-gitops:cluster: {name: k8s-02}\n")
    values, secret = engine_config(project, "k8s-02", slack_secrets("k8s-02"))
    runtime_config.set_all_config(values, secret)
    try:
        with pytest.raises(ConfigError) as from_program:
            load_engine_config(project, "k8s-02")
    finally:
        runtime_config.set_all_config({}, [])
    assert [str(p) for p in from_program.value.problems] == problems(project, "k8s-02")
