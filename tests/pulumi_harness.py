"""Pulumi mocks that record the whole resource graph, for component and program tests.

`pulumi.runtime.set_mocks` gives each resource's inputs to `Mocks.new_resource`, but not its
parent, dependencies or options; this monitor keeps the full registration request, and the raw
(serialized) inputs and outputs, in which a Pulumi secret is still wrapped, so a test can prove
that a secret value never appears unwrapped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.rpc import (
    _special_secret_sig,
    _special_sig_key,
    deserialize_properties_unwrap_secrets,
)


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    dependencies: list[str]
    provider: str
    custom: bool
    inputs: dict[str, Any]  # deserialized, secrets unwrapped
    raw_inputs: dict[str, Any]  # serialized, secrets still wrapped
    additional_secret_outputs: list[str]
    retain_on_delete: bool
    delete_before_replace: bool
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-id", args.inputs
        return f"{args.name}-id", dict(args.inputs)

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that keeps every registration and every registered output."""

    def __init__(self) -> None:
        super().__init__(_Mocks())
        self.registrations: list[Registration] = []
        self.raw_outputs: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent,
                dependencies=list(request.dependencies),
                provider=request.provider,
                custom=request.custom,
                inputs=deserialize_properties_unwrap_secrets(request.object)[0]
                if request.object
                else {},
                raw_inputs=json_format.MessageToDict(request.object),
                additional_secret_outputs=list(request.additionalSecretOutputs),
                retain_on_delete=request.retainOnDelete,
                delete_before_replace=request.deleteBeforeReplace,
                property_dependencies={
                    k: list(v.urns) for k, v in request.propertyDependencies.items()
                },
            )
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        self.raw_outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)

    # ------------------------------------------------------------------------------- queries

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)

    def named(self, name: str) -> Registration:
        return next(r for r in self.registrations if r.name == name)


def plain_strings(raw: Any) -> Iterator[str]:
    """Every string in a serialized value that is NOT inside a Pulumi secret wrapper."""
    if isinstance(raw, dict):
        if raw.get(_special_sig_key) == _special_secret_sig:
            return
        for value in raw.values():
            yield from plain_strings(value)
    elif isinstance(raw, list):
        for value in raw:
            yield from plain_strings(value)
    elif isinstance(raw, str):
        yield raw


def leaks(monitor: RecordingMonitor, secret: str) -> list[str]:
    """Where `secret` appears unwrapped, in any resource's inputs or any registered outputs."""
    found = [
        f"inputs of {r.type} {r.name}"
        for r in monitor.registrations
        if any(secret in s for s in plain_strings(r.raw_inputs))
    ]
    found += [
        f"outputs of {urn}"
        for urn, raw in monitor.raw_outputs.items()
        if any(secret in s for s in plain_strings(raw))
    ]
    return found


def install(
    project: str = "flux-gitops", stack: str = "k8s-01", preview: bool = False
) -> RecordingMonitor:
    monitor = RecordingMonitor()
    pulumi.runtime.set_mocks(
        monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor
    )
    return monitor
