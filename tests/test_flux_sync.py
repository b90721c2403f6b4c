"""FluxSync (and the FluxUninstall wiring) under Pulumi mocks."""

from __future__ import annotations

import base64
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from cryptography.hazmat.primitives import serialization
from pulumi.runtime import rpc

from components.config.model import FluxSettings, GitSettings
from components.deploy_key import generate_ed25519
from components.flux_install import FluxInstall, FluxInstallArgs
from components.flux_release.bootstrap import sync_objects
from components.flux_sync import FluxSync, FluxSyncArgs
from components.flux_uninstall import FluxUninstall, FluxUninstallArgs
from tests.flux_testdata import install_objects
from tests.pulumi_harness import Recording, assert_never_plain, run

SSH_URL = "ssh://git@github.com/acme/fleet.git"
HTTPS_URL = "https://gitlab.example.com/acme/fleet.git"
KNOWN_HOSTS = (
    "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
)
TOKEN = "glpat-s3cr3t-t0ken-value"
KUBECONFIG = "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user: {token: kube-s3cr3t}\n"


def _sync_objects(git: GitSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """gotk-sync.yaml's GitRepository and Kustomization, from the renderer."""
    repo, ks = sync_objects("k8s-01", FluxSettings(), git)
    return repo, ks


def _stack(git: GitSettings, seen: dict[str, Any], **sync_kwargs: Any) -> Recording:
    objects = install_objects("v2.9.4")
    repo, ks = _sync_objects(git)

    def program() -> Any:
        provider = k8s.Provider("k8s", kubeconfig=pulumi.Output.secret(KUBECONFIG))
        opts = pulumi.ResourceOptions(providers=[provider])
        install = FluxInstall("flux", FluxInstallArgs(version="v2.9.4", objects=objects), opts)
        sync = FluxSync(
            "flux-sync",
            FluxSyncArgs(
                git=git, git_repository=repo, kustomization=ks, install=install, **sync_kwargs
            ),
            opts,
        )
        FluxUninstall(
            "flux-uninstall",
            FluxUninstallArgs(after=[install, sync], kubeconfig=pulumi.Output.secret(KUBECONFIG)),
        )
        return pulumi.Output.all(sync.deploy_public_key, sync.secret_name).apply(
            lambda v: seen.update(public_key=v[0], secret_name=v[1])
        )

    return run(program)


def _secret_data(rec: Recording) -> dict[str, str]:
    data = rec.resources["flux-sync-secret-flux-system-flux-system"].inputs["data"]
    assert rpc.is_rpc_secret(data), "the Secret's data must reach the engine as a Pulumi secret"
    return {k: base64.b64decode(v).decode() for k, v in rpc.unwrap_rpc_secret(data).items()}


def test_ssh_with_configured_key() -> None:
    private, public = generate_ed25519()
    seen: dict[str, Any] = {}
    rec = _stack(
        GitSettings(url=SSH_URL, knownHosts=KNOWN_HOSTS),
        seen,
        ssh_private_key=pulumi.Output.secret(private),
    )
    assert _secret_data(rec) == {
        "identity": private,
        "identity.pub": public,
        "known_hosts": KNOWN_HOSTS,
    }
    assert seen == {"public_key": public, "secret_name": "flux-system"}
    assert not rec.of_type("pulumi-python:dynamic/flux-gitops:DeployKey")
    assert_never_plain(rec, [private, KUBECONFIG])


def test_ssh_without_key_generates_a_deploy_key_once() -> None:
    seen: dict[str, Any] = {}
    rec = _stack(GitSettings(url=SSH_URL, knownHosts=KNOWN_HOSTS), seen)
    (key,) = rec.of_type("pulumi-python:dynamic/flux-gitops:DeployKey")
    assert key.additional_secret_outputs == ["private_key"]
    assert rpc.unwrap_rpc_secret(key.inputs["keepers"]) == {"url": SSH_URL, "rotation": "0"}
    data = _secret_data(rec)
    # the Secret holds the generated pair: the public half matches the private one
    loaded = serialization.load_ssh_private_key(data["identity"].encode(), password=None)
    derived = loaded.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert derived.decode() == data["identity.pub"] == seen["public_key"]
    assert seen["public_key"].startswith("ssh-ed25519 ")
    # the public key is a plain output; the private one appears nowhere in plain text
    registered = rec.outputs[rec.resources["flux-sync"].urn]
    assert registered["deployPublicKey"] == seen["public_key"]
    assert_never_plain(rec, [data["identity"], KUBECONFIG])


def test_https_token() -> None:
    seen: dict[str, Any] = {}
    rec = _stack(
        GitSettings(url=HTTPS_URL, username="flux"), seen, token=pulumi.Output.secret(TOKEN)
    )
    assert _secret_data(rec) == {"username": "flux", "password": TOKEN}
    assert seen["public_key"] == ""
    assert_never_plain(rec, [TOKEN, KUBECONFIG])


def test_secret_stays_secret_even_if_given_as_plain_string() -> None:
    rec = _stack(GitSettings(url=HTTPS_URL), {}, token=TOKEN)
    assert_never_plain(rec, [TOKEN])


def test_order_install_then_secret_then_sync() -> None:
    private, _ = generate_ed25519()
    rec = _stack(
        GitSettings(url=SSH_URL, knownHosts=KNOWN_HOSTS),
        {},
        ssh_private_key=pulumi.Output.secret(private),
    )
    install = {r.urn for r in rec.of_type("kubernetes:") if r.parent == rec.resources["flux"].urn}
    assert len(install) == 32
    secret = rec.resources["flux-sync-secret-flux-system-flux-system"]
    repo = rec.resources["flux-sync-gitrepository-flux-system-flux-system"]
    ks = rec.resources["flux-sync-kustomization-flux-system-flux-system"]
    assert repo.type == "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository"
    assert ks.type == "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
    assert install <= set(secret.dependencies)
    assert install | {secret.urn} <= set(repo.dependencies)
    assert install | {secret.urn, repo.urn} <= set(ks.dependencies)
    provider = rec.resources["k8s"]
    for r in (secret, repo, ks):
        assert r.provider == f"{provider.urn}::k8s-id"
        assert r.parent == rec.resources["flux-sync"].urn


def test_uninstall_is_created_after_everything_so_destroy_deletes_it_first() -> None:
    private, _ = generate_ed25519()
    rec = _stack(
        GitSettings(url=SSH_URL, knownHosts=KNOWN_HOSTS),
        {},
        ssh_private_key=pulumi.Output.secret(private),
    )
    guard = rec.resources["flux-uninstall"]
    assert guard.type == "pulumi-python:dynamic/flux-gitops:FluxUninstall"
    flux_k8s = {r.urn for r in rec.of_type("kubernetes:")}
    assert len(flux_k8s) == 35  # 32 install objects, Secret, GitRepository, Kustomization
    # Pulumi deletes dependents before their dependencies: the guard depends on every Flux
    # resource, so `pulumi destroy` runs its delete() before any of them is deleted.
    assert flux_k8s <= set(guard.dependencies)
    assert guard.additional_secret_outputs == ["kubeconfig"]
    assert rpc.is_rpc_secret(guard.inputs["kubeconfig"])
    assert_never_plain(rec, [KUBECONFIG, "kube-s3cr3t"])


def test_rendered_url_must_match_git_url() -> None:
    objects = install_objects("v2.9.4")
    repo, ks = _sync_objects(GitSettings(url="ssh://git@elsewhere/x.git"))

    def program() -> None:
        install = FluxInstall("flux", FluxInstallArgs(version="v2.9.4", objects=objects))
        FluxSync(
            "s",
            FluxSyncArgs(
                git=GitSettings(url=HTTPS_URL),
                git_repository=repo,
                kustomization=ks,
                install=install,
                token="t",
            ),
        )

    with pytest.raises(ValueError, match="clones"):
        run(program)
