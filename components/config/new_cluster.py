"""`fluxboot new-cluster`: a new cluster is a new stack file.

`Pulumi.<name>.yaml` gets the per-cluster settings of an existing stack (`--from`), without its
secrets (ciphertexts are per stack and cannot be copied) and with `cluster.kubeContext` set to
the new name, or a minimal file. The secrets the new stack needs are listed, as the
`pulumi config set --secret` commands that set them, on the terminal and as comments in the file.
The new file is validated like any stack before it is written; nothing is written on any error.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from components.common import yamlio
from components.common.errors import FluxGitopsError
from components.config.model import PROJECT, PROJECT_FILE, DnsLabel, StackConfig
from components.config.stack_files import (
    check_one_stack_per_cluster,
    load_stack_config,
    read_project_file,
    read_yaml,
)
from components.config.stack_names import is_secure_value, stack_file_name

_CLUSTER_KEY = f"{PROJECT}:cluster"
# secrets whose value is a file's content: set them from the file
_FROM_FILE = {"kubeconfig": "~/.kube/<cluster>.yaml", "gitSshPrivateKey": "<private key file>"}


class NewClusterError(FluxGitopsError):
    """The name is not usable, or the source stack cannot be read."""


@dataclass(frozen=True)
class NewCluster:
    """The stack file to write and what to tell the user."""

    name: str
    path: Path
    text: str
    secret_commands: list[str]
    config: StackConfig


def check_name(project_dir: Path, name: str) -> None:
    try:
        TypeAdapter(DnsLabel).validate_python(name)
    except PydanticValidationError as err:
        message = str(err.errors()[0]["msg"]).removeprefix("Value error, ")
        raise NewClusterError(f"cluster name {message}") from None
    if (project_dir / stack_file_name(name)).exists():
        raise NewClusterError(f"{stack_file_name(name)} exists: stack {name} is already there")


def _source_config(project_dir: Path, stack: str) -> dict[str, Any]:
    path = project_dir / stack_file_name(stack)
    if not path.is_file():
        raise NewClusterError(f"--from {stack}: {path.name} does not exist")
    # read as every stack file is read: size, encoding and YAML errors name the file
    doc = read_yaml(path, path.name) or {}
    config = doc.get("config") if isinstance(doc, Mapping) else None
    if not isinstance(config, Mapping):
        raise NewClusterError(f"{path.name}: has no `config:` map")
    return dict(config)


def stack_values(
    project_dir: Path, name: str, source: str | None
) -> tuple[dict[str, Any], set[str]]:
    """The new stack's `config:` and the secret keys the source stack had set."""
    copied: dict[str, Any] = {}
    had_secrets: set[str] = set()
    if source is None:
        copied["pulumi:disable-default-providers"] = ["kubernetes"]
    else:
        for key, value in _source_config(project_dir, source).items():
            if is_secure_value(value):
                had_secrets.add(str(key).split(":", 1)[-1])
                continue
            copied[key] = value
    cluster = dict(copied.get(_CLUSTER_KEY) or {})
    cluster.pop("name", None)  # the name is the stack's
    cluster["kubeContext"] = name
    copied[_CLUSTER_KEY] = cluster
    return copied, had_secrets


def _validate(project_dir: Path, name: str, text: str) -> StackConfig:
    """Load the would-be stack file as `pulumi up` and `fluxboot render` would."""
    read_project_file(project_dir)  # a missing or broken Pulumi.yaml is named as such
    with tempfile.TemporaryDirectory(prefix="fluxboot-new-") as tmp:
        shutil.copy(project_dir / PROJECT_FILE, Path(tmp) / PROJECT_FILE)
        (Path(tmp) / stack_file_name(name)).write_text(text, encoding="utf-8")
        return load_stack_config(Path(tmp), name)


def needed_secrets(config: StackConfig, had: set[str]) -> list[str]:
    """Secrets `pulumi up` needs for this config, plus any the source stack had set."""
    needed = {p.secret_config_key for p in config.settings.notifications.providers.values()}
    url = config.settings.git.url
    if url.startswith(("https://", "http://")):
        needed.add("gitToken")
    needed |= had & config.secret_keys_used()
    return sorted(needed)


def secret_command(name: str, key: str) -> str:
    command = f"pulumi config set --secret -s {name} {PROJECT}:{key}"
    if key in _FROM_FILE:
        return f"{command} < {_FROM_FILE[key].replace('<cluster>', name)}"
    return command


def plan(project_dir: Path, name: str, source: str | None) -> NewCluster:
    check_name(project_dir, name)
    values, had = stack_values(project_dir, name, source)
    body = yamlio.dump({"config": values})
    config = _validate(project_dir, name, body)
    check_one_stack_per_cluster(project_dir, config)
    commands = [secret_command(name, key) for key in needed_secrets(config, had)]
    origin = f"from stack {source}" if source else "minimal"
    header = [
        f"# Cluster {name} ({origin}, written by `fluxboot new-cluster`).",
        f"# Fleet defaults live in {PROJECT_FILE} (flux-gitops:fleet); this file holds what differs here.",
    ]
    if commands:
        header.append("# Secrets this stack needs (values are never copied between stacks):")
        header += [f"#   {c}" for c in commands]
    text = "\n".join(header) + "\n" + body
    return NewCluster(name, project_dir / stack_file_name(name), text, commands, config)


def write(new: NewCluster) -> None:
    # exclusive create: a file that appeared since the check is not overwritten
    with new.path.open("x", encoding="utf-8") as f:
        f.write(new.text)
