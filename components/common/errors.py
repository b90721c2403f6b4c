"""Errors that reach users: each problem names the file and the config key it came from.

A value quoted in a message goes through `quote`: its URL user info redacted and its length
capped, so a hostile or mistaken value (a token, a 40 MB string, an alias-expanded map) never
fills a terminal or a CI log. `Problem` caps its message as a last guard.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass

from components.common import urls

# How much of a value a message shows, and how long one problem's message may be.
MAX_QUOTED = 80
MAX_MESSAGE = 1000


class _Repr(reprlib.Repr):
    """reprlib with every string redacted before it is shortened."""

    def repr_str(self, x: str, level: int) -> str:
        return super().repr_str(urls.redact(x), level)


_repr = _Repr()
_repr.maxstring = MAX_QUOTED + 2  # reprlib counts the quotes
_repr.maxother = MAX_QUOTED
_repr.maxlevel = 3
for _name in ("maxdict", "maxlist", "maxtuple", "maxset", "maxfrozenset"):
    setattr(_repr, _name, 4)


def cap(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def quote(value: object) -> str:
    """`value` as a message shows it: a Python repr, short, with no URL credentials.

    The user info is redacted before the value is cut, so a cut never leaves half a password.
    reprlib stops at a few items and levels, so even a map that YAML aliases made huge is shown
    in constant time and space.
    """
    if isinstance(value, str):
        shown = urls.redact(value)
        if len(shown) > MAX_QUOTED:
            return f"{shown[:MAX_QUOTED]!r}... ({len(value)} characters)"
        return repr(shown)
    shown = _repr.repr(value)
    return shown if len(shown) <= MAX_QUOTED * 2 else shown[: MAX_QUOTED * 2] + "..."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located by file and (where there is one) config key."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        message = cap(urls.redact(self.message), MAX_MESSAGE)
        if self.key:
            return f"{self.file}: {cap(self.key, MAX_QUOTED * 2)}: {message}"
        return f"{self.file}: {message}"


class FluxGitopsError(Exception):
    """Base class of every error this project reports to a user (exit status 2 in the CLI).

    Its text has the user info of any URL in it redacted, whoever shows it: the CLI, or
    `pulumi preview` (which has no redacting output of its own) through `pulumi.RunError`.
    """

    def __str__(self) -> str:
        return urls.redact(super().__str__())


class ConfigError(FluxGitopsError):
    """Stack configuration that does not validate; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ValidationError(FluxGitopsError):
    """Rendered objects that do not match the schema of their Flux CRD."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = [cap(urls.redact(p), MAX_MESSAGE) for p in problems]
        super().__init__("\n".join(self.problems))


class ManifestError(FluxGitopsError):
    """The Flux install manifest of the configured version cannot be had or is not what was pinned."""


# What a check at the source may still let escape (a file that vanished between check and read,
# a full disk): the front ends turn these into one line each, never a traceback.
ESCAPED = (OSError, UnicodeError)


def describe(err: BaseException) -> str:
    """One short line for an error that escaped the checks at its source."""
    if isinstance(err, OSError):
        what = err.strerror or str(err)
        return f"{err.filename}: {what}" if err.filename is not None else what
    if isinstance(err, UnicodeError):
        return f"not UTF-8 text: {cap(str(err), MAX_QUOTED * 2)}"
    return cap(urls.redact(" ".join(str(err).split())), MAX_MESSAGE)
