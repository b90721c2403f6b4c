"""Errors that reach users: each problem names the file and the config key it came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located by file and (where there is one) config key."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        if self.key:
            return f"{self.file}: {self.key}: {self.message}"
        return f"{self.file}: {self.message}"


class FluxGitopsError(Exception):
    """Base class of every error this project reports to a user (exit status 2 in the CLI)."""


class ConfigError(FluxGitopsError):
    """Stack configuration that does not validate; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ValidationError(FluxGitopsError):
    """Rendered objects that do not match the schema of their Flux CRD."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ManifestError(FluxGitopsError):
    """The Flux install manifest of the configured version cannot be had or is not what was pinned."""
