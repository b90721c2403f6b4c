"""FluxSync: the flux-system Secret, then the GitRepository and Kustomization `flux-system`.

The Secret holds exactly the keys source-controller reads for a GitRepository `secretRef`
(fluxcd.io/flux/components/source/gitrepositories, "Secret reference"):

* ssh:// URLs: `identity` (private key), `identity.pub`, `known_hosts`;
* https:// and http:// URLs: `username`, `password` (basic auth; the password is a token).

Its values come from Pulumi secrets (`gitSshPrivateKey`, `gitToken`) or, for an ssh:// URL with
no key configured, from a DeployKey generated once and kept in the state. They never reach a
plain output: the public key is the only thing derived from them that is exported.

The GitRepository and Kustomization are the rendered gotk-sync objects, given as dicts; they are
created after the install (their CRDs) and after the Secret (source-controller would otherwise
report an authentication failure on its first fetch).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.common.flux import FLUX_NAMESPACE
from components.config.model import GitSettings
from components.deploy_key import DeployKey, public_key_of
from components.flux_install import FluxInstall
from components.kube_resources import forced_metadata, kube_resource, resource_name


@dataclass(frozen=True)
class FluxSyncArgs:
    """The rendered sync objects, the repository settings, and the credentials (Pulumi secrets)."""

    git: GitSettings
    # gotk-sync.yaml's GitRepository and Kustomization `flux-system`, as rendered.
    git_repository: Mapping[str, Any]
    kustomization: Mapping[str, Any]
    install: FluxInstall
    # `gitSshPrivateKey` (ssh:// URLs); when absent a deploy key is generated.
    ssh_private_key: pulumi.Input[str] | None = None
    # `gitToken` (https:// URLs): the password of `git.username`.
    token: pulumi.Input[str] | None = None
    # Raising this counter rotates a generated deploy key (as does changing `git.url`).
    deploy_key_rotation: int = 0


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _checked_secret_ref(args: FluxSyncArgs) -> str | None:
    """The rendered GitRepository's `secretRef` name, once the objects match the settings."""
    repo, ks = args.git_repository, args.kustomization
    if repo.get("kind") != "GitRepository" or ks.get("kind") != "Kustomization":
        raise ValueError("FluxSync needs the GitRepository and the Kustomization of gotk-sync")
    if repo.get("spec", {}).get("url") != args.git.url:
        raise ValueError(
            f"the rendered GitRepository clones {repo.get('spec', {}).get('url')!r}, "
            f"but git.url is {args.git.url!r}"
        )
    name = (repo.get("spec", {}).get("secretRef") or {}).get("name")
    return str(name) if name else None


def _ssh_data(
    private: pulumi.Output[str], public_key: pulumi.Output[str], known_hosts: str
) -> pulumi.Output[dict[str, str]]:
    """The keys source-controller reads for an ssh:// URL, as a secret."""
    return pulumi.Output.secret(
        pulumi.Output.all(private, public_key).apply(
            lambda kv: {
                "identity": _b64(kv[0]),
                "identity.pub": _b64(kv[1]),
                "known_hosts": _b64(known_hosts),
            }
        )
    )


class FluxSync(pulumi.ComponentResource):
    """Points Flux at the GitOps repository: credentials Secret, GitRepository, Kustomization."""

    secret_name: pulumi.Output[str]
    deploy_public_key: pulumi.Output[str]
    git_repository_name: pulumi.Output[str]
    kustomization_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: FluxSyncArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("flux-gitops:flux_sync:FluxSync", name, None, opts)
        repo, ks = args.git_repository, args.kustomization
        secret_ref = _checked_secret_ref(args)
        self.deploy_key: DeployKey | None = None
        data, public_key = self._credentials(name, args, secret_ref)

        install = args.install.resources
        after: list[pulumi.Resource] = list(install)
        self.secret: k8s.core.v1.Secret | None = None
        if data is not None and secret_ref:
            namespace = str(repo["metadata"].get("namespace", FLUX_NAMESPACE))
            self.secret = k8s.core.v1.Secret(
                f"{name}-secret-{namespace}-{secret_ref}",
                metadata=forced_metadata(
                    {
                        "name": secret_ref,
                        "namespace": namespace,
                        "labels": {"app.kubernetes.io/managed-by": "pulumi"},
                    }
                ),
                type="Opaque",
                data=data,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(install)),
            )
            after.append(self.secret)
        self.git_repository = kube_resource(
            resource_name(name, repo), repo, pulumi.ResourceOptions(parent=self, depends_on=after)
        )
        self.kustomization = kube_resource(
            resource_name(name, ks),
            ks,
            pulumi.ResourceOptions(parent=self, depends_on=[*after, self.git_repository]),
        )

        self.secret_name = pulumi.Output.from_input(secret_ref or "")
        self.deploy_public_key = public_key
        self.git_repository_name = pulumi.Output.from_input(str(repo["metadata"]["name"]))
        self.kustomization_name = pulumi.Output.from_input(str(ks["metadata"]["name"]))
        self.register_outputs(
            {
                "secretName": self.secret_name,
                "deployPublicKey": self.deploy_public_key,
                "gitRepositoryName": self.git_repository_name,
                "kustomizationName": self.kustomization_name,
            }
        )

    def _credentials(
        self, name: str, args: FluxSyncArgs, secret_ref: str | None
    ) -> tuple[pulumi.Output[dict[str, str]] | None, pulumi.Output[str]]:
        """The Secret's data (None: no Secret) and the public key to export ("" for https)."""
        # The config layer (components.config.model, `_cross_checks`) has refused a missing
        # knownHosts or gitToken with the key named; here they are invariants.
        git = args.git
        if git.url.startswith("ssh://"):
            if not git.known_hosts:
                raise ValueError("an ssh:// URL needs git.knownHosts (checked by the config layer)")
            if not secret_ref:
                raise ValueError("the rendered GitRepository has no secretRef for its ssh:// URL")
            if args.ssh_private_key is not None:
                private = pulumi.Output.secret(args.ssh_private_key)
                public_key = pulumi.Output.unsecret(private.apply(public_key_of))
            else:
                self.deploy_key = DeployKey(
                    f"{name}-deploy-key",
                    {"url": git.url, "rotation": str(args.deploy_key_rotation)},
                    pulumi.ResourceOptions(parent=self),
                )
                private = pulumi.Output.secret(self.deploy_key.private_key)
                public_key = pulumi.Output.unsecret(self.deploy_key.public_key)
            return _ssh_data(private, public_key, git.known_hosts), public_key
        if args.token is not None:
            username = git.username
            data = pulumi.Output.from_input(args.token).apply(
                lambda token: {"username": _b64(username), "password": _b64(token)}
            )
            return pulumi.Output.secret(data), pulumi.Output.from_input("")
        if secret_ref:
            raise ValueError(f"{git.url} needs the gitToken secret (checked by the config layer)")
        return None, pulumi.Output.from_input("")

    @property
    def resources(self) -> list[pulumi.Resource]:
        """The Kubernetes resources of the sync (what the uninstall must be deleted before)."""
        found: list[pulumi.Resource] = [self.git_repository, self.kustomization]
        if self.secret is not None:
            found.insert(0, self.secret)
        return found
