"""FluxInstall: the Flux install objects (gotk-components) as Pulumi resources, in order.

Order on `up`: the Namespace; then the CRDs (after the namespace); then everything else:
controllers, RBAC, services, network policies, quota (after the CRDs, so a controller never
starts against a missing API). `pulumi destroy` reverses it. What makes that destroy safe for the
workloads Flux deployed is FluxUninstall (components/flux_uninstall.py), deleted before all of it.

With `keep_namespace`, the Namespace is `retain_on_delete`: `pulumi destroy` forgets it and
leaves it (and whatever else lives in it) in the cluster, like `flux uninstall --keep-namespace`.
The setting takes effect once an `up` has recorded it in the state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from components.kube_resources import kube_resource, resource_name


@dataclass(frozen=True)
class FluxInstallArgs:
    """What to install: the objects of one Flux release (rendered, patched) and its version."""

    version: str
    # The install objects (gotk-components.yaml parsed), exactly as committed to Git.
    objects: Sequence[Mapping[str, Any]]
    keep_namespace: bool = False


class FluxInstall(pulumi.ComponentResource):
    """Namespace, CRDs and controllers of one Flux release, one Pulumi resource per object."""

    version: pulumi.Output[str]
    namespace: pulumi.Output[str]
    components: pulumi.Output[list[str]]
    crd_names: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: FluxInstallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("flux-gitops:flux_install:FluxInstall", name, None, opts)
        namespaces = [o for o in args.objects if o.get("kind") == "Namespace"]
        crds = [o for o in args.objects if o.get("kind") == "CustomResourceDefinition"]
        rest = [
            o
            for o in args.objects
            if o.get("kind") not in ("Namespace", "CustomResourceDefinition")
        ]
        if len(namespaces) != 1:
            raise ValueError(
                f"the Flux install objects hold {len(namespaces)} Namespaces; expected exactly one"
            )
        ns_obj = namespaces[0]
        ns_name = str(ns_obj["metadata"]["name"])

        self.namespace_resource = kube_resource(
            resource_name(name, ns_obj),
            ns_obj,
            pulumi.ResourceOptions(parent=self, retain_on_delete=args.keep_namespace),
        )
        self.crds = [
            kube_resource(
                resource_name(name, crd),
                crd,
                pulumi.ResourceOptions(parent=self, depends_on=[self.namespace_resource]),
            )
            for crd in crds
        ]
        after_crds: list[pulumi.Resource] = [self.namespace_resource, *self.crds]
        self.others = [
            kube_resource(
                resource_name(name, obj),
                obj,
                pulumi.ResourceOptions(parent=self, depends_on=after_crds),
            )
            for obj in rest
        ]

        self.version = pulumi.Output.from_input(args.version)
        self.namespace = pulumi.Output.from_input(ns_name)
        self.components = pulumi.Output.from_input(
            sorted(str(o["metadata"]["name"]) for o in rest if o.get("kind") == "Deployment")
        )
        self.crd_names = pulumi.Output.from_input(sorted(str(c["metadata"]["name"]) for c in crds))
        self.register_outputs(
            {
                "version": self.version,
                "namespace": self.namespace,
                "components": self.components,
                "crdNames": self.crd_names,
            }
        )

    @property
    def resources(self) -> list[pulumi.Resource]:
        """Every Kubernetes resource of the install: what must exist before Flux objects."""
        return [self.namespace_resource, *self.crds, *self.others]
