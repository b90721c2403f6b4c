"""The real `pulumi` CLI on a throwaway copy of this project, as a user runs it.

`PulumiProject` copies the program (Pulumi.yaml, the stack files, __main__.py, components/,
repo-template/) into a temporary directory, points it at the project's virtualenv, and runs the
toolchain's `pulumi` there with a local `file://` backend and the passphrase secrets provider:
nothing reaches Pulumi Cloud, the network, or the user's own Pulumi home. Plugins come only from
the toolchain's bin directory (on PATH); automatic plugin downloads are off, so a missing plugin
is an error instead of a download attempt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.toolchain.toolchain import PINS

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROGRAM_FILES = ("Pulumi.yaml", "Pulumi.k8s-01.yaml", "Pulumi.k8s-02.yaml", "__main__.py")
PROGRAM_DIRS = ("components", "repo-template")
PASSPHRASE = "e2e-only-passphrase"


@dataclass(frozen=True)
class Run:
    """One finished `pulumi` command."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (
            f"pulumi {' '.join(self.args)} -> {self.returncode} in {self.seconds:.1f}s\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


class PulumiFailed(AssertionError):
    """A command that was expected to succeed did not; the message holds its whole output."""


@dataclass
class PulumiProject:
    """A copy of the program in ``root / 'project'``, with its backend in ``root / 'backend'``."""

    root: Path
    bin_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    history: list[Run] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.dir = self.root / "project"
        self.dir.mkdir(parents=True)
        for name in PROGRAM_FILES:
            shutil.copy(PROJECT_DIR / name, self.dir / name)
        for name in PROGRAM_DIRS:
            shutil.copytree(
                PROJECT_DIR / name, self.dir / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        venv = PROJECT_DIR / ".venv"
        if not (venv / "bin" / "python").exists():
            raise RuntimeError(f"{venv} is missing: run `make setup` first")
        (self.dir / ".venv").symlink_to(venv)
        (self.root / "backend").mkdir()
        (self.root / "pulumi-home").mkdir()
        # The provider plugin goes where `pulumi plugin install` puts plugins, as for a user; the
        # language host and the dynamic-provider plugin sit beside `pulumi`, as in a release.
        self.run(
            "plugin",
            "install",
            "resource",
            "kubernetes",
            PINS["pulumi_kubernetes"]["version"],
            "--file",
            str(self.bin_dir / "pulumi-resource-kubernetes"),
        )

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            # never the developer's cluster, backend or Pulumi account
            if not k.startswith(("PULUMI_", "KUBE")) and k not in ("VIRTUAL_ENV",)
        }
        env.update(
            PATH=f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}",
            PULUMI_HOME=str(self.root / "pulumi-home"),
            PULUMI_BACKEND_URL=f"file://{self.root / 'backend'}",
            PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            # plugins from PULUMI_HOME (and the bundled ones beside `pulumi`), not from PATH
            PULUMI_IGNORE_AMBIENT_PLUGINS="true",
            PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="true",
            KUBECONFIG=str(self.root / "no-default-kubeconfig"),
            PYTHONDONTWRITEBYTECODE="1",
            NO_COLOR="1",
        )
        env.update(self.extra_env)
        return env

    def run(
        self,
        *args: str,
        check: bool = True,
        stdin: str | None = None,
        timeout: float = 900,
    ) -> Run:
        start = time.monotonic()
        proc = subprocess.run(
            [str(self.bin_dir / "pulumi"), *args, "--non-interactive", "--color=never"],
            cwd=self.dir,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        run = Run(args, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
        self.history.append(run)
        # every command's whole output, for the reader of a failure
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        name = "-".join(a.strip("-").replace("/", "_") for a in args[:3])
        (logs / f"{len(self.history):03d}-{name}.txt").write_text(str(run))
        if check and run.returncode != 0:
            raise PulumiFailed(str(run))
        return run

    # -------------------------------------------------------------- conveniences

    def stack_init(self, stack: str) -> None:
        self.run("stack", "init", stack, "--secrets-provider", "passphrase")

    def config_set(
        self, stack: str, key: str, value: str, *, secret: bool = False, path: bool = False
    ) -> None:
        args = ["config", "set", "-s", stack]
        if path:
            args.append("--path")
        args.append("--secret" if secret else "--plaintext")
        # the value through stdin: a kubeconfig or a private key never lands on a command line
        self.run(*args, key, stdin=value)

    def config_rm(self, stack: str, key: str, *, path: bool = False) -> None:
        self.run("config", "rm", "-s", stack, *(["--path"] if path else []), key)

    def outputs(self, stack: str, *, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "-s", stack, "--json"]
        if show_secrets:
            args.append("--show-secrets")
        loaded = json.loads(self.run(*args).stdout)
        assert isinstance(loaded, dict)
        return loaded

    def export(self, stack: str) -> dict[str, Any]:
        """The stack's state (`pulumi stack export`), secrets still encrypted."""
        loaded = json.loads(self.run("stack", "export", "-s", stack).stdout)
        assert isinstance(loaded, dict)
        return loaded

    def resources(self, stack: str) -> list[dict[str, Any]]:
        resources = self.export(stack)["deployment"].get("resources") or []
        assert isinstance(resources, list)
        return resources


def configure_stack(
    project: PulumiProject,
    stack: str,
    kubeconfig: str,
    remote: Path,
    secrets: dict[str, str],
    **settings: str,
) -> None:
    """`pulumi stack init` and the config a user sets: the kubeconfig and other secrets, the
    push target (a local bare repository, created on first push), and `settings` by path."""
    project.stack_init(stack)
    project.config_set(stack, "flux-gitops:kubeconfig", kubeconfig, secret=True)
    for key, value in secrets.items():
        project.config_set(stack, f"flux-gitops:{key}", value, secret=True)
    project.config_set(stack, "flux-gitops:git.pushUrl", str(remote), path=True)
    project.config_set(stack, "flux-gitops:git.createBranch", "true", path=True)
    for key, value in settings.items():
        project.config_set(stack, f"flux-gitops:{key}", value, path=True)


def steps(run: Run) -> dict[str, int]:
    """`pulumi preview/up` summary counts by operation, from its human-readable summary."""
    counts: dict[str, int] = {}
    in_summary = False
    for line in run.stdout.splitlines():
        stripped = line.strip()
        if stripped == "Resources:":
            in_summary = True
            continue
        if in_summary:
            if not stripped:
                if counts:
                    break
                continue
            parts = stripped.split()
            if parts and parts[0].isdigit() and len(parts) >= 2:
                op = " ".join(p for p in parts[1:] if not p.startswith("("))
                counts[op] = int(parts[0])
    return counts


def json_preview_steps(run: Run) -> list[dict[str, Any]]:
    """The steps of `pulumi preview --json`."""
    loaded = json.loads(run.stdout)
    found = loaded.get("steps") or []
    assert isinstance(found, list)
    return found


def ops_of(steps_: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """{op: [urn, ...]} of `preview --json` steps, without `same`."""
    out: dict[str, list[str]] = {}
    for step in steps_:
        op = str(step.get("op"))
        if op != "same":
            out.setdefault(op, []).append(str(step.get("urn")))
    return out
