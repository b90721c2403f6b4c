"""Stack names and stack files: Pulumi's rule for a name, `Pulumi.<stack>.yaml`, a secret in it.

Light on purpose: `fluxboot` checks its STACK arguments with these before anything is imported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from components.common.errors import quote

# Pulumi's rule for a stack name (`pulumi stack init`): letters, digits, '-', '_' and '.', at
# most 100 characters. It also keeps `Pulumi.<stack>.yaml` inside the project directory.
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_PREFIX, _SUFFIX = "Pulumi.", ".yaml"
STACK_FILE_GLOB = f"{_PREFIX}*{_SUFFIX}"


def stack_name_problem(stack: str) -> str | None:
    """Why `stack` is not a Pulumi stack name, or None."""
    if _STACK_NAME.fullmatch(stack) and stack not in (".", ".."):
        return None
    return (
        f"{quote(stack)} is not a stack name (letters, digits, '-', '_' and '.', at most 100 "
        "characters)"
    )


def stack_file_name(stack: str) -> str:
    """`Pulumi.<stack>.yaml`: the settings file of a stack, in the project directory."""
    return f"{_PREFIX}{stack}{_SUFFIX}"


def stack_of_file(name: str) -> str:
    """The stack whose settings file is named `name` (a match of STACK_FILE_GLOB)."""
    return name[len(_PREFIX) : -len(_SUFFIX)]


def is_secure_value(value: Any) -> bool:
    """Whether a stack file value is a Pulumi secret: `{secure: <ciphertext>}`, as
    `pulumi config set --secret` writes it."""
    return isinstance(value, Mapping) and set(value) == {"secure"}
