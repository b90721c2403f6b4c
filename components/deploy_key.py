"""DeployKey: an ed25519 SSH key generated once, kept in the Pulumi state as a secret.

For an ssh:// repository with no `gitSshPrivateKey` configured, the program makes its own key:
the private half goes into the flux-system Secret, the public half is a plain stack output to
register as a (read-only) deploy key on the Git host.

It is a dynamic resource, not `pulumi_tls.PrivateKey`, so that the stack needs no extra provider
plugin. The key is generated in `create()` only; every later `up` reads it from the state. Any
change of `keepers` (the repository URL, the `rotation` counter) replaces the resource, which
generates a new key: that is how a key is rotated. Replacement creates the new key before the old
one is forgotten, so the Secret moves to the new key in the same `up`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.runtime import rpc

# cryptography is imported where a key is made or read, not when the dynamic provider's process
# unpickles DeployKeyProvider on every preview and up.


def generate_ed25519() -> tuple[str, str]:
    """A new key pair: (private key, OpenSSH format; public key, as an authorized_keys line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode()


def public_key_of(private_key: str) -> str:
    """The OpenSSH public key line of a private key (OpenSSH or PEM format, unencrypted)."""
    from cryptography.hazmat.primitives import serialization

    data = private_key.encode()
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key: Any = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as err:
        raise ValueError(
            "gitSshPrivateKey is not an unencrypted OpenSSH or PEM private key"
        ) from err
    public: bytes = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode()


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in rpc.unwrap_rpc_secret(value).items()}
    return rpc.unwrap_rpc_secret(value)


class DeployKeyProvider(pulumi.dynamic.ResourceProvider):
    """Generates on create, replaces on a keeper change, keeps the key otherwise."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        private, public = generate_ed25519()
        return pulumi.dynamic.CreateResult(
            id_=public.split()[1][-16:],
            outs={"keepers": props.get("keepers"), "private_key": private, "public_key": public},
        )

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        changed = _plain(olds.get("keepers")) != _plain(news.get("keepers"))
        return pulumi.dynamic.DiffResult(
            changes=changed,
            replaces=["keepers"] if changed else [],
            delete_before_replace=False,
        )

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        # The key exists only in the state: a refresh has nothing else to look at.
        return pulumi.dynamic.ReadResult(id_=id_, outs=props)


class DeployKey(pulumi.dynamic.Resource, module="flux-gitops", name="DeployKey"):
    """An ed25519 deploy key; `private_key` is a secret, `public_key` is not."""

    keepers: pulumi.Output[dict[str, str]]
    private_key: pulumi.Output[str]
    public_key: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        keepers: Mapping[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            DeployKeyProvider(),
            name,
            {"keepers": dict(keepers), "private_key": None, "public_key": None},
            pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(additional_secret_outputs=["private_key"])
            ),
        )
