"""Stack configuration: the pydantic model, and the one function that builds it.

Configuration lives where Pulumi users expect it. Fleet-wide settings are the object
`flux-gitops:fleet` in the `config:` block of `Pulumi.yaml`; each `Pulumi.<stack>.yaml` may
override any of them under the same top-level name (`flux-gitops:git`, `flux-gitops:flux`, ...).
The override is merged into the fleet value here, by this code (maps merge key by key, lists and
scalars replace), so the result does not depend on how the engine layers project and stack
config: the CLI, which reads the two YAML files, and the Pulumi program, which reads
`pulumi.Config`, hand the same raw values to `build_stack_config` and get the same model.

Secrets (kubeconfig, Git credentials, notification tokens) are separate top-level keys set with
`pulumi config set --secret`; they are never part of `StackConfig`, so nothing rendered from it
can contain one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic.alias_generators import to_camel

from components.errors import ConfigError, Problem
from components.k8s_names import is_dns1123_label, is_dns1123_subdomain

PROJECT = "flux-gitops"
PROJECT_FILE = "Pulumi.yaml"

# A Go duration as Flux's CRDs accept it (their `pattern` for interval/timeout fields).
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
# postBuild.substitute keys, as kustomize-controller requires them.
_VAR_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
_FLUX_VERSION = re.compile(r"^v[0-9]+\.[0-9]+\.[0-9]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# A branch name that `git check-ref-format --branch` accepts, kept conservative.
_BRANCH = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)(?!.*\.lock$)(?!.*/$)[A-Za-z0-9._/-]+$")


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"{value!r} is not a duration; write it like 30s, 5m, 1h or 1h30m")
    return value


def _dns_label(value: str) -> str:
    if not is_dns1123_label(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def _dns_subdomain(value: str) -> str:
    if not is_dns1123_subdomain(value):
        raise ValueError(f"{value!r} is not a valid Kubernetes object name (DNS-1123 subdomain)")
    return value


def _branch(value: str) -> str:
    if not _BRANCH.match(value):
        raise ValueError(f"{value!r} is not a valid Git branch name")
    return value


Duration = Annotated[str, AfterValidator(_duration)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
ObjectName = Annotated[str, AfterValidator(_dns_subdomain)]
Branch = Annotated[str, AfterValidator(_branch)]


class _Model(BaseModel):
    """Frozen, camelCase keys, unknown keys rejected."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, validate_by_name=False
    )


# --------------------------------------------------------------------------------------- cluster


class ClusterSettings(_Model):
    """Per-cluster identity and how Pulumi reaches the cluster."""

    name: DnsLabel | None = Field(
        None,
        description="Cluster name: the directory under clusters/, core-apps/clusters/ and "
        "apps/clusters/. Defaults to the stack name. A DNS-1123 label.",
    )
    kube_context: str | None = Field(
        None,
        description="Context of the user's kubeconfig to use when no `flux-gitops:kubeconfig` "
        "secret is set. One of the two is required by `pulumi up`.",
    )


# ------------------------------------------------------------------------------------------- git


class GitAuthor(_Model):
    """Identity of the commits the program makes."""

    name: str = Field("flux-gitops", description="Commit author and committer name.")
    email: str = Field(
        "flux-gitops@noreply.invalid", description="Commit author and committer e-mail."
    )


class GitSettings(_Model):
    """The GitOps repository that Flux syncs from and that the program commits to."""

    url: str = Field(
        description="Repository URL that Flux clones (ssh://, https:// or http://), "
        "as in the flux-system GitRepository."
    )
    push_url: str | None = Field(
        None,
        description="URL or local path the program pushes to, when it differs from `url` "
        "(a mirror, a local bare repository). Defaults to `url`.",
    )
    branch: Branch = Field("main", description="Branch Flux syncs from and the program commits to.")
    interval: Duration = Field("1m", description="How often Flux fetches the repository.")
    username: str = Field(
        "git", description="User name for HTTPS access; the token is the secret `gitToken`."
    )
    known_hosts: str | None = Field(
        None,
        description="SSH known_hosts line(s) of the Git host (`ssh-keyscan <host>`), "
        "stored in the flux-system Secret for ssh:// URLs.",
    )
    author: GitAuthor = Field(default_factory=GitAuthor, description="Commit identity.")
    push_mode: Literal["direct", "branch"] = Field(
        "direct",
        description="`direct` commits to `branch`; `branch` pushes to `flux-gitops/<stack>` "
        "for a merge request (protected branches).",
    )
    create_branch: bool = Field(
        False, description="Create `branch` from the default branch when it does not exist."
    )
    deploy_key_rotation: int = Field(
        0,
        ge=0,
        description="Raise it to rotate the generated deploy key (used when no "
        "`gitSshPrivateKey` is set for an ssh:// URL).",
    )
    delete_files: bool = Field(
        False,
        description="On `pulumi destroy`, remove this stack's managed files from the repository. "
        "Fleet files and scaffolds are never removed.",
    )

    @model_validator(mode="after")
    def _flux_url(self) -> GitSettings:
        if not re.match(r"^(http|https|ssh)://", self.url):
            raise ValueError(
                f"url {self.url!r} must start with ssh://, https:// or http:// (what Flux's "
                "GitRepository accepts); for scp-like addresses write ssh://git@host/path.git, "
                "and put a local path in pushUrl"
            )
        return self


# ------------------------------------------------------------------------------------------ flux

Component = Literal[
    "source-controller", "kustomize-controller", "helm-controller", "notification-controller"
]
DEFAULT_COMPONENTS: tuple[Component, ...] = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
)
ExtraComponent = Literal["image-reflector-controller", "image-automation-controller"]


class PatchTarget(_Model):
    """Which objects a patch applies to, as in a kustomization.yaml `patches[].target`."""

    group: str | None = Field(None, description="API group of the targets.")
    version: str | None = Field(None, description="API version of the targets.")
    kind: str | None = Field(None, description="Kind of the targets.")
    name: str | None = Field(None, description="Name (regular expression) of the targets.")
    namespace: str | None = Field(None, description="Namespace of the targets.")
    label_selector: str | None = Field(None, description="Label selector of the targets.")
    annotation_selector: str | None = Field(None, description="Annotation selector of the targets.")


class Patch(_Model):
    """A kustomize patch of the Flux install: strategic merge, or JSON 6902 with a target."""

    patch: str = Field(description="The patch, as YAML text (strategic merge or JSON 6902 list).")
    target: PatchTarget | None = Field(
        None, description="Objects to patch; required for a JSON 6902 patch."
    )


class FluxSettings(_Model):
    """The Flux installation: version, components and the `flux install` settings."""

    version: str = Field("v2.9.4", description="Flux release, like v2.9.4.")
    manifests_path: str | None = Field(
        None,
        description="Local install manifest (gotk-components.yaml of `version`) to use instead "
        "of downloading it, for air-gapped clusters. Relative to the project directory.",
    )
    manifests_sha256: str | None = Field(
        None, description="SHA-256 the install manifest must have; checked before it is used."
    )
    components: list[Component] = Field(
        default_factory=lambda: list(DEFAULT_COMPONENTS),
        description="Controllers to install.",
    )
    components_extra: list[ExtraComponent] = Field(
        default_factory=list, description="Extra controllers (image automation)."
    )
    registry: str = Field(
        "ghcr.io/fluxcd", description="Registry every controller image is pulled from."
    )
    image_pull_secret: str | None = Field(
        None,
        description="Name of an image pull Secret in the Flux namespace for a private registry.",
    )
    toleration_keys: list[str] = Field(
        default_factory=list, description="Taint keys the controllers tolerate."
    )
    network_policy: bool = Field(True, description="Install Flux's NetworkPolicies.")
    cluster_domain: str = Field("cluster.local", description="The cluster's DNS domain.")
    log_level: Literal["debug", "info", "error"] = Field(
        "info", description="Controller log level."
    )
    watch_all_namespaces: bool = Field(
        True, description="Controllers watch every namespace, not only the Flux namespace."
    )
    keep_namespace: bool = Field(
        False, description="On `pulumi destroy`, keep the flux-system namespace."
    )
    sync_interval: Duration = Field("10m", description="Interval of the flux-system Kustomization.")
    patches: list[Patch] = Field(
        default_factory=list,
        description="Patches of the install, written to clusters/<c>/flux-system/kustomization.yaml.",
    )

    @model_validator(mode="after")
    def _check(self) -> FluxSettings:
        if not _FLUX_VERSION.match(self.version):
            raise ValueError(f"version {self.version!r} is not a Flux release like v2.9.4")
        if self.manifests_sha256 is not None and not _SHA256.match(self.manifests_sha256):
            raise ValueError("manifestsSha256 must be 64 lower-case hexadecimal digits")
        for what, items in (
            ("components", self.components),
            ("componentsExtra", self.components_extra),
        ):
            if len(set(items)) != len(items):
                raise ValueError(f"{what} lists a controller twice")
        if "source-controller" not in self.components:
            raise ValueError("components must include source-controller: every Flux sync needs it")
        return self


# -------------------------------------------------------------------------------- kustomizations


class SubstituteFrom(_Model):
    """A ConfigMap or Secret whose data become postBuild variables."""

    kind: Literal["ConfigMap", "Secret"] = Field(description="ConfigMap or Secret.")
    name: ObjectName = Field(description="Name of the object, in the flux-system namespace.")
    optional: bool = Field(False, description="Do not fail when the object is missing.")


class KustomizationSettings(_Model):
    """Knobs of one generated Flux Kustomization."""

    interval: Duration = Field("10m", description="Reconciliation interval.")
    retry_interval: Duration = Field("2m", description="Retry interval after a failure.")
    timeout: Duration = Field("5m", description="Timeout of apply and health checks.")
    prune: bool = Field(True, description="Delete objects removed from Git.")
    wait: bool = Field(True, description="Wait for every applied object to be ready.")
    substitute: dict[str, str] = Field(
        default_factory=dict,
        description="postBuild.substitute variables; `cluster_name` is always set to the cluster name.",
    )
    substitute_from: list[SubstituteFrom] = Field(
        default_factory=list, description="postBuild.substituteFrom references."
    )

    @model_validator(mode="after")
    def _check(self) -> KustomizationSettings:
        for name in self.substitute:
            if not _VAR_NAME.match(name):
                raise ValueError(f"substitute variable {name!r} is not a valid variable name")
        if "cluster_name" in self.substitute:
            raise ValueError("substitute must not set cluster_name: it is always the cluster name")
        return self


class Kustomizations(_Model):
    """The two Kustomizations of every cluster (clusters/<c>/core-apps.yaml and apps.yaml)."""

    core_apps: KustomizationSettings = Field(
        default_factory=KustomizationSettings, description="`core-apps`: ./core-apps/clusters/<c>."
    )
    apps: KustomizationSettings = Field(
        default_factory=lambda: KustomizationSettings(timeout="10m"),
        description="`apps`: ./apps/clusters/<c>, depends on core-apps.",
    )


# ---------------------------------------------------------------------------------------- sources


class HelmSource(_Model):
    """One HelmRepository in core-apps/sources/ (fleet-wide)."""

    name: DnsLabel = Field(description="Object and file name.")
    url: str = Field(description="https:// repository, or oci:// registry (then `type: oci`).")
    interval: Duration = Field("1h", description="How often the index is fetched.")
    secret_ref: ObjectName | None = Field(
        None, description="Secret with credentials for a private repository, in flux-system."
    )

    @model_validator(mode="after")
    def _check(self) -> HelmSource:
        if not re.match(r"^(https?|oci)://", self.url):
            raise ValueError(f"url {self.url!r} must start with https://, http:// or oci://")
        return self

    @property
    def is_oci(self) -> bool:
        return self.url.startswith("oci://")


def _default_sources() -> list[HelmSource]:
    return [
        HelmSource(
            name="prometheus-community", url="https://prometheus-community.github.io/helm-charts"
        ),
        HelmSource(name="victoriametrics", url="https://victoriametrics.github.io/helm-charts/"),
    ]


# ---------------------------------------------------------------------------------- notifications

# Kinds an Alert may watch in notification.toolkit.fluxcd.io/v1beta3.
EventSourceKind = Literal[
    "Bucket",
    "GitRepository",
    "Kustomization",
    "HelmRelease",
    "HelmChart",
    "HelmRepository",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "OCIRepository",
]
DEFAULT_EVENT_KINDS: tuple[EventSourceKind, ...] = (
    "Kustomization",
    "HelmRelease",
    "GitRepository",
    "HelmRepository",
    # a chart version that cannot be fetched is reported by source-controller on the HelmChart
    # only; helm-controller just waits for it (seen with the real controllers in the e2e test)
    "HelmChart",
)


class NotificationProvider(_Model):
    """A notification Provider; its credential is a Pulumi secret turned into a Kubernetes Secret."""

    type: Literal["slack", "msteams", "discord", "googlechat", "generic"] = Field(
        "slack", description="Provider type."
    )
    channel: str | None = Field(None, description="Channel to post to, like #flux.")
    username: str | None = Field(None, description="Bot user name shown in the channel.")
    address: str | None = Field(
        None,
        description="Endpoint when it is not secret (e.g. https://slack.com/api/chat.postMessage "
        "with a bot token); otherwise the webhook URL is the secret.",
    )
    secret_name: ObjectName = Field(
        description="Kubernetes Secret (in flux-system) that the Provider's secretRef names."
    )
    secret_config_key: str = Field(
        description="Pulumi config key (set with --secret) whose value goes into that Secret."
    )
    secret_field: Literal["address", "token"] = Field(
        "address",
        description="Field of the Secret that holds the value: `address` for a webhook URL, "
        "`token` for a bot token.",
    )

    @model_validator(mode="after")
    def _check(self) -> NotificationProvider:
        if not re.match(r"^[A-Za-z][A-Za-z0-9]*$", self.secret_config_key):
            raise ValueError(
                f"secretConfigKey {self.secret_config_key!r} must be a plain config key name "
                "like slackWebhookUrl"
            )
        if self.secret_config_key in _MODEL_KEYS:
            raise ValueError(f"secretConfigKey {self.secret_config_key!r} is a settings key")
        if self.secret_field == "token" and self.address is None and self.type == "slack":
            raise ValueError(
                "a Slack bot token needs address: https://slack.com/api/chat.postMessage"
            )
        return self


class EventSource(_Model):
    """Objects whose events an Alert forwards."""

    kind: EventSourceKind = Field(description="Kind of the objects.")
    name: str = Field("*", description="Name of the objects; * for all.")


class NotificationAlert(_Model):
    """An Alert: which events go to which Provider."""

    provider_ref: DnsLabel = Field(description="Name of a provider under notifications.providers.")
    event_severity: Literal["info", "error"] = Field(
        "info", description="Lowest severity forwarded: info (everything) or error."
    )
    event_sources: list[EventSource] = Field(
        default_factory=lambda: [EventSource(kind=k) for k in DEFAULT_EVENT_KINDS],
        description="Objects watched; by default every Kustomization, HelmRelease, "
        "GitRepository, HelmRepository and HelmChart.",
    )
    namespaces: list[DnsLabel] = Field(
        default_factory=lambda: ["flux-system"],
        description="Namespaces watched. Flux has no wildcard namespace for alerts, so each is "
        "listed; everything this project generates lives in flux-system.",
    )
    exclusion_list: list[str] = Field(
        default_factory=list, description="Regular expressions of event messages to drop."
    )

    @model_validator(mode="after")
    def _check(self) -> NotificationAlert:
        for pattern in self.exclusion_list:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(
                    f"exclusionList entry {pattern!r} is not a regular expression: {err}"
                ) from err
        if not self.event_sources:
            raise ValueError("eventSources must not be empty")
        if not self.namespaces:
            raise ValueError("namespaces must not be empty")
        return self


class Notifications(_Model):
    """Where Flux events go (by default: Slack #flux)."""

    providers: dict[DnsLabel, NotificationProvider] = Field(
        default_factory=lambda: {
            "slack": NotificationProvider.model_validate(
                {
                    "channel": "#flux",
                    "secretName": "slack-webhook",
                    "secretConfigKey": "slackWebhookUrl",
                }
            )
        },
        description="Providers by name.",
    )
    alerts: dict[DnsLabel, NotificationAlert] = Field(
        default_factory=lambda: {
            "flux": NotificationAlert.model_validate({"providerRef": "slack"})
        },
        description="Alerts by name.",
    )

    @model_validator(mode="after")
    def _check(self) -> Notifications:
        for name, alert in self.alerts.items():
            if alert.provider_ref not in self.providers:
                known = ", ".join(sorted(self.providers)) or "none"
                raise ValueError(
                    f"alert {name!r} names provider {alert.provider_ref!r}, which is not "
                    f"configured (providers: {known})"
                )
        return self


# ----------------------------------------------------------------------------------------- stack


class Settings(_Model):
    """Everything a stack is configured with: the fleet value merged with the stack's overrides."""

    cluster: ClusterSettings = Field(
        default_factory=ClusterSettings, description="Per-cluster identity."
    )
    git: GitSettings = Field(description="The GitOps repository.")
    flux: FluxSettings = Field(default_factory=FluxSettings, description="The Flux installation.")
    kustomizations: Kustomizations = Field(
        default_factory=Kustomizations, description="The core-apps and apps Kustomizations."
    )
    sources: list[HelmSource] = Field(
        default_factory=_default_sources,
        description="HelmRepositories in core-apps/sources/ (fleet-only: set in Pulumi.yaml).",
    )
    notifications: Notifications = Field(
        default_factory=Notifications, description="Notification providers and alerts."
    )

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, sources: list[HelmSource]) -> list[HelmSource]:
        seen: set[str] = set()
        for source in sources:
            if source.name in seen:
                raise ValueError(f"two sources are named {source.name!r}")
            seen.add(source.name)
        return sources


_MODEL_KEYS = frozenset(f.alias or n for n, f in Settings.model_fields.items())
FLEET_KEY = "fleet"
FLEET_ONLY = frozenset({"sources"})
STACK_ONLY = frozenset({"cluster"})
# Secret keys the program itself reads; providers add their own `secretConfigKey`s.
SECRET_KEYS = frozenset({"kubeconfig", "gitSshPrivateKey", "gitToken"})


@dataclass(frozen=True)
class StackConfig:
    """The validated configuration of one stack (one cluster). Holds no secret values."""

    stack: str
    settings: Settings
    # Secret config keys that are set for this stack (values are never held here).
    secrets_present: frozenset[str] = field(default_factory=frozenset)

    @property
    def cluster(self) -> str:
        return self.settings.cluster.name or self.stack

    def secret_keys_used(self) -> frozenset[str]:
        """Every secret config key this configuration reads."""
        keys = set(SECRET_KEYS)
        keys.update(p.secret_config_key for p in self.settings.notifications.providers.values())
        return frozenset(keys)


# ----------------------------------------------------------------------------- raw config & build


@dataclass(frozen=True)
class RawConfig:
    """Config values of one stack as the engine (or the YAML files) hold them.

    `project` and `stack` map config keys without the `flux-gitops:` namespace to plain Python
    values; `secret` lists the keys, of either, that are secrets. `project_file` and
    `stack_file` name where they came from, for messages.
    """

    stack: str
    project: Mapping[str, Any]
    stack_values: Mapping[str, Any]
    secret: frozenset[str]
    project_file: str = PROJECT_FILE
    stack_file: str = ""
    # Whether `secret` lists every secret the stack has (the engine's config), so that a missing
    # one is an error; the YAML files read by `fluxboot` need not hold them.
    secrets_known: bool = False

    @property
    def stack_label(self) -> str:
        return self.stack_file or f"Pulumi.{self.stack}.yaml"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Maps merge key by key; anything else in `override` replaces what `base` has."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _format_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _has_path(value: Any, parts: tuple[str | int, ...]) -> bool:
    for part in parts:
        if isinstance(value, list) and isinstance(part, int) and part < len(value):
            value = value[part]
            continue
        if isinstance(value, Mapping) and isinstance(part, str) and part in value:
            value = value[part]
            continue
        return False
    return True


def _message(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required, not set"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        msg += f" (got {type(err.get('input')).__name__}: {err.get('input')!r})"
    return msg


def _cross_checks(settings: Settings, raw: RawConfig, stack_file: str) -> list[Problem]:
    """Rules between settings, and between settings and the secrets a stack must set.

    They live here, not in the Pulumi components, so that `fluxboot` and `pulumi preview`
    refuse the same input with the same line. Whether a secret is set is known only where the
    secrets are: the engine's config (`RawConfig.secrets_known`); the YAML files a `fluxboot`
    command reads hold no secrets for the committed stacks, so there the secret rules are left to
    `pulumi preview`, which reports them in the same form.
    """
    problems: list[Problem] = []
    git = settings.git
    if git.url.startswith("ssh://") and not git.known_hosts:
        problems.append(
            Problem(
                stack_file,
                f"{PROJECT}:git.knownHosts",
                f"required for the ssh:// URL {git.url}: source-controller verifies the host key "
                "against it (`ssh-keyscan <host>`)",
            )
        )
    if not raw.secrets_known:
        return problems

    def missing(name: str, why: str) -> None:
        if name not in raw.secret:
            problems.append(
                Problem(
                    stack_file,
                    f"{PROJECT}:{name}",
                    f"not set: {why}; run `pulumi config set --secret {name} <value> -s {raw.stack}`",
                )
            )

    if not git.url.startswith("ssh://"):
        missing("gitToken", f"the password of git.username for {git.url}")
    for name, provider in sorted(settings.notifications.providers.items()):
        missing(provider.secret_config_key, f"the credential of notification provider {name!r}")
    return problems


def build_stack_config(raw: RawConfig) -> StackConfig:
    """Validate one stack's raw config into a `StackConfig`, or raise `ConfigError` with every problem."""
    problems: list[Problem] = []
    stack_file = raw.stack_label

    def key(path: str) -> str:
        return f"{PROJECT}:{path}"

    fleet = raw.project.get(FLEET_KEY, {})
    if not isinstance(fleet, Mapping):
        problems.append(Problem(raw.project_file, key(FLEET_KEY), "must be a map of settings"))
        fleet = {}
    for name in raw.project:
        if name == FLEET_KEY or name in SECRET_KEYS:
            continue
        problems.append(
            Problem(
                raw.project_file,
                key(name),
                f"unknown key; fleet settings go under {key(FLEET_KEY)}",
            )
        )
    for name in fleet:
        if name in STACK_ONLY:
            problems.append(
                Problem(
                    raw.project_file,
                    key(f"{FLEET_KEY}.{name}"),
                    "is per cluster: set it in the stack file",
                )
            )

    provider_secret_keys: set[str] = set()
    overlay: dict[str, Any] = {}
    for name, value in raw.stack_values.items():
        if name == FLEET_KEY:
            problems.append(Problem(stack_file, key(name), f"belongs in {raw.project_file} only"))
        elif name in FLEET_ONLY:
            problems.append(
                Problem(
                    stack_file,
                    key(name),
                    f"is fleet-wide (every cluster reads core-apps/sources/): set it under "
                    f"{key(FLEET_KEY)}.{name} in {raw.project_file}",
                )
            )
        elif name in _MODEL_KEYS:
            if name in raw.secret:
                problems.append(
                    Problem(
                        stack_file, key(name), "is a setting, not a secret: set it without --secret"
                    )
                )
            overlay[name] = value
        # anything else is a secret key or unknown; decided once providers are known

    fleet = {k: v for k, v in fleet.items() if k not in STACK_ONLY}
    merged = deep_merge(fleet, overlay)

    settings: Settings | None = None
    try:
        settings = Settings.model_validate(merged)
    except PydanticValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            path = _format_path(loc)
            top = loc[0] if loc else ""
            if (top in overlay and _has_path(overlay, loc)) or (
                top in overlay and err["type"] == "missing" and _has_path(overlay, loc[:-1])
            ):
                file, full = stack_file, key(path)
            elif _has_path(fleet, loc) or (err["type"] == "missing" and _has_path(fleet, loc[:-1])):
                file, full = raw.project_file, key(f"{FLEET_KEY}.{path}" if path else FLEET_KEY)
            else:
                file, full = stack_file, key(path)
            problems.append(Problem(file, full, _message(err)))

    if settings is not None:
        provider_secret_keys = {
            p.secret_config_key for p in settings.notifications.providers.values()
        }
    allowed_secrets = SECRET_KEYS | provider_secret_keys
    for name in raw.stack_values:
        if name in _MODEL_KEYS or name == FLEET_KEY or name in FLEET_ONLY:
            continue
        if name in allowed_secrets:
            if name not in raw.secret:
                problems.append(
                    Problem(
                        stack_file,
                        key(name),
                        f"is a secret: set it with `pulumi config set --secret {name}` "
                        "so it is encrypted in the stack file",
                    )
                )
        elif settings is not None or name not in raw.secret:
            known = ", ".join(sorted(_MODEL_KEYS - FLEET_ONLY | allowed_secrets))
            problems.append(Problem(stack_file, key(name), f"unknown key (known: {known})"))

    if settings is not None:
        if settings.cluster.name is None:
            try:
                _dns_label(raw.stack)
            except ValueError as err:
                problems.append(
                    Problem(stack_file, key("cluster.name"), f"not set, and the stack name {err}")
                )
        problems.extend(_cross_checks(settings, raw, stack_file))
    if problems or settings is None:
        raise ConfigError(problems)
    present = frozenset(k for k in raw.secret if k in allowed_secrets)
    return StackConfig(stack=raw.stack, settings=settings, secrets_present=present)
