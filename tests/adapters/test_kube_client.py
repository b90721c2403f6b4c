"""One way to an ApiClient: from kubeconfig text, a map or a file; bad files refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from components.adapters.kube_client import KubeconfigError, api_client


def test_kubeconfig_text_is_loaded_in_memory(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("kubernetes")
    text = (
        "apiVersion: v1\nkind: Config\n"
        "clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n"
        "users:\n- name: u\n  user: {token: t0k}\n"
        "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
        "current-context: x\n"
    )
    monkeypatch.chdir(tmp_path)
    api = api_client(text)
    assert api.configuration.host == "https://127.0.0.1:1"
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    assert api_client(str(path)).configuration.host == "https://127.0.0.1:1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kubeconfig"]


def test_a_file_that_is_no_kubeconfig_is_refused_with_its_name(tmp_path: Any) -> None:
    pytest.importorskip("kubernetes")
    path = tmp_path / "kubeconfig"
    path.write_text("- a list\n")
    with pytest.raises(KubeconfigError, match=str(path)):
        api_client(path)
    with pytest.raises(KubeconfigError, match="missing: no such file"):
        api_client(tmp_path / "missing")
