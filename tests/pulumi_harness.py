"""Pulumi mocks that record what the engine would be asked: resources, options, outputs.

`run(program)` runs `program` under `pulumi.runtime.set_mocks` and returns a `Recording`: every
RegisterResource request by resource name (type, parent, dependencies, provider, retainOnDelete,
additionalSecretOutputs, inputs with secrets still wrapped) and every component's registered
outputs. Dynamic resources run their provider's real `create()`, as the engine would on `up`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dill  # pulumi's own dependency: how dynamic providers are serialized
import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

PROVIDER_KEY = "__provider"


@dataclass
class Registered:
    """One RegisterResource request."""

    type: str
    name: str
    urn: str
    custom: bool
    parent: str
    dependencies: list[str]
    provider: str
    retain_on_delete: bool
    additional_secret_outputs: list[str]
    inputs: dict[str, Any]  # secrets still wrapped (rpc secret signature)


@dataclass
class Recording:
    resources: dict[str, Registered] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # urn -> registered outputs
    by_urn: dict[str, Registered] = field(default_factory=dict)

    def of_type(self, prefix: str) -> list[Registered]:
        return [r for r in self.resources.values() if r.type.startswith(prefix)]

    def name_of(self, urn: str) -> str:
        return self.by_urn[urn].name


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        if args.typ.startswith("pulumi-python:dynamic") and PROVIDER_KEY in inputs:
            provider = dill.loads(base64.b64decode(rpc.unwrap_rpc_secret(inputs[PROVIDER_KEY])))
            props = {k: v for k, v in inputs.items() if k != PROVIDER_KEY}
            result = provider.create(props)
            return result.id, dict(result.outs or {})
        return f"{args.name}-id", inputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _Monitor(MockMonitor):
    def __init__(self, recording: Recording) -> None:
        super().__init__(_Mocks())
        self.recording = recording

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        reg = Registered(
            type=request.type,
            name=request.name,
            urn=response.urn,
            custom=request.custom,
            parent=request.parent,
            dependencies=list(request.dependencies),
            provider=request.provider,
            retain_on_delete=bool(request.retainOnDelete),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            inputs=rpc.deserialize_properties(request.object),
        )
        self.recording.resources[request.name] = reg
        self.recording.by_urn[response.urn] = reg
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        self.recording.outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


def run(program: Callable[[], Any], stack: str = "k8s-01") -> Recording:
    """Run `program` to completion under mocks; return what it registered."""
    recording = Recording()
    # set_mocks keeps whatever root Stack an earlier test left (another project's, or another
    # stack's): start from none, so each run gets the root Stack of its own project and stack
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        _Mocks(), project="flux-gitops", stack=stack, preview=False, monitor=_Monitor(recording)
    )

    @pulumi.runtime.test
    def _program() -> Any:
        return program()

    _program()
    return recording


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in `value` that is NOT inside a Pulumi secret."""
    if rpc.is_rpc_secret(value):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from plain_strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from plain_strings(v)


def assert_never_plain(recording: Recording, secrets: list[str]) -> None:
    """No secret, nor its base64 form, appears outside a secret in any input or output."""
    needles = [s for s in secrets if s] + [
        base64.b64encode(s.encode()).decode() for s in secrets if s
    ]
    places: list[tuple[str, Any]] = [
        (f"inputs of {r.name}", r.inputs) for r in recording.resources.values()
    ]
    places += [
        (f"outputs of {recording.name_of(urn)}", out) for urn, out in recording.outputs.items()
    ]
    for where, value in places:
        for text in plain_strings(value):
            for needle in needles:
                assert needle not in text, f"a secret appears in plain text in the {where}"


def engine_config(
    project: Path, stack: str, secrets: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Config as the Pulumi engine hands it to a program: Pulumi.yaml's values, the stack file's
    keys on top (per top-level key), objects as JSON text, and `secrets` (key -> decrypted value,
    without namespace) as secret keys, as `pulumi config set --secret` would have stored them."""
    project_config = yaml.safe_load((project / "Pulumi.yaml").read_text())["config"]
    stack_config = (
        yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text()).get("config") or {}
    )
    values: dict[str, str] = {}
    for key, entry in project_config.items():
        full = key if ":" in key else f"flux-gitops:{key}"
        value = entry["value"] if isinstance(entry, dict) and "value" in entry else entry
        values[full] = value if isinstance(value, str) else json.dumps(value)
    for full, value in stack_config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            if full.split(":", 1)[-1] not in secrets:
                raise ValueError(
                    f"{full} is a secret in the stack file: give its value in `secrets`"
                )
            continue
        values[full] = value if isinstance(value, str) else json.dumps(value)
    for key, value in secrets.items():
        values[f"flux-gitops:{key}"] = value
    return values, [f"flux-gitops:{key}" for key in secrets]
