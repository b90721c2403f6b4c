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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic.alias_generators import to_camel

from components.common import urls
from components.common.errors import ConfigError, Problem, quote
from components.common.flux import FLUX_NAMESPACE, SYNC_NAME
from components.common.git_refs import DEFAULT_AUTHOR, branch_problem
from components.common.k8s_names import is_dns1123_label, is_dns1123_subdomain, is_qualified_name
from components.config import patch_syntax
from components.config.stack_names import stack_file_name

PROJECT = "flux-gitops"
PROJECT_FILE = "Pulumi.yaml"

# Every pattern here is matched with `fullmatch`: anchoring with `$` would let a value with a
# trailing newline through (Python's `$` also matches before a final "\n").
# A Go duration as Flux's CRDs accept it (their `pattern` for interval/timeout fields).
_DURATION = re.compile(r"([0-9]+(\.[0-9]+)?(ms|s|m|h))+")
# postBuild.substitute keys, as kustomize-controller requires them.
_VAR_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_FLUX_VERSION = re.compile(r"v[0-9]+\.[0-9]+\.[0-9]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# A Pulumi config key name, as the program reads secrets by it.
_CONFIG_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# An image reference's registry host and path (distribution/reference, the grammar container
# runtimes parse `image:` with): host[:port], then lower-case path components.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = re.compile(
    rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)"
    rf"(?:/{_PATH_PART})*"
)
# distribution/reference: a repository name is at most 255 characters; the longest controller
# name Flux has is 27.
_REGISTRY_MAX = 255 - len("/image-automation-controller")
# CRD maxLength of Provider.spec.channel, .username and .address.
_PROVIDER_TEXT_MAX = 2048


def _duration(value: str) -> str:
    if not _DURATION.fullmatch(value):
        raise ValueError(f"{quote(value)} is not a duration; write it like 30s, 5m, 1h or 1h30m")
    return value


def _dns_label(value: str) -> str:
    if not is_dns1123_label(value):
        raise ValueError(
            f"{quote(value)} is not a DNS-1123 label (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def _dns_subdomain(value: str) -> str:
    if not is_dns1123_subdomain(value):
        raise ValueError(
            f"{quote(value)} is not a valid Kubernetes object name (DNS-1123 subdomain)"
        )
    return value


def _branch(value: str) -> str:
    problem = branch_problem(value)
    if problem:
        raise ValueError(f"{quote(value)} is not a usable Git branch name: it {problem}")
    return value


def _line(value: str) -> str:
    """One line of text: written into a YAML file or a Git object, a control character would
    change its meaning (a newline) or be refused by Kubernetes."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"{quote(value)} holds a control character (a newline?)")
    return value


def _toleration_key(value: str) -> str:
    if not is_qualified_name(value):
        raise ValueError(
            f"{quote(value)} is not a taint key Kubernetes accepts: [prefix/]name, the name at "
            "most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or "
            "digit, the prefix a DNS subdomain (an empty key would tolerate every taint)"
        )
    return value


def _url(value: str, schemes: tuple[str, ...], where_credentials_go: str) -> str:
    """A URL Flux or Git reads: one of `schemes`, one line, a host, and no credentials in it
    (they would be committed in plain text; they belong in a secret)."""
    _line(value)
    if any(c.isspace() for c in value):
        raise ValueError(f"{quote(value)} holds white space")
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in schemes:
        raise ValueError(
            f"{quote(value)} must start with " + " or ".join(f"{s}://" for s in schemes)
        )
    credential = urls.credential_in(value)
    if credential is not None:
        raise ValueError(
            f"{quote(value)} holds {credential}, which would be written in plain text "
            f"to the repository and the state: {where_credentials_go}"
        )
    if not rest or rest.startswith(("/", "?", "#")):
        raise ValueError(f"{quote(value)} has no host")
    return value


Duration = Annotated[str, AfterValidator(_duration)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
ObjectName = Annotated[str, AfterValidator(_dns_subdomain)]
Branch = Annotated[str, AfterValidator(_branch)]
Line = Annotated[str, AfterValidator(_line)]
TolerationKey = Annotated[str, AfterValidator(_toleration_key)]


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
    kube_context: Line | None = Field(
        None,
        description="Context of the user's kubeconfig to use when no `flux-gitops:kubeconfig` "
        "secret is set. One of the two is required by `pulumi up`.",
    )


# ------------------------------------------------------------------------------------------- git


# Characters Git strips from both ends of an identity (ident.c `crud`), and those it deletes
# everywhere in it: a name or e-mail holding them would not be what the commits say.
_IDENT_CRUD = " .,:;<>\"\\'"
_IDENT_DELIMITERS = "<>"


def _ident(value: str, what: str) -> str:
    _line(value)
    if not value.strip(_IDENT_CRUD):
        raise ValueError(
            f"{quote(value)} is empty once Git strips spaces and .,:;<>\"'\\ from its ends; "
            f"Git refuses a commit without an author {what}"
        )
    if value != value.strip(_IDENT_CRUD) or any(c in value for c in _IDENT_DELIMITERS):
        raise ValueError(
            f"{quote(value)} would be changed by Git (it strips spaces and .,:;<>\"'\\ from "
            "the ends and deletes < and >); write it without them"
        )
    return value


class GitAuthor(_Model):
    """Identity of the commits the program makes."""

    name: str = Field(DEFAULT_AUTHOR[0], description="Commit author and committer name.")
    email: str = Field(DEFAULT_AUTHOR[1], description="Commit author and committer e-mail.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _ident(value, "name")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _ident(value, "e-mail")


_GIT_CREDENTIALS = (
    "remove them; an https:// repository takes git.username and the secret gitToken "
    "(`pulumi config set --secret gitToken <token>`), an ssh:// one the secret gitSshPrivateKey "
    "or the generated deploy key"
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
    username: Line = Field(
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

    @field_validator("url")
    @classmethod
    def _flux_url(cls, value: str) -> str:
        if not value.startswith(("ssh://", "https://", "http://")):
            raise ValueError(
                f"{quote(value)} must start with ssh://, https:// or http:// (what Flux's "
                "GitRepository accepts); for scp-like addresses write ssh://git@host/path.git, "
                "and put a local path in pushUrl"
            )
        return _url(value, ("ssh", "https", "http"), _GIT_CREDENTIALS)

    @field_validator("push_url")
    @classmethod
    def _push_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        _line(value)
        if "://" in value:
            scheme = value.partition("://")[0]
            return _url(value, (scheme,), _GIT_CREDENTIALS)
        if not value.strip():
            raise ValueError("pushUrl is empty; leave it unset to push to url")
        return value

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not value or ":" in value:
            raise ValueError(
                f"username {quote(value)} must be a non-empty HTTP Basic user name, without ':'"
            )
        return value


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


def _target_regex(value: str | None) -> str | None:
    if value is not None:
        _line(value)
        problem = patch_syntax.regex_problem(value)
        if problem:
            raise ValueError(f"{quote(value)} {problem}")
    return value


def _target_selector(value: str | None) -> str | None:
    if value is not None:
        _line(value)
        patch_syntax.parse_selector(value)
    return value


TargetRegex = Annotated[str, AfterValidator(_target_regex)]
TargetSelector = Annotated[str, AfterValidator(_target_selector)]


class PatchTarget(_Model):
    """Which objects a patch applies to, as in a kustomization.yaml `patches[].target`."""

    group: TargetRegex | None = Field(None, description="API group of the targets.")
    version: TargetRegex | None = Field(None, description="API version of the targets.")
    kind: TargetRegex | None = Field(None, description="Kind of the targets.")
    name: TargetRegex | None = Field(None, description="Name (regular expression) of the targets.")
    namespace: TargetRegex | None = Field(None, description="Namespace of the targets.")
    label_selector: TargetSelector | None = Field(
        None, description="Label selector of the targets."
    )
    annotation_selector: TargetSelector | None = Field(
        None, description="Annotation selector of the targets."
    )


class Patch(_Model):
    """A kustomize patch of the Flux install: strategic merge, or JSON 6902 with a target."""

    patch: str = Field(description="The patch, as YAML text (strategic merge or JSON 6902 list).")
    target: PatchTarget | None = Field(
        None, description="Objects to patch; required for a JSON 6902 patch."
    )

    @model_validator(mode="after")
    def _parses(self) -> Patch:
        # what kustomize would refuse when Flux builds clusters/<c>/flux-system: refused here,
        # before it is committed (`patch_syntax` says which rules)
        try:
            patch_syntax.parse_patch(self.patch, self.target is not None)
        except ValueError as err:
            raise ValueError(f"patch {err}") from None
        return self


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
    image_pull_secret: ObjectName | None = Field(
        None,
        description="Name of an image pull Secret in the Flux namespace for a private registry.",
    )
    toleration_keys: list[TolerationKey] = Field(
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

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _FLUX_VERSION.fullmatch(value):
            raise ValueError(f"{quote(value)} is not a Flux release like v2.9.4")
        return value

    @field_validator("manifests_sha256")
    @classmethod
    def _sha256(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.fullmatch(value):
            raise ValueError(f"{quote(value)} is not 64 lower-case hexadecimal digits")
        return value

    @field_validator("manifests_path")
    @classmethod
    def _manifests_path(cls, value: str | None) -> str | None:
        if value is not None and not _line(value).strip():
            raise ValueError("is empty; leave it unset to use the mirror, cache or download")
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        # "" keeps the images of the manifest as they are
        bare = value.rstrip("/")
        if value and (not _REGISTRY.fullmatch(bare) or len(bare) > _REGISTRY_MAX):
            raise ValueError(
                f"{quote(value)} is not a registry an image reference can name "
                "(host[:port][/path], the path in lower case), like ghcr.io/fluxcd or "
                "registry.example.com:5000/mirror/fluxcd"
            )
        return value

    @field_validator("cluster_domain")
    @classmethod
    def _cluster_domain(cls, value: str) -> str:
        if not is_dns1123_subdomain(value):
            raise ValueError(
                f"{quote(value)} is not a DNS domain (a DNS-1123 subdomain like cluster.local, "
                "without a trailing dot)"
            )
        return value

    @field_validator("toleration_keys")
    @classmethod
    def _unique_keys(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists a taint key twice")
        return value

    @model_validator(mode="after")
    def _check(self) -> FluxSettings:
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
            if not _VAR_NAME.fullmatch(name):
                raise ValueError(f"substitute variable {quote(name)} is not a valid variable name")
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

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _url(
            value,
            ("https", "http", "oci"),
            "remove them, and give the source a secretRef: a Secret in flux-system with "
            "username and password, which source-controller uses",
        )

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
    channel: Line | None = Field(None, description="Channel to post to, like #flux.")
    username: Line | None = Field(None, description="Bot user name shown in the channel.")
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

    @field_validator("channel", "username")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and len(value) > _PROVIDER_TEXT_MAX:
            raise ValueError(f"is longer than {_PROVIDER_TEXT_MAX} characters")
        return value

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if len(value) > _PROVIDER_TEXT_MAX:
            raise ValueError(f"is longer than {_PROVIDER_TEXT_MAX} characters")
        return _url(
            value,
            ("https", "http"),
            "an address that carries a credential is itself the secret: leave address unset "
            "and set the whole URL as the provider's secretConfigKey (secretField: address)",
        )

    @field_validator("secret_config_key")
    @classmethod
    def _secret_config_key(cls, value: str) -> str:
        if not _CONFIG_KEY.fullmatch(value):
            raise ValueError(f"{quote(value)} must be a plain config key name like slackWebhookUrl")
        if value in SECRET_KEYS:
            raise ValueError(
                f"{quote(value)} is the program's own secret ({_SECRET_USES[value]}): its value "
                "would be copied into the provider's Secret; name a key of the provider's own"
            )
        if value in _MODEL_KEYS or value == FLEET_KEY:
            raise ValueError(f"{quote(value)} is a settings key, not a secret")
        return value

    @model_validator(mode="after")
    def _check(self) -> NotificationProvider:
        if self.secret_field == "token" and self.address is None and self.type == "slack":
            raise ValueError(
                "a Slack bot token needs address: https://slack.com/api/chat.postMessage"
            )
        return self


class EventSource(_Model):
    """Objects whose events an Alert forwards."""

    kind: EventSourceKind = Field(description="Kind of the objects.")
    name: Line = Field("*", description="Name of the objects; * for all.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        # the Alert CRD: 1 to 253 characters
        if not 0 < len(value) <= 253:
            raise ValueError("must be 1 to 253 characters: an object name, or * for all")
        return value


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
        default_factory=lambda: [FLUX_NAMESPACE],
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
                    f"exclusionList entry {quote(pattern)} is not a regular expression: {err}"
                ) from None
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
                    f"alert {quote(name)} names provider {quote(alert.provider_ref)}, which is "
                    f"not configured (providers: {known})"
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
                raise ValueError(f"two sources are named {quote(source.name)}")
            seen.add(source.name)
        return sources


_MODEL_KEYS = frozenset(f.alias or n for n, f in Settings.model_fields.items())
FLEET_KEY = "fleet"
FLEET_ONLY = frozenset({"sources"})
STACK_ONLY = frozenset({"cluster"})
# Secret keys the program itself reads; providers add their own `secretConfigKey`s.
_SECRET_USES = {
    "kubeconfig": "the cluster's admin credentials",
    "gitSshPrivateKey": "the Git deploy key",
    "gitToken": "the Git token",
}
SECRET_KEYS = frozenset(_SECRET_USES)


@dataclass(frozen=True)
class StackConfig:
    """The validated configuration of one stack (one cluster). Holds no secret values."""

    stack: str
    settings: Settings
    # Secret config keys that are set for this stack (values are never held here).
    secrets_present: frozenset[str] = field(default_factory=frozenset)
    # Where the settings came from, so that a problem found later (a patch that applies to
    # nothing once the install manifest is known) names its file and key like any other.
    origin: _Origin | None = field(default=None, compare=False, repr=False)

    @property
    def cluster(self) -> str:
        return self.settings.cluster.name or self.stack

    def locate(self, loc: tuple[str | int, ...]) -> tuple[str, str]:
        """(file, full config key) of a settings path, e.g. ("flux", "patches", 1)."""
        if self.origin is None:
            return stack_file_name(self.stack), f"{PROJECT}:{_format_path(loc)}"
        return self.origin.locate(loc)

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
        return self.stack_file or stack_file_name(self.stack)


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
        msg += f" (got {type(err.get('input')).__name__}: {quote(err.get('input'))})"
    return msg


Locate = Callable[[tuple[str | int, ...]], tuple[str, str]]


@dataclass(frozen=True)
class _Origin:
    """The raw values a stack's settings were merged from, and the files that hold them."""

    overlay: Mapping[str, Any]  # the stack file's settings
    fleet: Mapping[str, Any]  # Pulumi.yaml's flux-gitops:fleet
    stack_file: str
    project_file: str

    def locate(self, loc: tuple[str | int, ...], missing: bool = False) -> tuple[str, str]:
        """(file, full key) of a settings path: the stack file when it sets the value (or, for a
        missing key, its parent), Pulumi.yaml when the fleet value does."""
        path = _format_path(loc)
        top = loc[0] if loc else ""
        if (top in self.overlay and _has_path(self.overlay, loc)) or (
            top in self.overlay and missing and _has_path(self.overlay, loc[:-1])
        ):
            return self.stack_file, f"{PROJECT}:{path}"
        if _has_path(self.fleet, loc) or (missing and _has_path(self.fleet, loc[:-1])):
            return (
                self.project_file,
                f"{PROJECT}:{FLEET_KEY}.{path}" if path else f"{PROJECT}:{FLEET_KEY}",
            )
        return self.stack_file, f"{PROJECT}:{path}"


def _secret_collisions(settings: Settings, locate: Locate) -> list[Problem]:
    """Each Secret the stack writes (the Git credentials, one per provider) is one Kubernetes
    object owned by one Pulumi resource, and never a Secret the config reads for another use.

    Two providers naming one Secret would be two Pulumi resources fighting over it; a provider
    writing `flux-system` would replace the Git credentials; one writing a source's, a
    substitution's or the image pull Secret would overwrite what Flux reads there.
    """
    problems: list[Problem] = []
    others: dict[str, str] = {SYNC_NAME: "the Git credentials Secret that Flux syncs with"}
    for i, source in enumerate(settings.sources):
        if source.secret_ref:
            others.setdefault(
                source.secret_ref, f"the Secret source {quote(source.name)} reads (sources[{i}])"
            )
    for field_name, ks in (
        ("coreApps", settings.kustomizations.core_apps),
        ("apps", settings.kustomizations.apps),
    ):
        for i, ref in enumerate(ks.substitute_from):
            if ref.kind == "Secret":
                others.setdefault(
                    ref.name,
                    f"the Secret kustomizations.{field_name}.substituteFrom[{i}] reads",
                )
    if settings.flux.image_pull_secret:
        others.setdefault(settings.flux.image_pull_secret, "flux.imagePullSecret")
    owner: dict[str, str] = {}
    for name, provider in sorted(settings.notifications.providers.items()):
        secret = provider.secret_name
        why = None
        if secret in owner:
            why = (
                f"is also the secretName of provider {quote(owner[secret])}: two providers "
                "would write one Kubernetes Secret; give each its own"
            )
        elif secret in others:
            why = f"is {others[secret]}: the provider's credential would overwrite it"
        owner.setdefault(secret, name)
        if why:
            file, key = locate(("notifications", "providers", name, "secretName"))
            problems.append(Problem(file, key, f"{quote(secret)} {why}"))
    return problems


def _cross_checks(
    settings: Settings, raw: RawConfig, stack_file: str, locate: Locate
) -> list[Problem]:
    """Rules between settings, and between settings and the secrets a stack must set.

    They live here, not in the Pulumi components, so that `fluxboot` and `pulumi preview`
    refuse the same input with the same line. Whether a secret is set is known only where the
    secrets are: the engine's config (`RawConfig.secrets_known`); the YAML files a `fluxboot`
    command reads hold no secrets for the committed stacks, so there the secret rules are left to
    `pulumi preview`, which reports them in the same form.
    """
    problems = _secret_collisions(settings, locate)
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
    fleet = _fleet_values(raw, problems)
    overlay = _stack_overlay(raw, problems)
    origin = _Origin(overlay, fleet, raw.stack_label, raw.project_file)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(deep_merge(fleet, overlay))
    except PydanticValidationError as exc:
        for err in exc.errors():
            file, full = origin.locate(tuple(err["loc"]), err["type"] == "missing")
            problems.append(Problem(file, full, _message(err)))
    allowed_secrets = SECRET_KEYS | (
        {p.secret_config_key for p in settings.notifications.providers.values()}
        if settings is not None
        else set()
    )
    problems.extend(_other_stack_keys(raw, allowed_secrets, settings is not None))
    if settings is not None:
        if settings.cluster.name is None:
            try:
                _dns_label(raw.stack)
            except ValueError as err:
                problems.append(
                    Problem(
                        raw.stack_label, _key("cluster.name"), f"not set, and the stack name {err}"
                    )
                )
        problems.extend(_cross_checks(settings, raw, raw.stack_label, origin.locate))
    if problems or settings is None:
        raise ConfigError(problems)
    present = frozenset(k for k in raw.secret if k in allowed_secrets)
    return StackConfig(stack=raw.stack, settings=settings, secrets_present=present, origin=origin)


def _key(path: str) -> str:
    return f"{PROJECT}:{path}"


def _fleet_values(raw: RawConfig, problems: list[Problem]) -> dict[str, Any]:
    """The fleet settings of Pulumi.yaml (minus per-cluster keys, which are refused)."""
    fleet = raw.project.get(FLEET_KEY, {})
    if not isinstance(fleet, Mapping):
        problems.append(Problem(raw.project_file, _key(FLEET_KEY), "must be a map of settings"))
        fleet = {}
    for name in raw.project:
        if name == FLEET_KEY or name in SECRET_KEYS:
            continue
        problems.append(
            Problem(
                raw.project_file,
                _key(name),
                f"unknown key; fleet settings go under {_key(FLEET_KEY)}",
            )
        )
    for name in fleet:
        if name in STACK_ONLY:
            problems.append(
                Problem(
                    raw.project_file,
                    _key(f"{FLEET_KEY}.{name}"),
                    "is per cluster: set it in the stack file",
                )
            )
    return {k: v for k, v in fleet.items() if k not in STACK_ONLY}


def _stack_overlay(raw: RawConfig, problems: list[Problem]) -> dict[str, Any]:
    """The settings of the stack file that override the fleet's (fleet-only keys refused)."""
    stack_file = raw.stack_label
    overlay: dict[str, Any] = {}
    for name, value in raw.stack_values.items():
        if name == FLEET_KEY:
            problems.append(Problem(stack_file, _key(name), f"belongs in {raw.project_file} only"))
        elif name in FLEET_ONLY:
            problems.append(
                Problem(
                    stack_file,
                    _key(name),
                    f"is fleet-wide (every cluster reads core-apps/sources/): set it under "
                    f"{_key(FLEET_KEY)}.{name} in {raw.project_file}",
                )
            )
        elif name in _MODEL_KEYS:
            if name in raw.secret:
                problems.append(
                    Problem(
                        stack_file,
                        _key(name),
                        "is a setting, not a secret: set it without --secret",
                    )
                )
            overlay[name] = value
        # anything else is a secret key or unknown; decided once providers are known
    return overlay


def _other_stack_keys(
    raw: RawConfig, allowed_secrets: set[str] | frozenset[str], settings_valid: bool
) -> list[Problem]:
    """Stack keys that are no setting: each must be a known secret, set as a secret."""
    problems: list[Problem] = []
    for name in raw.stack_values:
        if name in _MODEL_KEYS or name == FLEET_KEY or name in FLEET_ONLY:
            continue
        if name in allowed_secrets:
            if name not in raw.secret:
                problems.append(
                    Problem(
                        raw.stack_label,
                        _key(name),
                        f"is a secret: set it with `pulumi config set --secret {name}` "
                        "so it is encrypted in the stack file",
                    )
                )
        elif settings_valid or name not in raw.secret:
            known = ", ".join(sorted(_MODEL_KEYS - FLEET_ONLY | allowed_secrets))
            problems.append(Problem(raw.stack_label, _key(name), f"unknown key (known: {known})"))
    return problems
