"""Where raw config comes from: the two YAML files (CLI) or the Pulumi engine (program).

Both produce a `RawConfig` for `config.build_stack_config`, so the CLI and `pulumi up` validate
exactly the same values with exactly the same messages.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from components import yamlio
from components.config import PROJECT, PROJECT_FILE, RawConfig, StackConfig, build_stack_config
from components.errors import ConfigError, Problem, quote
from components.textfiles import UnreadableFileError, read_text

# Pulumi.yaml and a stack file hold a few KB; anything near this is not a config file (and a
# 40 MB one would take half a minute to parse before it was refused).
MAX_CONFIG_BYTES = 1024 * 1024

# Keys a Pulumi.yaml `config:` entry may have when it is written in the schema form
# (`{value: ...}`, `{default: ..., description: ...}`), as opposed to a bare value.
_SCHEMA_KEYS = frozenset({"type", "description", "default", "value", "secret", "items"})


# Pulumi's rule for a stack name (`pulumi stack init`): letters, digits, '-', '_' and '.', at
# most 100 characters. It also keeps `Pulumi.<stack>.yaml` inside the project directory.
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def stack_name_problem(stack: str) -> str | None:
    """Why `stack` is not a Pulumi stack name, or None."""
    if _STACK_NAME.fullmatch(stack) and stack not in (".", ".."):
        return None
    return (
        f"{quote(stack)} is not a stack name (letters, digits, '-', '_' and '.', at most 100 "
        "characters)"
    )


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def list_stacks(project_dir: Path) -> list[str]:
    """Stacks that have a settings file in the project directory, sorted."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


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
        # `pulumi config set --secret` writes {secure: <ciphertext>}
        if isinstance(value, Mapping) and set(value) == {"secure"}:
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
