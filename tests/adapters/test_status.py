"""`fluxboot status`: the pure parts (the API-server test is tests/integration/test_status.py)."""

from __future__ import annotations

from components.adapters.status import Row, row_of, table

# ------------------------------------------------------------------------------- pure parts


def test_rows_read_revision_ready_and_suspend_like_flux_get() -> None:
    hr = {
        "kind": "HelmRelease",
        "metadata": {"name": "x", "namespace": "apps"},
        "spec": {"suspend": True},
        "status": {
            "history": [{"chartVersion": "6.1.0"}],
            "lastAttemptedRevision": "6.2.0",
            "conditions": [{"type": "Ready", "status": "False", "message": "install\n failed"}],
        },
    }
    assert row_of(hr) == Row("HelmRelease", "apps", "x", "False", True, "6.1.0", "install failed")
    fresh = {"kind": "Kustomization", "metadata": {"name": "k", "namespace": "flux-system"}}
    assert row_of(fresh).ready == "Unknown" and not row_of(fresh).is_ready
    oci = {"kind": "HelmRepository", "metadata": {"name": "o"}, "spec": {"type": "oci"}}
    assert row_of(oci).is_ready


def test_status_pure_table_alignment() -> None:
    out = table([Row("Kustomization", "flux-system", "apps", "True", False, "r", "ok")])
    header, row = out.splitlines()
    assert header.index(" NAME ") + 1 == row.index("apps") and row.endswith("  ok")
