"""ClusterStack: everything one stack (one cluster) manages, in this order:

    commit to Git -> namespace, CRDs, controllers -> sync Secret -> GitRepository and
    Kustomization `flux-system` -> notification Secrets

The repository is written first, so Flux finds `clusters/<c>/` when the sync starts. What is
applied to the cluster is the same rendered content that is committed (`StackRender`), so `up`
converges the cluster even if the Git sync is broken, and Flux, syncing the same bytes, never
fights it. On `pulumi destroy` the uninstall hook, which depends on every cluster resource, is
deleted first: it suspends Flux and strips its finalizers before anything else goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.common.flux import FLUX_NAMESPACE
from components.flux_install import FluxInstall, FluxInstallArgs
from components.flux_release.install_objects import selected_components
from components.flux_sync import FluxSync, FluxSyncArgs
from components.flux_uninstall import FluxUninstall, FluxUninstallArgs
from components.git_resource import GitOpsFiles, GitOpsFilesArgs
from components.notification_secrets import NotificationSecrets, NotificationSecretsArgs
from components.render.pipeline import StackRender, objects_of
from components.stack_secrets import StackSecrets


@dataclass(frozen=True)
class ClusterStackArgs:
    """The stack's validated, rendered files and objects, and its secrets."""

    rendered: StackRender
    secrets: StackSecrets


def split_sync(
    objects: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Install objects, and the `flux-system` GitRepository and Kustomization of gotk-sync.yaml."""

    def is_sync(obj: Mapping[str, Any], kind: str) -> bool:
        meta = obj.get("metadata", {})
        return (
            obj.get("kind") == kind
            and meta.get("name") == FLUX_NAMESPACE
            and meta.get("namespace") == FLUX_NAMESPACE
            and str(obj.get("apiVersion", "")).endswith(".toolkit.fluxcd.io/v1")
        )

    repos = [o for o in objects if is_sync(o, "GitRepository")]
    kustomizations = [o for o in objects if is_sync(o, "Kustomization")]
    if len(repos) != 1 or len(kustomizations) != 1:
        raise ValueError(
            "the flux-system objects must hold one GitRepository and one Kustomization"
        )
    install = [o for o in objects if o is not repos[0] and o is not kustomizations[0]]
    return install, repos[0], kustomizations[0]


class ClusterStack(pulumi.ComponentResource):
    """Flux on one cluster and this cluster's files in the GitOps repository."""

    flux_version: pulumi.Output[str]
    components: pulumi.Output[list[str]]
    commit: pulumi.Output[str]
    branch: pulumi.Output[str]
    files: pulumi.Output[list[str]]
    deploy_public_key: pulumi.Output[str]
    kustomizations: pulumi.Output[dict[str, str]]

    def __init__(
        self, name: str, args: ClusterStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("flux-gitops:cluster_stack:ClusterStack", name, None, opts)
        rendered, secrets = args.rendered, args.secrets
        config = rendered.config
        settings = config.settings
        child = pulumi.ResourceOptions(parent=self)

        # 1. the repository first: Flux must find clusters/<c>/ when its sync starts
        self.repo = GitOpsFiles(
            f"{name}-repo",
            GitOpsFilesArgs.from_settings(
                settings.git,
                config.stack,
                rendered.files,
                ssh_private_key=secrets.git_ssh_private_key,
                token=secrets.git_token,
            ),
            child,
        )
        # 2. namespace, CRDs, controllers: the same objects gotk-components.yaml holds
        install_objects, git_repository, kustomization = split_sync(rendered.cluster_objects())
        self.install = FluxInstall(
            f"{name}-flux",
            FluxInstallArgs(
                version=settings.flux.version,
                objects=install_objects,
                keep_namespace=settings.flux.keep_namespace,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.repo]),
        )
        # 3 + 4. the flux-system Secret, then the GitRepository and Kustomization
        self.sync = FluxSync(
            f"{name}-sync",
            FluxSyncArgs(
                git=settings.git,
                git_repository=git_repository,
                kustomization=kustomization,
                install=self.install,
                ssh_private_key=secrets.git_ssh_private_key,
                token=secrets.git_token,
                deploy_key_rotation=settings.git.deploy_key_rotation,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.install]),
        )
        # 5. the credentials the notification Providers (committed files) reference
        self.notifications = NotificationSecrets(
            f"{name}-notifications",
            NotificationSecretsArgs(
                providers=settings.notifications.providers, credentials=secrets.providers
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.sync]),
        )
        # destroy: deleted before everything above, it makes Flux let go of the workloads
        self.uninstall = FluxUninstall(
            f"{name}-uninstall",
            FluxUninstallArgs(
                after=[self.install, self.sync, self.notifications],
                namespace=FLUX_NAMESPACE,
                kubeconfig=secrets.kubeconfig,
                context=settings.cluster.kube_context,
            ),
            child,
        )

        self.flux_version = pulumi.Output.from_input(settings.flux.version)
        self.components = pulumi.Output.from_input(selected_components(settings.flux))
        self.commit = self.repo.commit_id
        self.branch = self.repo.pushed_branch
        self.files = self.repo.files
        self.deploy_public_key = self.sync.deploy_public_key
        self.kustomizations = pulumi.Output.from_input(
            {
                o["metadata"]["name"]: o["spec"]["path"]
                for o in [kustomization, *objects_of(rendered.files, ("managed",))]
                if o.get("kind") == "Kustomization" and "path" in o.get("spec", {})
            }
        )
        self.register_outputs(
            {
                "fluxVersion": self.flux_version,
                "components": self.components,
                "commit": self.commit,
                "branch": self.branch,
                "files": self.files,
                "deployPublicKey": self.deploy_public_key,
                "kustomizations": self.kustomizations,
            }
        )
