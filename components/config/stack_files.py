"""The stack files: `Pulumi.yaml` and `Pulumi.<stack>.yaml`, read as the Pulumi CLI reads them.

They give a `RawConfig` for `model.build_stack_config`, as `components.engine_config` does from
the engine, so the CLI and `pulumi up` validate the same values with the same messages.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from components.common import yamlio
from components.common.errors import ConfigError, Problem, quote
from components.common.textfiles import UnreadableFileError, read_text
from components.config.model import (
    PROJECT,
    PROJECT_FILE,
    RawConfig,
    StackConfig,
    build_stack_config,
)
from components.config.stack_names import (
    STACK_FILE_GLOB,
    is_secure_value,
    stack_file_name,
    stack_of_file,
)

# Pulumi.yaml and a stack file hold a few KB; anything near this is not a config file (and a
# 40 MB one would take half a minute to parse before it was refused).
MAX_CONFIG_BYTES = 1024 * 1024

# Keys a Pulumi.yaml `config:` entry may have when it is written in the schema form
# (`{value: ...}`, `{default: ..., description: ...}`), as opposed to a bare value.
_SCHEMA_KEYS = frozenset({"type", "description", "default", "value", "secret", "items"})


def list_stacks(project_dir: Path) -> list[str]:
    """Stacks that have a settings file in the project directory, sorted."""
    return sorted(stack_of_file(p.name) for p in project_dir.glob(STACK_FILE_GLOB))


def read_yaml(path: Path, label: str) -> Any:
    """One YAML config file, parsed; every failure is a `ConfigError` naming `label`."""
    try:
        text = read_text(path, label, MAX_CONFIG_BYTES)
    except UnreadableFileError as err:
        raise ConfigError([Problem(label, "", err.reason)]) from None
    try:
        return yamlio.load(text)
    except yamlio.YAMLBombError as err:
        raise ConfigError([Problem(label, "", f"refused: {err}")]) from None
    except yaml.YAMLError as err:
        raise ConfigError(
            [Problem(label, "", f"YAML syntax error at {yamlio.one_line(err)}")]
        ) from None


def _split_key(full: str, label: str, problems: list[Problem]) -> str | None:
    """`flux-gitops:git` -> `git`; keys of other namespaces (kubernetes:, pulumi:) -> None."""
    if not isinstance(full, str):
        problems.append(Problem(label, quote(full), "config keys must be strings"))
        return None
    if ":" not in full:
        return full
    namespace, name = full.split(":", 1)
    return name if namespace == PROJECT else None


def read_project_file(project_dir: Path) -> tuple[dict[str, Any], frozenset[str]]:
    """The `flux-gitops:*` values of Pulumi.yaml (the fleet defaults), and which are secrets."""
    if not project_dir.is_dir():
        raise ConfigError(
            [Problem(str(project_dir), "", "no such directory (the project: it holds Pulumi.yaml)")]
        )
    problems: list[Problem] = []
    doc = read_yaml(project_dir / PROJECT_FILE, PROJECT_FILE)
    values: dict[str, Any] = {}
    secret: set[str] = set()
    config = doc.get("config", {}) if isinstance(doc, Mapping) else None
    if not isinstance(config, Mapping):
        raise ConfigError([Problem(PROJECT_FILE, "config", "must be a map")])
    for full, entry in config.items():
        name = _split_key(full, PROJECT_FILE, problems)
        if name is None:
            continue
        # Pulumi requires object values in the project file to be nested under `value:`
        if isinstance(entry, Mapping) and set(entry) <= _SCHEMA_KEYS:
            if entry.get("secret"):
                secret.add(name)
            if "value" in entry:
                values[name] = entry["value"]
            elif "default" in entry:
                values[name] = entry["default"]
        elif isinstance(entry, Mapping):
            problems.append(
                Problem(
                    PROJECT_FILE,
                    f"{PROJECT}:{name}",
                    "an object value must be nested under `value:`",
                )
            )
        else:
            values[name] = entry
    if problems:
        raise ConfigError(problems)
    return values, frozenset(secret)


def read_stack_files(project_dir: Path, stack: str) -> RawConfig:
    """Read `Pulumi.yaml` and `Pulumi.<stack>.yaml` as the Pulumi CLI would hand them to the program."""
    project, project_secret = read_project_file(project_dir)
    stack_label = stack_file_name(stack)
    stack_doc = read_yaml(project_dir / stack_label, stack_label)
    problems: list[Problem] = []
    secret = set(project_secret)
    stack_values: dict[str, Any] = {}
    if stack_doc is None:
        stack_doc = {}
    if not isinstance(stack_doc, Mapping):
        problems.append(Problem(stack_label, "", "must be a map with a `config:` key"))
        stack_doc = {}
    stack_config = stack_doc.get("config") or {}
    if not isinstance(stack_config, Mapping):
        problems.append(Problem(stack_label, "config", "must be a map"))
        stack_config = {}
    for full, value in stack_config.items():
        name = _split_key(full, stack_label, problems)
        if name is None:
            continue
        if is_secure_value(value):
            secret.add(name)
            stack_values[name] = "[secret]"
        else:
            stack_values[name] = value
    if problems:
        raise ConfigError(problems)
    return RawConfig(
        stack=stack,
        project=project,
        stack_values=stack_values,
        secret=frozenset(secret),
        stack_file=stack_label,
    )


def load_stack_config(project_dir: Path, stack: str) -> StackConfig:
    """The CLI's way in: the two YAML files of a stack, validated."""
    config = build_stack_config(read_stack_files(project_dir, stack))
    check_one_stack_per_cluster(project_dir, config)
    return config


def _cluster_of(project_dir: Path, stack: str) -> str | None:
    """The cluster another stack file names (its cluster.name, else its stack name), or None
    when that file cannot be read: its own problems are reported when it is used."""
    path = project_dir / stack_file_name(stack)
    try:
        st = path.stat()
    except OSError:
        return None
    return _cluster_in_file(str(path), stack, st.st_mtime_ns, st.st_size)


# `render --all` checks every stack against every other: each file is read once per version.
@functools.lru_cache(maxsize=256)
def _cluster_in_file(path: str, stack: str, _mtime_ns: int, _size: int) -> str | None:
    try:
        doc = read_yaml(Path(path), stack_file_name(stack))
    except ConfigError:
        return None
    config = doc.get("config") if isinstance(doc, Mapping) else None
    cluster = config.get(f"{PROJECT}:cluster") if isinstance(config, Mapping) else None
    name = cluster.get("name") if isinstance(cluster, Mapping) else None
    return name if isinstance(name, str) else stack


def check_one_stack_per_cluster(project_dir: Path, config: StackConfig) -> None:
    """A cluster belongs to one stack: two stacks writing `clusters/<c>/` would undo each
    other's commits and fight over the cluster. Refused naming both stacks and the key."""
    others = [
        s
        for s in list_stacks(project_dir)
        if s != config.stack and _cluster_of(project_dir, s) == config.cluster
    ]
    if others:
        names = ", ".join(sorted([config.stack, *others]))
        files = ", ".join(stack_file_name(s) for s in sorted([config.stack, *others]))
        file, key = config.locate(("cluster", "name"))
        raise ConfigError(
            [
                Problem(
                    file,
                    key,
                    f"stacks {names} all render cluster {quote(config.cluster)} ({files}); a "
                    "cluster belongs to one stack: set another cluster.name in all but one",
                )
            ]
        )
