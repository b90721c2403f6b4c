"""Build the end-to-end toolchain from Go modules: the Pulumi engine, a Kubernetes control plane, Flux.

Every binary the real-engine tests run is compiled here from the Go module proxy, nothing is
downloaded prebuilt:

- the Pulumi CLI, its Python language host (with the two Python scripts that ship beside it) and
  the Kubernetes provider plugin;
- etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok;
- the four Flux controllers of the pinned release, and `flux-oracle` (ours, in
  modules/flux-oracle: flux2's own generators), which also builds what the release publishes
  (its manifests bundle and install.yaml) from the controllers' modules, into `share/flux/`;
- actionlint, the linter of the GitHub Actions workflow.

Versions live in ``pins.toml``; each tool is built in a wrapper module of our own under
``modules/<tool>/`` (a go.mod and go.sum under version control), and the binaries land in
``${XDG_CACHE_HOME:-~/.cache}/flux-gitops/toolchain/<hash of the pins>/bin``. A second run finds
each tool's stamp and returns in well under a second. Go's module and build caches sit beside it,
under ``flux-gitops/go/``, so a change of one pin rebuilds one tool from warm caches.

    python3 tests/e2e/toolchain/toolchain.py build [TOOL ...]   # build what is missing; print bin dir
    python3 tests/e2e/toolchain/toolchain.py bin-dir            # print the bin dir (built or not)
    python3 tests/e2e/toolchain/toolchain.py check              # pins vs wrapper go.mod files
    python3 tests/e2e/toolchain/toolchain.py node               # npm ci of node/; print its bin dir

The tests' one npm package, gitlab-ci-local (which runs .gitlab-ci.yml here), is not a Go module:
``node/package.json`` and ``node/package-lock.json`` pin it with its whole tree, and ``npm ci``
installs them under ``flux-gitops/node/<hash of the two files>/``.

Standard library only: it runs before the project's virtualenv exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINS_FILE = HERE / "pins.toml"
MODULES_DIR = HERE / "modules"
# the npm packages of the tests (gitlab-ci-local), pinned with their whole tree by the lock file
NODE_DIR = HERE / "node"


def load_pins() -> dict[str, dict[str, str]]:
    with PINS_FILE.open("rb") as f:
        return tomllib.load(f)


PINS = load_pins()


@dataclass(frozen=True)
class Tool:
    """One wrapper module and what it builds.

    ``binaries`` maps each output name to the Go package it is built from (``.`` for a package
    the ``prepare`` step placed in the work copy); ``requires`` are the (module, version) pairs
    the wrapper's go.mod must require or replace to, so a pin cannot drift from its module.
    """

    name: str
    binaries: dict[str, str]
    requires: tuple[tuple[str, str], ...]
    ldflags: tuple[str, ...] = ()
    prepare: Callable[[Path], None] | None = None  # (work copy of the wrapper module)
    finish: Callable[[Path, Path], None] | None = None  # (work copy, bin dir)
    # every replacement of a module under this prefix must point at this version
    replaces: tuple[str, str] | None = None

    @property
    def module_dir(self) -> Path:
        return MODULES_DIR / self.name

    def recipe(self) -> str:
        """What, besides go.mod/go.sum, decides the build's output (part of the stamp)."""
        return json.dumps(
            {
                "binaries": self.binaries,
                "ldflags": self.ldflags,
                "prepare": self.prepare.__name__ if self.prepare else None,
                "finish": self.finish.__name__ if self.finish else None,
                "recipe_version": RECIPE_VERSIONS.get(self.name, 1),
            },
            sort_keys=True,
        )


# Bump a tool's number when its prepare/finish step changes what it produces.
RECIPE_VERSIONS: dict[str, int] = {}


def _module_dir_of(module: str, wrapper: Path) -> Path:
    """The extracted source of ``module`` at the version the wrapper module's build list selects."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", module],
        cwd=wrapper,
        env=go_env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BuildError(
            f"go mod download {module} (in {wrapper}): {proc.stdout}{proc.stderr}".strip()
        )
    return Path(json.loads(proc.stdout)["Dir"])


def _language_host_scripts(work: Path, bin_dir: Path) -> None:
    """The language host runs programs through ``pulumi-language-python-exec`` and dynamic providers
    through ``pulumi-resource-pulumi-python``; a Pulumi release ships both beside the binaries, and
    both are in the sdk/v3 module of the same release."""
    sdk = _module_dir_of("github.com/pulumi/pulumi/sdk/v3", work)
    for rel in (
        "python/cmd/pulumi-language-python-exec",
        "python/dist/pulumi-resource-pulumi-python",
    ):
        dest = bin_dir / Path(rel).name
        shutil.copyfile(sdk / rel, dest)
        dest.chmod(0o755)


KWOK_STAGES = ("node/fast", "node/heartbeat", "pod/fast")


def _kwok_stages(work: Path, bin_dir: Path) -> None:
    """kwok's "fast" node and pod lifecycle (initialize, heartbeat; ready, complete, delete).

    kwok run on its own needs its Stages as configuration; the release's are in its module under
    ``kustomize/stage/``, each directory a kustomization listing its files. They are joined into
    ``kwok-stages.yaml`` beside the binary, for ``kwok --config``.
    """
    root = _module_dir_of("sigs.k8s.io/kwok", work) / "kustomize" / "stage"
    docs: list[str] = []
    for rel in KWOK_STAGES:
        listing = (root / rel / "kustomization.yaml").read_text(encoding="utf-8")
        resources = [
            line.strip()[2:].strip()
            for line in listing.split("resources:", 1)[1].splitlines()
            if line.strip().startswith("- ")
        ]
        docs += [
            (root / rel / name).read_text(encoding="utf-8").strip() + "\n" for name in resources
        ]
    (bin_dir / "kwok-stages.yaml").write_text("---\n".join(docs), encoding="utf-8")


# The controllers of a Flux release, with the module path each is published under.
FLUX_CONTROLLERS = {
    "source-controller": "github.com/fluxcd/source-controller",
    "kustomize-controller": "github.com/fluxcd/kustomize-controller",
    "helm-controller": "github.com/fluxcd/helm-controller",
    "notification-controller": "github.com/fluxcd/notification-controller",
    "image-reflector-controller": "github.com/fluxcd/image-reflector-controller",
    "image-automation-controller": "github.com/fluxcd/image-automation-controller",
    "source-watcher": "github.com/fluxcd/source-watcher/v2",
}
_BASE_ASSET = re.compile(r"https://github\.com/fluxcd/([a-z-]+)/releases/download/(v[^/]+)/")


def flux_release_dir() -> Path:
    """What the pinned Flux release publishes, built offline by the oracle: `bundle/` (the files
    of manifests.tar.gz) and `install.yaml`, under `share/flux/<release>/`."""
    return toolchain_dir() / "share" / "flux" / PINS["flux"]["release"]


def _flux_release(work: Path, bin_dir: Path) -> None:
    """Build the release's manifests with the oracle, from the controllers' modules at the
    versions flux2's manifests/bases name (checked against modules/flux-sources)."""
    flux2 = _module_dir_of("github.com/fluxcd/flux2/v2", work)
    sources = MODULES_DIR / "flux-sources"
    required, _ = module_requirements((sources / "go.mod").read_text(encoding="utf-8"))
    named: dict[str, str] = {}
    for base in sorted((flux2 / "manifests" / "bases").iterdir()):
        for name, version in _BASE_ASSET.findall((base / "kustomization.yaml").read_text()):
            named[name] = version
    args = []
    for name, version in sorted(named.items()):
        module = FLUX_CONTROLLERS[name]
        if required.get(module) != version:
            raise BuildError(
                f"flux2 {PINS['flux']['release']} names {name} {version}, but "
                f"{sources / 'go.mod'} requires {required.get(module, '(nothing)')}"
            )
        args += ["-controller", f"{name}={_module_dir_of(module, sources)}"]
    out = flux_release_dir()
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run(
        [str(bin_dir / "flux-oracle"), "release", "-flux2", str(flux2), "-out", str(out), *args],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not (out / "install.yaml").is_file():
        raise BuildError(f"flux-oracle release: {proc.stderr.strip() or 'no install.yaml'}")


def _provider_main(work: Path) -> None:
    """Place the provider's main package in the work copy with its two embedded files generated.

    Upstream's ``generate.go`` writes them at release time: the schema with ``version`` set, and
    the Terraform mapping, both as compact JSON. The provider only parses them.
    """
    src = (
        _module_dir_of("github.com/pulumi/pulumi-kubernetes/provider/v4", work)
        / "cmd"
        / "pulumi-resource-kubernetes"
    )
    shutil.copyfile(src / "main.go", work / "main.go")
    schema = json.loads((src / "schema.json").read_text(encoding="utf-8"))
    schema["version"] = PINS["pulumi_kubernetes"]["version"]
    (work / "schema-embed.json").write_text(
        json.dumps(schema, separators=(",", ":")), encoding="utf-8"
    )
    mapping = json.loads((src / "terraform-mapping.json").read_text(encoding="utf-8"))
    (work / "terraform-mapping-embed.json").write_text(
        json.dumps(mapping, separators=(",", ":")), encoding="utf-8"
    )


def _k8s_version_ldflags(version: str) -> tuple[str, ...]:
    major, minor = version.lstrip("v").split(".")[:2]
    flags: list[str] = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}"]
        flags += [f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean"]
    return tuple(flags)


def tools() -> list[Tool]:
    p = PINS
    pulumi_version_flag = (
        f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={p['pulumi']['version']}"
    )
    k8s = p["kubernetes"]["version"]
    flux = p["flux"]
    return [
        Tool(
            "etcd",
            {"etcd": "go.etcd.io/etcd/server/v3"},
            requires=(("go.etcd.io/etcd/server/v3", p["etcd"]["version"]),),
        ),
        Tool(
            "kubernetes",
            {
                name: f"k8s.io/kubernetes/cmd/{name}"
                for name in (
                    "kube-apiserver",
                    "kube-controller-manager",
                    "kube-scheduler",
                    "kubectl",
                )
            },
            requires=(("k8s.io/kubernetes", k8s),),
            replaces=("k8s.io/", p["kubernetes"]["staging"]),
            ldflags=_k8s_version_ldflags(k8s),
        ),
        Tool(
            "kwok",
            {"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
            requires=(("sigs.k8s.io/kwok", p["kwok"]["version"]),),
            finish=_kwok_stages,
        ),
        Tool(
            "pulumi",
            {"pulumi": "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"},
            requires=(
                ("github.com/pulumi/pulumi/pkg/v3", p["pulumi"]["version"]),
                ("github.com/pulumi/pulumi/sdk/v3", p["pulumi"]["cli_sdk"]),
            ),
            ldflags=(pulumi_version_flag,),
        ),
        Tool(
            "pulumi-language-python",
            {
                "pulumi-language-python": "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3"
            },
            requires=(
                (
                    "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3",
                    p["pulumi"]["language_python"],
                ),
                ("github.com/pulumi/pulumi/sdk/v3", p["pulumi"]["version"]),
                ("github.com/pulumi/pulumi/pkg/v3", p["pulumi"]["version"]),
            ),
            ldflags=(pulumi_version_flag,),
            finish=_language_host_scripts,
        ),
        Tool(
            "pulumi-resource-kubernetes",
            {"pulumi-resource-kubernetes": "."},
            requires=(
                (
                    "github.com/pulumi/pulumi-kubernetes/provider/v4",
                    p["pulumi_kubernetes"]["provider"],
                ),
                (
                    "github.com/pulumi/pulumi-kubernetes/sdk/v4",
                    "v" + p["pulumi_kubernetes"]["version"],
                ),
            ),
            ldflags=(
                "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version="
                + p["pulumi_kubernetes"]["version"],
            ),
            prepare=_provider_main,
        ),
        Tool(
            "flux-oracle",
            {"flux-oracle": "."},
            requires=(("github.com/fluxcd/flux2/v2", flux["release"]),),
            finish=_flux_release,
        ),
        Tool(
            "actionlint",
            {"actionlint": "github.com/rhysd/actionlint/cmd/actionlint"},
            requires=(("github.com/rhysd/actionlint", p["actionlint"]["version"]),),
            ldflags=(f"-X github.com/rhysd/actionlint.version={p['actionlint']['version']}",),
        ),
        *(
            Tool(
                controller,
                {controller: f"github.com/fluxcd/{controller}"},
                requires=(
                    (f"github.com/fluxcd/{controller}", flux[controller.replace("-", "_")]),
                    (f"github.com/fluxcd/{controller}/api", flux[controller.replace("-", "_")]),
                ),
            )
            for controller in (
                "source-controller",
                "kustomize-controller",
                "helm-controller",
                "notification-controller",
            )
        ),
    ]


# The Pulumi engine and the control plane (what the real-engine tests need); the Flux
# controllers are the rest.
ENGINE_TOOLS = [
    "etcd",
    "kubernetes",
    "kwok",
    "pulumi",
    "pulumi-language-python",
    "pulumi-resource-kubernetes",
]


class BuildError(Exception):
    """A tool could not be built; the message says which and where its log is."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flux-gitops"


def pins_hash() -> str:
    """A hash of the pins and of every wrapper module's go.mod and go.sum."""
    h = hashlib.sha256(PINS_FILE.read_bytes())
    for path in sorted(MODULES_DIR.glob("*/*")):
        h.update(path.relative_to(MODULES_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def toolchain_dir() -> Path:
    return cache_root() / "toolchain" / pins_hash()


def bin_dir() -> Path:
    return toolchain_dir() / "bin"


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    root = cache_root() / "go"
    env.update(
        GOMODCACHE=str(root / "mod"),
        GOCACHE=str(root / "build"),
        GOFLAGS="-mod=readonly",
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        # the proxy serves the wrapper modules' pseudo-versions but the checksum database does not
        # know them; go.sum (under version control) holds their hashes, so nothing goes unverified
        GONOSUMDB="github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python,github.com/pulumi/pulumi-kubernetes/provider",
    )
    return env


_REQUIRE = re.compile(r"^\s*(?:require\s+)?([\w./-]+)\s+(v[\w.+-]+)(?:\s*//.*)?$")
_REPLACE = re.compile(r"^\s*(?:replace\s+)?([\w./-]+)\s*=>\s*([\w./-]+)\s+(v[\w.+-]+)")


def module_requirements(go_mod: str) -> tuple[dict[str, str], dict[str, str]]:
    """(required versions, replacement versions) of a go.mod, by module path."""
    required: dict[str, str] = {}
    replaced: dict[str, str] = {}
    for line in go_mod.splitlines():
        if m := _REPLACE.match(line):
            replaced[m.group(1)] = m.group(3)
        elif m := _REQUIRE.match(line):
            required[m.group(1)] = m.group(2)
    return required, replaced


def check_pins() -> list[str]:
    """Every disagreement between pins.toml and a wrapper module, one line each."""
    problems: list[str] = []
    go_line = f"go {PINS['go']['minimum']}"
    for tool in tools():
        go_mod_path = tool.module_dir / "go.mod"
        if not go_mod_path.is_file() or not (tool.module_dir / "go.sum").is_file():
            problems.append(f"{tool.module_dir}: go.mod or go.sum missing")
            continue
        text = go_mod_path.read_text(encoding="utf-8")
        if not re.search(rf"^{re.escape(go_line)}(\.\d+)?$", text, re.M):
            problems.append(f"{go_mod_path}: expected '{go_line}'")
        required, replaced = module_requirements(text)
        for module, version in tool.requires:
            if required.get(module) != version:
                problems.append(
                    f"{go_mod_path}: requires {module} {required.get(module, '(nothing)')}, pins.toml says {version}"
                )
        if tool.replaces:
            prefix, version = tool.replaces
            staged = {m: v for m, v in replaced.items() if m.startswith(prefix)}
            if not staged:
                problems.append(f"{go_mod_path}: no replacement of {prefix}* modules")
            problems += [
                f"{go_mod_path}: replaces {m} with {v}, pins.toml says {version}"
                for m, v in sorted(staged.items())
                if v != version
            ]
    sources = MODULES_DIR / "flux-sources" / "go.mod"
    required, _ = module_requirements(sources.read_text(encoding="utf-8"))
    for name, module in FLUX_CONTROLLERS.items():
        pinned = PINS["flux"].get(name.replace("-", "_"))
        if required.get(module) != pinned:
            problems.append(
                f"{sources}: requires {module} {required.get(module, '(nothing)')}, pins.toml says {pinned}"
            )
    return problems


def _go_version_ok() -> str:
    try:
        out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"go is not usable here: {exc}") from exc
    have = out.stdout.strip()
    m = re.match(r"go(\d+)\.(\d+)", have)
    want = tuple(int(x) for x in PINS["go"]["minimum"].split("."))
    if not m or (int(m.group(1)), int(m.group(2))) < want:
        raise BuildError(
            f"{have} is older than go {PINS['go']['minimum']}, which the wrapper modules need"
        )
    return have


def _stamp(tool: Tool, go_version: str) -> str:
    h = hashlib.sha256(tool.recipe().encode() + go_version.encode())
    for path in sorted(tool.module_dir.iterdir()):
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_one(tool: Tool, go_version: str, out: Callable[[str], None]) -> float:
    root = toolchain_dir()
    bins, logs, work = root / "bin", root / "logs", root / "work" / tool.name
    bins.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{tool.name}.log"
    env = go_env()
    start = time.monotonic()
    with log_path.open("w") as log:

        def run(cmd: list[str], cwd: Path) -> None:
            log.write(f"$ {' '.join(cmd)}  (in {cwd})\n")
            log.flush()
            proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
            if proc.returncode != 0:
                log.flush()
                tail = "".join(log_path.read_text(errors="replace").splitlines(True)[-15:])
                raise BuildError(
                    f"{tool.name}: '{' '.join(cmd[:3])} ...' failed; log {log_path}:\n{tail}"
                )

        # the wrapper module (go.mod, go.sum and any source of ours), copied so that a
        # generated main package can sit in it
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        for path in sorted(tool.module_dir.iterdir()):
            if path.is_file():
                shutil.copyfile(path, work / path.name)
        if tool.prepare:
            tool.prepare(work)
        ldflags = " ".join(("-s", "-w", *tool.ldflags))
        for binary, package in tool.binaries.items():
            out(f"    go build {binary}")
            run(
                [
                    "go",
                    "build",
                    "-trimpath",
                    "-ldflags",
                    ldflags,
                    "-o",
                    str(bins / binary),
                    package,
                ],
                work,
            )
        if tool.finish:
            tool.finish(work, bins)
        stamp = bins.parent / "stamps" / tool.name
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(_stamp(tool, go_version))
    shutil.rmtree(work, ignore_errors=True)
    return time.monotonic() - start


def missing(go_version: str, selected: list[Tool]) -> list[Tool]:
    stamps = toolchain_dir() / "stamps"
    todo = []
    for tool in selected:
        stamp = stamps / tool.name
        built = stamp.is_file() and stamp.read_text() == _stamp(tool, go_version)
        if not built or not all((bin_dir() / b).is_file() for b in tool.binaries):
            todo.append(tool)
    return todo


def build(names: list[str] | None = None, out: Callable[[str], None] = print) -> Path:
    """Build every selected tool that is not built yet; return the bin dir."""
    problems = check_pins()
    if problems:
        raise BuildError("pins.toml and the wrapper modules disagree:\n  " + "\n  ".join(problems))
    go_version = _go_version_ok()
    all_tools = tools()
    known = {t.name for t in all_tools}
    unknown = sorted(set(names or []) - known)
    if unknown:
        raise BuildError(f"unknown tool(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    selected = [t for t in all_tools if not names or t.name in names]
    if not missing(go_version, selected):  # the common case: nothing to do, no lock to wait for
        out(f"toolchain up to date ({len(selected)} tools): {bin_dir()}")
        return bin_dir()
    with _locked(toolchain_dir() / ".lock"):
        todo = missing(go_version, selected)
        if not todo:
            out(f"toolchain up to date ({len(selected)} tools): {bin_dir()}")
            return bin_dir()
        out(
            f"building {len(todo)} of {len(selected)} tools with {go_version} into {toolchain_dir()}"
        )
        times: list[tuple[str, float]] = []
        total = time.monotonic()
        failed: list[str] = []
        for i, tool in enumerate(todo, 1):
            out(f"[{i}/{len(todo)}] {tool.name} ({', '.join(tool.binaries)})")
            try:
                seconds = _build_one(tool, go_version, out)
            except BuildError as err:
                # keep going: one broken tool should not leave the others unbuilt
                failed.append(str(err))
                out(f"[{i}/{len(todo)}] {tool.name}: FAILED")
                continue
            times.append((tool.name, seconds))
            out(f"[{i}/{len(todo)}] {tool.name}: {seconds:.0f} s")
        out("built:")
        for name, seconds in times:
            out(f"  {name:<28} {seconds:7.0f} s")
        out(f"  {'total':<28} {time.monotonic() - total:7.0f} s")
        if failed:
            raise BuildError("\n".join(failed))
    return bin_dir()


# ------------------------------------------------------------------------------ npm packages


def node_dir() -> Path:
    """Where ``npm ci`` installs node/package-lock.json: named by a hash of the two files."""
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        h.update(name.encode() + b"\0" + (NODE_DIR / name).read_bytes())
    return cache_root() / "node" / h.hexdigest()[:16]


def node_bin_dir() -> Path:
    return node_dir() / "node_modules" / ".bin"


def build_node(out: Callable[[str], None] = print) -> Path:
    """Install the pinned npm packages (``npm ci``) unless installed; return their bin dir.

    ``npm ci`` installs exactly what the lock file records and checks each package's integrity
    hash; install scripts are not run (none of these packages needs one).
    """
    root = node_dir()
    stamp = root / ".installed"
    if stamp.is_file():
        out(f"npm packages up to date: {node_bin_dir()}")
        return node_bin_dir()
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("npm is not installed: the npm packages of the tests cannot be installed")
    with _locked(root.parent / f"{root.name}.lock"):
        if stamp.is_file():
            return node_bin_dir()
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(NODE_DIR / name, root / name)
        out(f"npm ci into {root}")
        start = time.monotonic()
        proc = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=root,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise BuildError(f"npm ci in {root} failed:\n{proc.stdout}{proc.stderr}".strip())
        stamp.write_text(f"{time.monotonic() - start:.0f} s\n")
        out(f"npm ci: {time.monotonic() - start:.0f} s")
    return node_bin_dir()


def main(argv: list[str]) -> int:
    cmd, args = (argv[0], argv[1:]) if argv else ("build", [])
    try:
        if cmd == "build":
            print(build(args or None, out=lambda line: print(line, file=sys.stderr, flush=True)))
        elif cmd == "node":
            print(build_node(out=lambda line: print(line, file=sys.stderr, flush=True)))
        elif cmd == "bin-dir":
            print(bin_dir())
        elif cmd == "check":
            problems = check_pins()
            for line in problems:
                print(line, file=sys.stderr)
            return 1 if problems else 0
        else:
            print(
                f"usage: {Path(__file__).name} build [TOOL ...] | node | bin-dir | check",
                file=sys.stderr,
            )
            return 2
    except BuildError as exc:
        print(f"toolchain: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
