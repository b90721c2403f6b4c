"""The uninstall provider's lifecycle (no cluster needed; the API side is in tests/integration)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime import rpc

from components import flux_uninstall
from components.adapters.uninstall import UninstallReport, is_flux_finalizer
from components.flux_uninstall import FluxUninstallProvider

PROPS = {
    "namespace": "flux-system",
    "kubeconfig": rpc.wrap_rpc_secret("kc"),
    "context": None,
    "timeout": 120.0,
}


def test_create_does_nothing_but_record_inputs() -> None:
    created = FluxUninstallProvider().create(dict(PROPS))
    assert created.outs == PROPS
    assert rpc.is_rpc_secret(
        (created.outs or {})["kubeconfig"]
    )  # goes back to the engine as a secret


def test_never_replaced_so_an_up_never_uninstalls() -> None:
    provider = FluxUninstallProvider()
    rotated = {**PROPS, "kubeconfig": rpc.wrap_rpc_secret("new-kc"), "namespace": "flux"}
    diff = provider.diff("id", dict(PROPS), rotated)
    assert diff.changes is True and diff.replaces == [] and diff.delete_before_replace is False
    assert provider.diff("id", dict(PROPS), dict(PROPS)).changes is False
    assert provider.update("id", dict(PROPS), rotated).outs == rotated


def test_delete_prepares_only_and_unwraps_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake(kubeconfig: Any, **kwargs: Any) -> UninstallReport:
        calls.append({"kubeconfig": kubeconfig, **kwargs})
        return UninstallReport()

    monkeypatch.setattr(flux_uninstall, "uninstall_flux", fake)
    FluxUninstallProvider().delete("id", dict(PROPS))
    assert calls == [
        {
            "kubeconfig": "kc",
            "keep_namespace": True,
            "namespace": "flux-system",
            "delete": False,
            "context": None,
            "timeout": 120.0,
        }
    ]


@pytest.mark.parametrize(
    ("name", "flux"),
    [
        ("finalizers.fluxcd.io", True),
        ("helm.toolkit.fluxcd.io/finalizer", True),
        ("kubernetes", False),
        ("foregroundDeletion", False),
    ],
)
def test_flux_finalizers(name: str, flux: bool) -> None:
    assert is_flux_finalizer(name) is flux
