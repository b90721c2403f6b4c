"""The deploy key provider: generated once, replaced (rotated) only when a keeper changes."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pulumi.runtime import rpc

from components.deploy_key import DeployKeyProvider, generate_ed25519, public_key_of


def test_generated_pair_is_openssh_ed25519() -> None:
    private, public = generate_ed25519()
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.startswith("ssh-ed25519 ")
    assert public_key_of(private) == public
    assert generate_ed25519()[0] != private


def test_public_key_of_pem_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert public_key_of(pem.decode()).startswith("ecdsa-sha2-nistp256 ")
    with pytest.raises(ValueError, match="gitSshPrivateKey"):
        public_key_of("not a key")


def test_keepers_decide_replacement() -> None:
    provider = DeployKeyProvider()
    created = provider.create({"keepers": {"url": "ssh://a", "rotation": "0"}})
    outs = created.outs or {}
    assert public_key_of(outs["private_key"]) == outs["public_key"]
    same = provider.diff(
        created.id, outs, {"keepers": rpc.wrap_rpc_secret({"url": "ssh://a", "rotation": "0"})}
    )
    assert same.changes is False and same.replaces == []
    for keepers in ({"url": "ssh://b", "rotation": "0"}, {"url": "ssh://a", "rotation": "1"}):
        changed = provider.diff(created.id, outs, {"keepers": keepers})
        assert changed.changes is True and changed.replaces == ["keepers"]
        assert changed.delete_before_replace is False
