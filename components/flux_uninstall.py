"""`FluxUninstall`: the dynamic resource that uninstalls Flux safely when `pulumi destroy` deletes it.

Its provider's `delete()` runs steps 1-3 of `components.adapters.uninstall` (suspend, stop the
controllers, release the finalizers); Pulumi's own deletion of the FluxInstall resources is step 4.

`FluxUninstall` is a Pulumi dynamic resource whose `delete()` runs steps 1-3. It must be deleted
before every other Flux resource of the stack, so it is created *after* all of them: it depends
on FluxInstall (namespace, CRDs, controllers) and on FluxSync (Secret, GitRepository,
Kustomization `flux-system`). Pulumi deletes dependents before their dependencies, so on
`pulumi destroy` it goes first. The other way round (FluxSync depending on it) would delete the
`flux-system` Kustomization while kustomize-controller still runs and before anything is
suspended, and kustomize-controller would prune everything that Kustomization applied: Flux
itself, its CRDs, and with them every Kustomization and HelmRelease of the cluster.

Pulumi pickles `FluxUninstallProvider` into the state by module path and class name: this module
stays `components.flux_uninstall` (tests/test_upgrade_compat.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi.dynamic
from pulumi.runtime import rpc

from components.adapters.uninstall import DEFAULT_TIMEOUT, uninstall_flux
from components.common.flux import FLUX_NAMESPACE

_INPUT_KEYS = ("namespace", "kubeconfig", "context", "timeout")


class FluxUninstallProvider(pulumi.dynamic.ResourceProvider):
    """Dynamic provider: nothing on create; steps 1-3 of the uninstall on delete.

    It never asks for a replacement: a replacement would run `delete()`, suspending Flux and
    stopping its controllers in the middle of an `up` (for instance after a kubeconfig rotation).
    """

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        # The outputs are the inputs as received: a secret kubeconfig comes back wrapped as a
        # secret and is stored encrypted (additional_secret_outputs says so as well).
        outs = {k: props.get(k) for k in _INPUT_KEYS}
        return pulumi.dynamic.CreateResult(
            id_=f"flux-uninstall-{props.get('namespace')}", outs=outs
        )

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        changed = any(
            rpc.unwrap_rpc_secret(olds.get(k)) != rpc.unwrap_rpc_secret(news.get(k))
            for k in _INPUT_KEYS
        )
        return pulumi.dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(
        self, _id: str, _olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs={k: news.get(k) for k in _INPUT_KEYS})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        kubeconfig = rpc.unwrap_rpc_secret(props.get("kubeconfig")) or None
        context = rpc.unwrap_rpc_secret(props.get("context")) or None
        namespace = str(rpc.unwrap_rpc_secret(props.get("namespace")) or FLUX_NAMESPACE)
        timeout = float(rpc.unwrap_rpc_secret(props.get("timeout")) or DEFAULT_TIMEOUT)
        # Objects held by someone else's finalizer are printed by uninstall_flux, not fatal:
        # they belong to that tool, and Pulumi's CRD deletion waits for it to release them.
        uninstall_flux(
            kubeconfig,
            keep_namespace=True,
            namespace=namespace,
            delete=False,
            context=context,
            timeout=timeout,
        )


@dataclass(frozen=True)
class FluxUninstallArgs:
    """How `pulumi destroy` reaches the cluster, and which resources it must be deleted before."""

    # Resources (components included) that must outlive the uninstall on destroy: FluxInstall,
    # FluxSync, notifications. The uninstall depends on them, so it is deleted first.
    after: Sequence[pulumi.Resource]
    namespace: str = FLUX_NAMESPACE
    # kubeconfig text (the `kubeconfig` secret); None reads the default kubeconfig with `context`.
    kubeconfig: pulumi.Input[str] | None = None
    context: str | None = None
    timeout: float = DEFAULT_TIMEOUT


class FluxUninstall(pulumi.dynamic.Resource, module="flux-gitops", name="FluxUninstall"):
    """Runs the safe part of `flux uninstall` when `pulumi destroy` deletes it, before all else."""

    namespace: pulumi.Output[str]
    kubeconfig: pulumi.Output[str | None]
    context: pulumi.Output[str | None]
    timeout: pulumi.Output[float]
    _uninstall_provider: ClassVar[FluxUninstallProvider] = FluxUninstallProvider()

    def __init__(
        self, name: str, args: FluxUninstallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        kubeconfig = pulumi.Output.secret(args.kubeconfig) if args.kubeconfig is not None else None
        super().__init__(
            self._uninstall_provider,
            name,
            {
                "namespace": args.namespace,
                "kubeconfig": kubeconfig,
                "context": args.context,
                "timeout": args.timeout,
            },
            pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    depends_on=list(args.after), additional_secret_outputs=["kubeconfig"]
                ),
            ),
        )
