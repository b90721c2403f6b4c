"""The program's config: what the Pulumi engine passed, validated as the CLI validates the files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.config.model import PROJECT, RawConfig, StackConfig, build_stack_config
from components.config.stack_files import check_one_stack_per_cluster, read_project_file
from components.config.stack_names import stack_file_name


def load_engine_config(project_dir: Path, stack: str) -> StackConfig:
    """The program's way in: the engine's config of `stack`, validated as the CLI validates it
    (the other stack files beside the program are read for the one-stack-per-cluster rule)."""
    config = build_stack_config(read_pulumi_config(project_dir, stack))
    check_one_stack_per_cluster(project_dir, config)
    return config


def read_pulumi_config(project_dir: Path, stack: str) -> RawConfig:
    """The program's way in: every `flux-gitops:*` key the engine passed to this program.

    The engine merges project-level defaults (Pulumi.yaml) and stack config per top-level key
    before the program starts; the project's own values are therefore read from Pulumi.yaml
    beside the program, and a key whose value differs from them is attributed to the stack file.
    Object values arrive as JSON text, as `pulumi.Config.get_object` expects them.
    """
    from pulumi.runtime import config as runtime_config

    project_values, _ = read_project_file(project_dir)
    values: dict[str, Any] = {}
    secret: set[str] = set()
    all_config: dict[str, Any] = dict(runtime_config.get_config_env())
    all_config.update(runtime_config.CONFIG.get())
    prefix = f"{PROJECT}:"
    for full, text in sorted(all_config.items()):
        if not full.startswith(prefix):
            continue
        name = full[len(prefix) :]
        if runtime_config.is_config_secret(full):
            secret.add(name)
            values[name] = "[secret]"
            continue
        values[name] = _decode(text)
    stack_values = {
        k: v for k, v in values.items() if not (k in project_values and v == project_values[k])
    }
    return RawConfig(
        stack=stack,
        project=project_values,
        stack_values=stack_values,
        secret=frozenset(secret),
        stack_file=stack_file_name(stack),
        secrets_known=True,
    )


def _decode(text: Any) -> Any:
    """Config values are strings; objects, lists, numbers and booleans are JSON inside them."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
