"""The real Pulumi engine: `pulumi preview` and a no-op `pulumi up` of k8s-01, side by side.

Three programs run on the same toolchain (tests/e2e/toolchain), each against its own local
control plane, in interleaved rounds:

- **ours**: this project's stack k8s-01 (after a first `up`);
- **the naive peer**: the plain Pulumi Python program a team would write by hand: the same
  committed `gotk-components.yaml` and `gotk-sync.yaml` applied with
  `pulumi_kubernetes.yaml.v2.ConfigGroup` (no repository, no validation, no notifications);
- **empty**: a Python program that declares nothing: the engine's own floor (CLI start, language
  host, Python start, `import pulumi`).

Reported: the median of each (seconds), ours / peer and ours / empty, and the size of each stack's
state (the file backend's checkpoint) with what dominates it.

    .venv/bin/python bench/run.py --only engine       # or: make bench
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from tests.e2e.control_plane import LocalControlPlane  # noqa: E402
from tests.e2e.pulumi_cli import PulumiProject, configure_stack  # noqa: E402
from tests.e2e.toolchain import toolchain  # noqa: E402

PEER_PROGRAM = '''\
"""The naive peer: Flux's committed install and sync files, applied as they are."""
import pulumi
import pulumi_kubernetes as k8s

provider = k8s.Provider("k8s", kubeconfig=pulumi.Config().require_secret("kubeconfig"))
k8s.yaml.v2.ConfigGroup(
    "flux",
    files=["gotk-components.yaml", "gotk-sync.yaml"],
    opts=pulumi.ResourceOptions(provider=provider),
)
'''
EMPTY_PROGRAM = '"""Nothing: the engine\'s floor."""\nimport pulumi  # noqa: F401\n'
SLACK = {
    "slackWebhookUrl": "https://hooks.slack.invalid/bench-1",
    "slackErrorsWebhookUrl": "https://hooks.slack.invalid/bench-2",
}


def _side_project(root: Path, bin_dir: Path, name: str, program: str) -> PulumiProject:
    """A PulumiProject whose program is replaced by `program` (project `name`)."""
    project = PulumiProject(root, bin_dir)
    for path in project.dir.iterdir():
        if path.name != ".venv":
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    (project.dir / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
        "    virtualenv: .venv\n"
    )
    (project.dir / "__main__.py").write_text(program)
    return project


def _state_bytes(project: PulumiProject, project_name: str, stack: str) -> int:
    found = list((project.root / "backend").rglob(f"{stack}.json"))
    found = [p for p in found if project_name in p.parts]
    return sum(p.stat().st_size for p in found)


def _largest(project: PulumiProject, stack: str, top: int = 3) -> list[tuple[str, int]]:
    resources = project.resources(stack)
    sized = [(str(r["urn"]).split("::")[-1], len(json.dumps(r))) for r in resources]
    return sorted(sized, key=lambda x: -x[1])[:top]


def section_engine(repeats: int) -> tuple[str, list[tuple[str, float, float]]]:
    """Markdown, and (target name, figure, limit) rows."""
    bin_dir = toolchain.build(toolchain.ENGINE_TOOLS, out=lambda line: print(line, file=sys.stderr))
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-engine-")))
        ours_cp = stack.enter_context(LocalControlPlane(bin_dir, tmp / "cp-ours", "k8s-01"))
        peer_cp = stack.enter_context(LocalControlPlane(bin_dir, tmp / "cp-peer", "peer"))
        remote = tmp / "gitops.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)

        mirror = Path(
            os.environ.get("FLUXBOOT_MANIFESTS_DIR") or PROJECT_DIR.parent / "shared" / "flux"
        )
        ours = PulumiProject(
            tmp / "ours", bin_dir, extra_env={"FLUXBOOT_MANIFESTS_DIR": str(mirror)}
        )
        configure_stack(ours, "k8s-01", ours_cp.kubeconfig, remote, SLACK)
        ours.run("up", "--yes", "-s", "k8s-01")

        peer = _side_project(tmp / "peer", bin_dir, "flux-peer", PEER_PROGRAM)
        for name in ("gotk-components.yaml", "gotk-sync.yaml"):
            text = subprocess.run(
                [
                    "git",
                    "--git-dir",
                    str(remote),
                    "show",
                    f"main:clusters/k8s-01/flux-system/{name}",
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            (peer.dir / name).write_text(text)
        peer.stack_init("bench")
        peer.config_set("bench", "kubeconfig", peer_cp.kubeconfig, secret=True)
        peer.run("up", "--yes", "-s", "bench")

        empty = _side_project(tmp / "empty", bin_dir, "empty", EMPTY_PROGRAM)
        empty.stack_init("bench")
        empty.run("up", "--yes", "-s", "bench")

        runs: dict[tuple[str, str], list[float]] = {}
        programs: list[tuple[str, PulumiProject, str]] = [
            ("empty", empty, "bench"),
            ("naive peer", peer, "bench"),
            ("ours (k8s-01)", ours, "k8s-01"),
        ]
        for _ in range(repeats):
            for label, project, stack_name in programs:
                for op, args in (
                    ("preview", ("preview", "-s", stack_name, "--expect-no-changes")),
                    ("no-op up", ("up", "--yes", "-s", stack_name, "--expect-no-changes")),
                ):
                    runs.setdefault((label, op), []).append(project.run(*args).seconds)

        med: Callable[[str, str], float] = lambda label, op: statistics.median(runs[(label, op)])  # noqa: E731
        rows = []
        targets = []
        for op in ("preview", "no-op up"):
            o, p, e = med("ours (k8s-01)", op), med("naive peer", op), med("empty", op)
            rows.append(
                f"| `pulumi {op.replace('no-op ', '')}`{' (no change)' if op == 'no-op up' else ''} "
                f"| {e:.2f} s | {p:.2f} s | {o:.2f} s | {o / p:.2f}x | {o / e:.2f}x |"
            )
            targets.append((f"{op} of k8s-01 vs the naive peer", o / p, 1.2))
        sizes = [
            ("empty", _state_bytes(empty, "empty", "bench"), empty.resources("bench")),
            ("naive peer", _state_bytes(peer, "flux-peer", "bench"), peer.resources("bench")),
            (
                "ours (k8s-01)",
                _state_bytes(ours, "flux-gitops", "k8s-01"),
                ours.resources("k8s-01"),
            ),
        ]
        largest = _largest(ours, "k8s-01")
    lines = [
        f"Median of {repeats} interleaved rounds; each program against its own local control plane.",
        "",
        "| command | empty program | naive peer | ours | ours / peer | ours / empty |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "| stack | resources | state (file backend) |",
        "| --- | --- | --- |",
        *(f"| {label} | {len(res)} | {size / 1024:.0f} KiB |" for label, size, res in sizes),
        "",
        "Largest resources in k8s-01's state: "
        + ", ".join(f"`{name}` {size / 1024:.0f} KiB" for name, size in largest),
    ]
    return "\n".join(lines), targets


def main(argv: list[str]) -> int:
    text, targets = section_engine(int(argv[0]) if argv else 3)
    print(text)
    for name, figure, limit in targets:
        print(
            f"- {name}: {figure:.2f}x (target <= {limit}x): {'PASS' if figure <= limit else 'MISS'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__: list[Any] = ["section_engine"]
