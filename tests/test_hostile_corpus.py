"""The hostile corpus (issue 13): broken and malicious input, each case with its expected outcome.

Every case is a project (a copy of this one), something broken in it or around it, and one
`fluxboot` command (or the Pulumi program's way in, `<engine>`). It states its outcome:

- `reject`: exit status 2, every line of stderr names a file and, where there is one, the key
  (`key` must appear in it), nothing is written (the output directory, the repository, the
  project's stack files are as they were);
- `accept`: exit status 0;
- `findings`: exit status 1, `validate` found problems in the repository (`key` names them).

For every case, whatever its outcome: no exception escapes (a traceback), no line is longer than
a message may be, and no secret of the corpus appears in the output, in a written file or in
any object of the Git repositories. Classes are the issue's numbering (1-12; 13, the uninstall,
has no command of its own and is tested against a real API server in
tests/integration/test_uninstall.py).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from components.cli.main import main
from components.common.errors import MAX_MESSAGE, ConfigError, FluxGitopsError
from tests.conftest import GOLDEN_DIR, PROJECT_DIR

# Secrets the corpus hides in its input: none may ever come out.
TOKEN = "hostile-T0KEN-7f1c"
PASSWORD = "hostile-PASSW0RD-2b9e"
OUTSIDE = "hostile-OUTSIDE-4d0a"  # content of files beside the repository `validate` reads
SECRETS = (TOKEN, PASSWORD, OUTSIDE)
# The longest line a message may have: a problem's message, its file and key.
MAX_LINE = MAX_MESSAGE + 400

Outcome = Literal["reject", "accept", "findings"]


# ------------------------------------------------------------------------------ environment


@dataclass
class Env:
    """One case's world: a project, an output directory, repositories, files beside them."""

    project: Path
    tmp: Path
    manifests: Path
    env: dict[str, str] = field(default_factory=dict)
    server: str = ""  # host:port of the authenticating Git server, when the case needs one

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    @property
    def remote(self) -> Path:
        return self.tmp / "remote.git"

    @property
    def repo(self) -> Path:
        """A checkout for `validate DIR`: the rendered tree of k8s-01 (made on first use)."""
        path = self.tmp / "repo"
        if not path.exists():
            shutil.copytree(GOLDEN_DIR / "k8s-01", path)
        return path

    @property
    def outside(self) -> Path:
        """Files beside the repository and the project that nothing may read."""
        path = self.tmp / "outside"
        if not path.exists():
            path.mkdir()
            (path / "cm.yaml").write_text(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: default}\n"
                f"data: {{leak: {OUTSIDE}}}\n"
            )
            (path / "secret.txt").write_text(OUTSIDE + "\n")
        return path


def _yaml_file(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def stack(change: Callable[[dict[str, Any]], None], name: str = "k8s-01") -> Setup:
    """Change the `config:` map of Pulumi.<name>.yaml."""
    return lambda env: _yaml_file(
        env.project / f"Pulumi.{name}.yaml", lambda d: change(d["config"])
    )


def fleet(change: Callable[[dict[str, Any]], None]) -> Setup:
    """Change the fleet value in Pulumi.yaml."""
    return lambda env: _yaml_file(
        env.project / "Pulumi.yaml", lambda d: change(d["config"]["fleet"]["value"])
    )


def setting(top: str, value: Any, name: str = "k8s-01") -> Setup:
    """Set `flux-gitops:<top>` in a stack file (maps merge into the fleet's)."""
    return stack(lambda c: c.update({f"flux-gitops:{top}": value}), name)


def raw(name: str, content: bytes | str) -> Setup:
    def write(env: Env) -> None:
        path = env.project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)

    return write


def both(*setups: Setup) -> Setup:
    def run(env: Env) -> None:
        for setup in setups:
            setup(env)

    return run


def provider(**values: Any) -> Setup:
    """Change k8s-01's second notification provider."""
    return stack(
        lambda c: c["flux-gitops:notifications"]["providers"]["slack-errors"].update(values)
    )


def laughs(levels: int, indent: str = "  ") -> str:
    lines = [f"{indent}l0: &l0 [ha, ha, ha, ha, ha, ha, ha, ha, ha, ha]"]
    for i in range(1, levels + 1):
        lines.append(f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


Setup = Callable[[Env], None]
Check = Callable[[Env, str], None]


@dataclass(frozen=True)
class Case:
    """One hostile input and what must come of it."""

    id: str
    cls: int
    setup: Setup
    argv: tuple[str, ...]
    outcome: Outcome
    key: str = ""  # text the output must hold: the key, flag or file the problem is blamed on
    check: Check | None = None  # more to assert, given the env and everything printed
    server: bool = False  # needs the authenticating Git server
    project_args: bool = True  # prepend --project and --manifests-dir


RENDER = ("render", "k8s-01", "--out", "{out}")
RENDER_ALL = ("render", "--all", "--out", "{out}")
PUSH_DRY = ("push", "k8s-01", "--repo", "{remote}", "--dry-run", "--create-branch")
PUSH = ("push", "k8s-01", "--repo", "{remote}", "--create-branch")
VALIDATE_DIR = ("validate", "{repo}")
ENGINE = ("<engine>", "k8s-01")
NOTHING: Setup = lambda env: None  # noqa: E731 - a table entry


# ----------------------------------------------------------------------------- class 1


def _git(url: str) -> Setup:
    return setting("git", {"url": url, "knownHosts": "host ssh-ed25519 AAAA"})


CLASS_1 = [
    Case(
        "git.url user:password",
        1,
        _git(f"https://deploy:{PASSWORD}@host/x.git"),
        RENDER,
        "reject",
        "flux-gitops:git.url: 'https://***@host/x.git' holds a user name and password",
    ),
    Case(
        "git.url user:password, dry run",
        1,
        _git(f"https://deploy:{PASSWORD}@host/x.git"),
        PUSH_DRY,
        "reject",
        "gitToken",
    ),
    Case(
        "git.url token as user",
        1,
        _git(f"https://{TOKEN}@host/x.git"),
        RENDER,
        "reject",
        "flux-gitops:git.url: 'https://***@host/x.git' holds a user name or token",
    ),
    Case(
        "git.url token:x-oauth-basic",
        1,
        _git(f"https://{TOKEN}:x-oauth-basic@github.com/o/r"),
        RENDER,
        "reject",
        "flux-gitops:git.url",
    ),
    Case(
        "git.url password with @",
        1,
        _git(f"https://u:p@{PASSWORD}@host/x.git"),
        RENDER,
        "reject",
        "flux-gitops:git.url",
    ),
    Case(
        "git.url password with /",
        1,
        _git(f"https://u:p/{PASSWORD}@host/x.git"),
        RENDER,
        "reject",
        "flux-gitops:git.url",
    ),
    Case(
        "git.url password percent-encoded",
        1,
        _git(f"https://u:{PASSWORD}%40%2F@host/x.git"),
        RENDER,
        "reject",
        "flux-gitops:git.url",
    ),
    Case(
        "git.url http token",
        1,
        _git(f"http://{TOKEN}@host/x.git"),
        PUSH_DRY,
        "reject",
        "flux-gitops:git.url",
    ),
    Case(
        "git.url ssh password",
        1,
        _git(f"ssh://git:{PASSWORD}@host/x.git"),
        RENDER,
        "reject",
        "gitSshPrivateKey",
    ),
    Case(
        "git.url in the engine",
        1,
        _git(f"https://deploy:{PASSWORD}@host/x.git"),
        ENGINE,
        "reject",
        "flux-gitops:git.url",
    ),
    Case(
        "git.pushUrl token",
        1,
        setting("git", {"pushUrl": f"https://oauth2:{TOKEN}@host/x.git"}),
        PUSH_DRY,
        "reject",
        "flux-gitops:git.pushUrl",
    ),
    Case(
        "git.pushUrl ssh password",
        1,
        setting("git", {"pushUrl": f"ssh://git:{PASSWORD}@mirror/x.git"}),
        RENDER,
        "reject",
        "flux-gitops:git.pushUrl",
    ),
    Case(
        "sources[].url user:password",
        1,
        fleet(
            lambda f: f["sources"][0].update({"url": f"https://u:{PASSWORD}@charts.example.com"})
        ),
        RENDER,
        "reject",
        "Pulumi.yaml: flux-gitops:fleet.sources[0].url",
    ),
    Case(
        "sources[].url oci robot token",
        1,
        fleet(lambda f: f["sources"][1].update({"url": f"oci://robot:{TOKEN}@ghcr.io/charts"})),
        RENDER,
        "reject",
        "secretRef",
    ),
    Case(
        "sources[].url token only",
        1,
        fleet(lambda f: f["sources"][1].update({"url": f"https://{TOKEN}@charts.example.com"})),
        RENDER_ALL,
        "reject",
        "flux-gitops:fleet.sources[1].url",
    ),
    Case(
        "provider address userinfo",
        1,
        provider(address=f"https://bot:{PASSWORD}@chat.example.com/post"),
        RENDER,
        "reject",
        "notifications.providers.slack-errors.address",
    ),
    Case(
        "provider address in the engine",
        1,
        provider(address=f"https://bot:{PASSWORD}@chat.example.com/post"),
        ENGINE,
        "reject",
        "secretConfigKey",
    ),
    Case(
        "ssh login name is fine",
        1,
        _git("ssh://git@gitlab.example.com/fleet.git"),
        RENDER,
        "accept",
    ),
    Case(
        "pushUrl local path is fine",
        1,
        setting("git", {"pushUrl": "/srv/git/fleet.git"}),
        RENDER,
        "accept",
    ),
    Case(
        "pushUrl ssh login is fine",
        1,
        setting("git", {"pushUrl": "ssh://git@mirror/fleet.git"}),
        RENDER,
        "accept",
    ),
]


# ----------------------------------------------------------------------------- class 2


def _repo_server(userinfo: str) -> tuple[str, ...]:
    return ("push", "k8s-01", "--repo", f"http://{userinfo}@{{server}}/r.git", "--create-branch")


CLASS_2 = [
    Case(
        "--repo token, nothing listens",
        2,
        NOTHING,
        ("push", "k8s-01", "--repo", f"http://{TOKEN}@127.0.0.1:9/r.git"),
        "reject",
        "http://***@127.0.0.1:9/r.git",
    ),
    Case(
        "--repo user:password, nothing listens",
        2,
        NOTHING,
        ("push", "k8s-01", "--repo", f"https://u:{PASSWORD}@127.0.0.1:9/r.git"),
        "reject",
        "https://***@127.0.0.1:9",
    ),
    Case(
        "--repo password with @, nothing listens",
        2,
        NOTHING,
        ("push", "k8s-01", "--repo", f"http://u:a@{PASSWORD}@127.0.0.1:9/r.git"),
        "reject",
        "***@127.0.0.1:9",
    ),
    Case(
        "--repo password with /, nothing listens",
        2,
        NOTHING,
        ("push", "k8s-01", "--repo", f"http://u:a/{PASSWORD}@127.0.0.1:9/r.git"),
        "reject",
        "***@127.0.0.1:9",
    ),
    Case(
        "--repo dry run to an unknown host",
        2,
        NOTHING,
        ("push", "k8s-01", "--repo", f"http://u:{PASSWORD}@nowhere.invalid/r.git", "--dry-run"),
        "reject",
        "http://***@nowhere.invalid",
    ),
    Case(
        "--repo right credentials: pushed",
        2,
        NOTHING,
        _repo_server(f"deploy:{PASSWORD}"),
        "accept",
        "pushed ",
        server=True,
    ),
    Case(
        "--repo right credentials, percent-encoded @ and /",
        2,
        NOTHING,
        (
            "push",
            "k8s-01",
            "--repo",
            f"http://deploy:{PASSWORD}@{{server}}/r.git",
            "--create-branch",
            "--dry-run",
        ),
        "accept",
        "dry run",
        server=True,
    ),
    Case(
        "--repo wrong password: Git's own error",
        2,
        NOTHING,
        _repo_server(f"deploy:x{PASSWORD}"),
        "reject",
        "Authentication failed",
        server=True,
    ),
    Case(
        "--repo token alone: Git's own error",
        2,
        NOTHING,
        _repo_server(TOKEN),
        "reject",
        "http://***@",
        server=True,
    ),
    Case(
        "usage error echoing a URL",
        2,
        NOTHING,
        ("push", "k8s-01", "--bogus", f"https://u:{TOKEN}@h/x"),
        "reject",
        "unrecognized arguments",
    ),
    Case(
        "validate: a finding quoting a URL",
        2,
        lambda env: _repo_file(
            env,
            "repo.yaml",
            (
                "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
                "metadata: {name: leak, namespace: flux-system}\n"
                f"spec: {{interval: 1m, url: 'ftp://u:{PASSWORD}@host/x.git'}}\n"
            ),
        ),
        VALIDATE_DIR,
        "findings",
        "GitRepository flux-system/leak",
    ),
]


def _repo_file(env: Env, name: str, content: bytes | str, listed: bool = True) -> None:
    """A file in the checkout's apps overlay; listed in its kustomization, or the kustomization
    removed so that Flux generates one from every file."""
    path = env.repo / "apps/clusters/k8s-01" / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    if listed:
        _append_resource(env, name)
    else:
        (env.repo / "apps/clusters/k8s-01/kustomization.yaml").unlink()


def _append_resource(env: Env, name: str) -> None:
    path = env.repo / "apps/clusters/k8s-01/kustomization.yaml"
    kus = yaml.safe_load(path.read_text())
    kus.setdefault("resources", []).append(name)
    path.write_text(yaml.safe_dump(kus))


# ----------------------------------------------------------------------------- class 3

CLASS_3 = [
    Case(
        "secretConfigKey kubeconfig",
        3,
        provider(secretConfigKey="kubeconfig"),
        RENDER,
        "reject",
        "providers.slack-errors.secretConfigKey: 'kubeconfig' is the program's own secret",
    ),
    Case(
        "secretConfigKey gitSshPrivateKey",
        3,
        provider(secretConfigKey="gitSshPrivateKey"),
        RENDER,
        "reject",
        "providers.slack-errors.secretConfigKey",
    ),
    Case(
        "secretConfigKey gitToken",
        3,
        provider(secretConfigKey="gitToken"),
        ENGINE,
        "reject",
        "providers.slack-errors.secretConfigKey",
    ),
    Case(
        "secretConfigKey a settings key",
        3,
        provider(secretConfigKey="git"),
        RENDER,
        "reject",
        "is a settings key",
    ),
    Case(
        "secretConfigKey fleet",
        3,
        provider(secretConfigKey="fleet"),
        RENDER,
        "reject",
        "is a settings key",
    ),
    Case(
        "two providers, one secretName",
        3,
        provider(secretName="slack-webhook"),
        RENDER,
        "reject",
        "providers.slack-errors.secretName: 'slack-webhook' is also the secretName of provider 'slack'",
    ),
    Case(
        "secretName flux-system",
        3,
        provider(secretName="flux-system"),
        RENDER,
        "reject",
        "is the Git credentials Secret",
    ),
    Case(
        "secretName the image pull Secret",
        3,
        both(provider(secretName="regcred"), setting("flux", {"imagePullSecret": "regcred"})),
        RENDER,
        "reject",
        "is flux.imagePullSecret",
    ),
    Case(
        "secretName a substituteFrom Secret",
        3,
        both(
            provider(secretName="vars"),
            setting(
                "kustomizations", {"apps": {"substituteFrom": [{"kind": "Secret", "name": "vars"}]}}
            ),
        ),
        RENDER,
        "reject",
        "substituteFrom[0]",
    ),
    Case(
        "secretName a source's secretRef",
        3,
        both(
            fleet(lambda f: f["sources"][0].update({"secretRef": "helm-creds"})),
            provider(secretName="helm-creds"),
        ),
        RENDER,
        "reject",
        "is the Secret source 'prometheus-community' reads",
    ),
    Case(
        "two providers share a credential key",
        3,
        provider(secretConfigKey="slackWebhookUrl"),
        RENDER,
        "accept",
    ),
    Case(
        "a substituteFrom ConfigMap of that name",
        3,
        both(
            provider(secretName="vars"),
            setting(
                "kustomizations",
                {"apps": {"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]}},
            ),
        ),
        RENDER,
        "accept",
    ),
]


# ----------------------------------------------------------------------------- class 4

NOT_UTF8 = b"config:\n  flux-gitops:cluster: {kubeContext: caf\xe9}\n"


def _kubeconfig(content: bytes) -> Setup:
    return lambda env: (env.tmp / "kubeconfig").write_bytes(content)


STATUS = ("status", "--kubeconfig", "{tmp}/kubeconfig")

CLASS_4 = [
    Case(
        "non-UTF-8 Pulumi.yaml",
        4,
        raw("Pulumi.yaml", (PROJECT_DIR / "Pulumi.yaml").read_bytes() + b"# \xff\xfe\n"),
        RENDER,
        "reject",
        "Pulumi.yaml: is not UTF-8 text",
    ),
    Case(
        "non-UTF-8 stack file",
        4,
        raw("Pulumi.k8s-01.yaml", NOT_UTF8),
        RENDER,
        "reject",
        "Pulumi.k8s-01.yaml: is not UTF-8 text",
    ),
    Case(
        "non-UTF-8 stack file, render --all",
        4,
        raw("Pulumi.k8s-02.yaml", NOT_UTF8),
        RENDER_ALL,
        "reject",
        "Pulumi.k8s-02.yaml: is not UTF-8 text",
    ),
    Case(
        "non-UTF-8 stack file, validate",
        4,
        raw("Pulumi.k8s-02.yaml", NOT_UTF8),
        ("validate",),
        "reject",
        "Pulumi.k8s-02.yaml",
    ),
    Case(
        "UTF-16 stack file",
        4,
        raw("Pulumi.k8s-01.yaml", "config: {}\n".encode("utf-16")),
        RENDER,
        "reject",
        "is not UTF-8 text",
    ),
    Case(
        "new-cluster --from non-UTF-8",
        4,
        raw("Pulumi.broken.yaml", NOT_UTF8),
        ("new-cluster", "k8s-09", "--from", "broken"),
        "reject",
        "Pulumi.broken.yaml: is not UTF-8 text",
    ),
    Case(
        "new-cluster --from malformed",
        4,
        raw("Pulumi.broken.yaml", "config: {a: [\n"),
        ("new-cluster", "k8s-09", "--from", "broken"),
        "reject",
        "Pulumi.broken.yaml: YAML syntax error",
    ),
    Case(
        "new-cluster --from a list",
        4,
        raw("Pulumi.broken.yaml", "- a\n- b\n"),
        ("new-cluster", "k8s-09", "--from", "broken"),
        "reject",
        "Pulumi.broken.yaml",
    ),
    Case(
        "new-cluster --from missing",
        4,
        NOTHING,
        ("new-cluster", "k8s-09", "--from", "absent"),
        "reject",
        "Pulumi.absent.yaml does not exist",
    ),
    Case(
        "status: non-UTF-8 kubeconfig",
        4,
        _kubeconfig(b"apiVersion: v1\nusers: caf\xe9\n"),
        STATUS,
        "reject",
        "kubeconfig: is not UTF-8 text",
    ),
    Case(
        "status: malformed kubeconfig",
        4,
        _kubeconfig(b"clusters: [\n"),
        STATUS,
        "reject",
        "not a kubeconfig",
    ),
    Case(
        "status: a list as kubeconfig",
        4,
        _kubeconfig(b"- 1\n- 2\n"),
        STATUS,
        "reject",
        "not a kubeconfig",
    ),
    Case(
        "status: kubeconfig is a directory",
        4,
        lambda env: (env.tmp / "kubeconfig").mkdir(),
        STATUS,
        "reject",
        "is a directory",
    ),
    Case(
        "flux.version with a newline",
        4,
        setting("flux", {"version": "v2.9.4\n"}),
        RENDER,
        "reject",
        "flux-gitops:flux.version",
    ),
    Case(
        "manifestsPath a binary",
        4,
        both(
            raw("gotk.bin", b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00"),
            setting("flux", {"manifestsPath": "gotk.bin"}),
        ),
        RENDER,
        "reject",
        "gotk.bin: is not UTF-8 text",
    ),
    Case(
        "manifestsPath a directory",
        4,
        both(
            lambda env: (env.project / "gotk.d").mkdir(),
            setting("flux", {"manifestsPath": "gotk.d"}),
        ),
        RENDER,
        "reject",
        "flux-gitops:flux.manifestsPath",
    ),
    Case(
        "manifestsPath not YAML",
        4,
        both(raw("gotk.yaml", "a: [\n"), setting("flux", {"manifestsPath": "gotk.yaml"})),
        RENDER,
        "reject",
        "not a YAML install manifest",
    ),
    Case(
        "--out under a regular file",
        4,
        lambda env: (env.tmp / "file").write_text("x"),
        ("render", "k8s-01", "--out", "{tmp}/file/sub"),
        "reject",
        "is a file, not a directory",
    ),
    Case(
        "validate: a non-UTF-8 manifest",
        4,
        lambda env: _repo_file(env, "x.yaml", b"kind: caf\xe9\n", listed=False),
        VALIDATE_DIR,
        "findings",
        "is not UTF-8 text",
    ),
    Case(
        "validate: a non-UTF-8 listed manifest",
        4,
        lambda env: _repo_file(env, "x.yaml", b"kind: caf\xe9\n"),
        VALIDATE_DIR,
        "findings",
        "Kustomization flux-system/apps: kustomize build failed",
    ),
    Case(
        "validate: a malformed manifest",
        4,
        lambda env: _repo_file(env, "x.yaml", "kind: [\n", listed=False),
        VALIDATE_DIR,
        "findings",
        "failed to decode Kubernetes YAML from x.yaml",
    ),
    Case(
        "validate: a non-UTF-8 kustomization",
        4,
        lambda env: (env.repo / "apps/clusters/k8s-01/kustomization.yaml").write_bytes(
            b"resources: [caf\xe9]\n"
        ),
        VALIDATE_DIR,
        "findings",
        "is not UTF-8 text",
    ),
    Case(
        "validate: a broken gotk-sync.yaml",
        4,
        lambda env: (env.repo / "clusters/k8s-01/flux-system/gotk-sync.yaml").write_bytes(b"\xff"),
        VALIDATE_DIR,
        "findings",
        "clusters/k8s-01/flux-system/gotk-sync.yaml: ",
    ),
    Case(
        "validate: a broken gotk-components.yaml",
        4,
        lambda env: (env.repo / "clusters/k8s-01/flux-system/gotk-components.yaml").write_text(
            "- 1\n"
        ),
        VALIDATE_DIR,
        "findings",
        "not a Flux install manifest",
    ),
    Case(
        "no Pulumi.yaml",
        4,
        lambda env: (env.project / "Pulumi.yaml").unlink(),
        RENDER,
        "reject",
        "Pulumi.yaml: no such file",
    ),
    Case(
        "Pulumi.yaml a directory",
        4,
        lambda env: (env.project / "Pulumi.yaml").unlink() or (env.project / "Pulumi.yaml").mkdir(),
        RENDER,
        "reject",
        "Pulumi.yaml: is a directory",
    ),
    Case(
        "stack file a directory",
        4,
        lambda env: (
            (env.project / "Pulumi.k8s-01.yaml").unlink()
            or (env.project / "Pulumi.k8s-01.yaml").mkdir()
        ),
        RENDER,
        "reject",
        "Pulumi.k8s-01.yaml: is a directory",
    ),
    Case(
        "Pulumi.yaml a list",
        4,
        raw("Pulumi.yaml", "- a\n"),
        RENDER,
        "reject",
        "Pulumi.yaml: config",
    ),
    Case(
        "stack config a string",
        4,
        raw("Pulumi.k8s-01.yaml", "config: hello\n"),
        RENDER,
        "reject",
        "Pulumi.k8s-01.yaml: config",
    ),
    Case(
        "a config key that is a number",
        4,
        raw("Pulumi.k8s-01.yaml", "config:\n  123: x\n"),
        RENDER,
        "reject",
        "config keys must be strings",
    ),
    Case(
        "a template file that is not UTF-8",
        4,
        raw("repo-template/cluster/apps/clusters/@@cluster@@/x.yaml", b"\xff"),
        RENDER,
        "reject",
        "repo-template/cluster/apps/clusters/@@cluster@@/x.yaml: is not UTF-8 text",
    ),
    Case("empty stack file", 4, raw("Pulumi.k8s-01.yaml", ""), RENDER, "accept"),
    Case(
        "UTF-8 BOM",
        4,
        raw(
            "Pulumi.k8s-01.yaml",
            b"\xef\xbb\xbf" + (PROJECT_DIR / "Pulumi.k8s-01.yaml").read_bytes(),
        ),
        RENDER,
        "accept",
    ),
]


# ----------------------------------------------------------------------------- class 5

CLASS_5 = [
    Case(
        "alias bomb in a stack file",
        5,
        raw("Pulumi.k8s-01.yaml", "config:\n" + laughs(9)),
        RENDER,
        "reject",
        "Pulumi.k8s-01.yaml: refused: line 1, column 1: aliases would expand",
    ),
    Case(
        "alias bomb in Pulumi.yaml",
        5,
        raw("Pulumi.yaml", "name: flux-gitops\nconfig:\n" + laughs(12)),
        RENDER,
        "reject",
        "Pulumi.yaml: refused",
    ),
    Case(
        "alias bomb in new-cluster --from",
        5,
        raw("Pulumi.big.yaml", "config:\n" + laughs(9)),
        ("new-cluster", "k8s-09", "--from", "big"),
        "reject",
        "Pulumi.big.yaml: refused",
    ),
    Case(
        "an alias inside itself",
        5,
        raw("Pulumi.k8s-01.yaml", "config:\n  flux-gitops:cluster: &a {x: [*a]}\n"),
        RENDER,
        "reject",
        "refers to a node that contains it",
    ),
    Case(
        "nesting 10,000 deep",
        5,
        raw("Pulumi.k8s-01.yaml", "config: " + "[" * 10_000 + "]" * 10_000 + "\n"),
        RENDER,
        "reject",
        "Pulumi.k8s-01.yaml",
    ),
    Case(
        "40 MB stack file",
        5,
        raw("Pulumi.k8s-01.yaml", "config: {}\n" + "#" * (40 << 20) + "\n"),
        RENDER,
        "reject",
        "is larger than 1048576 bytes",
    ),
    Case(
        "a 500 KB duration",
        5,
        setting("kustomizations", {"apps": {"timeout": "9" * 500_000}}),
        RENDER,
        "reject",
        "(500000 characters)",
    ),
    Case("a 500 KB key", 5, setting("git", {"k" * 500_000: 1}), RENDER, "reject", "unknown key"),
    Case(
        "a huge map where a string goes",
        5,
        setting("git", {"branch": {f"k{i}": ["v" * 100] * 10 for i in range(50)}}),
        RENDER,
        "reject",
        "flux-gitops:git.branch",
    ),
    Case(
        "alias bomb in a patch",
        5,
        setting("flux", {"patches": [{"patch": laughs(9, ""), "target": {"kind": "Deployment"}}]}),
        RENDER,
        "reject",
        "flux-gitops:flux.patches[0]",
    ),
    Case(
        "alias bomb in a kubeconfig",
        5,
        _kubeconfig(laughs(9, "").encode()),
        STATUS,
        "reject",
        "aliases would expand",
    ),
    Case(
        "alias bomb in manifestsPath",
        5,
        both(raw("gotk.yaml", laughs(9, "")), setting("flux", {"manifestsPath": "gotk.yaml"})),
        RENDER,
        "reject",
        "aliases would expand",
    ),
    Case(
        "validate: alias bomb in the repository",
        5,
        lambda env: _repo_file(env, "x.yaml", laughs(9, ""), listed=False),
        VALIDATE_DIR,
        "findings",
        "aliases would expand",
    ),
    Case(
        "anchors as people use them",
        5,
        raw(
            "Pulumi.k8s-01.yaml",
            "config:\n  flux-gitops:kustomizations:\n    coreApps: &k {timeout: 7m}\n    apps: *k\n",
        ),
        RENDER,
        "accept",
    ),
]


# ----------------------------------------------------------------------------- class 6


def _flux(**values: Any) -> Setup:
    return setting("flux", values)


def _patch(patch: str, target: dict[str, str] | None = None) -> Setup:
    entry: dict[str, Any] = {"patch": patch}
    if target is not None:
        entry["target"] = target
    return _flux(patches=[entry])


DEPLOYMENT = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: flux-system\n"
)

CLASS_6 = [
    Case(
        "toleration key empty",
        6,
        _flux(tolerationKeys=[""]),
        RENDER,
        "reject",
        "flux-gitops:flux.tolerationKeys[0]",
    ),
    Case(
        "toleration key 'has space:!!'",
        6,
        _flux(tolerationKeys=["has space:!!"]),
        RENDER,
        "reject",
        "flux-gitops:flux.tolerationKeys[0]",
    ),
    Case(
        "toleration key prefix not DNS",
        6,
        _flux(tolerationKeys=["Example_Com/x"]),
        RENDER,
        "reject",
        "tolerationKeys[0]",
    ),
    Case(
        "toleration key twice",
        6,
        _flux(tolerationKeys=["a", "a"]),
        RENDER,
        "reject",
        "flux-gitops:flux.tolerationKeys",
    ),
    Case(
        "registry upper case path",
        6,
        _flux(registry="ghcr.io/FluxCD"),
        RENDER,
        "reject",
        "flux-gitops:flux.registry",
    ),
    Case(
        "registry with a scheme",
        6,
        _flux(registry="https://ghcr.io/fluxcd"),
        RENDER,
        "reject",
        "flux-gitops:flux.registry",
    ),
    Case(
        "registry with a space",
        6,
        _flux(registry="ghcr.io/flux cd"),
        RENDER,
        "reject",
        "flux-gitops:flux.registry",
    ),
    Case(
        "registry with a tag",
        6,
        _flux(registry="ghcr.io/fluxcd:v1"),
        RENDER,
        "reject",
        "flux-gitops:flux.registry",
    ),
    Case(
        "clusterDomain trailing dot",
        6,
        _flux(clusterDomain="cluster.local."),
        RENDER,
        "reject",
        "flux-gitops:flux.clusterDomain",
    ),
    Case(
        "clusterDomain underscore",
        6,
        _flux(clusterDomain="cluster_local"),
        RENDER,
        "reject",
        "flux-gitops:flux.clusterDomain",
    ),
    Case(
        "imagePullSecret upper case",
        6,
        _flux(imagePullSecret="RegCred"),
        RENDER,
        "reject",
        "flux-gitops:flux.imagePullSecret",
    ),
    Case(
        "imagePullSecret empty",
        6,
        _flux(imagePullSecret=""),
        RENDER,
        "reject",
        "flux-gitops:flux.imagePullSecret",
    ),
    Case(
        "patch not YAML",
        6,
        _patch("a: [", {"kind": "Deployment"}),
        RENDER,
        "reject",
        "flux-gitops:flux.patches[0]: patch is not YAML",
    ),
    Case(
        "patch a plain string",
        6,
        _patch("just text", {"kind": "Deployment"}),
        RENDER,
        "reject",
        "flux-gitops:flux.patches[0]",
    ),
    Case(
        "patch empty",
        6,
        _patch(""),
        RENDER,
        "reject",
        "flux-gitops:flux.patches[0]: patch is empty",
    ),
    Case(
        "patch JSON 6902 without target",
        6,
        _patch("- {op: add, path: /x, value: 1}"),
        RENDER,
        "reject",
        "needs a target",
    ),
    Case(
        "patch unknown op",
        6,
        _patch("- {op: frob, path: /x}", {"kind": "Deployment"}),
        RENDER,
        "reject",
        "op must be one of",
    ),
    Case(
        "patch without kind and name",
        6,
        _patch("spec: {replicas: 2}", {"kind": "Deployment"}),
        RENDER,
        "reject",
        "needs kind and metadata.name",
    ),
    Case(
        "patch a python tag",
        6,
        _patch("!!python/object/apply:os.system [id]", {"kind": "Deployment"}),
        RENDER,
        "reject",
        "patch is not YAML",
    ),
    Case(
        "patch that selects nothing",
        6,
        _patch(DEPLOYMENT.format(name="nothing")),
        RENDER,
        "reject",
        "flux-gitops:flux.patches[0]: no object is Deployment flux-system/nothing",
    ),
    Case(
        "patch that removes a missing path",
        6,
        _patch(
            "- {op: remove, path: /spec/none}", {"kind": "Deployment", "name": "source-controller"}
        ),
        PUSH_DRY,
        "reject",
        "flux-gitops:flux.patches[0]: operation 0",
    ),
    Case(
        "patch target regex",
        6,
        _patch("- {op: test, path: /kind, value: x}", {"name": "("}),
        RENDER,
        "reject",
        "flux-gitops:flux.patches[0].target.name",
    ),
    Case(
        "patch target selector",
        6,
        _patch("- {op: test, path: /kind, value: x}", {"labelSelector": "a b"}),
        RENDER,
        "reject",
        "flux-gitops:flux.patches[0].target.labelSelector",
    ),
    Case(
        "patch in the engine",
        6,
        _patch(DEPLOYMENT.format(name="nothing")),
        ENGINE,
        "reject",
        "flux-gitops:flux.patches[0]",
    ),
    Case(
        "provider channel with a newline",
        6,
        provider(channel="#flux\n"),
        RENDER,
        "reject",
        "providers.slack-errors.channel",
    ),
    Case(
        "alert event source name too long",
        6,
        stack(
            lambda c: c["flux-gitops:notifications"]["alerts"]["errors"].update(
                {"eventSources": [{"kind": "Kustomization", "name": "x" * 300}]}
            )
        ),
        RENDER,
        "reject",
        "alerts.errors.eventSources[0].name",
    ),
    Case(
        "usual flux values",
        6,
        _flux(
            tolerationKeys=["node-role.kubernetes.io/infra"],
            registry="registry.example.com:5000/mirror/fluxcd",
            clusterDomain="k8s.example.internal",
            imagePullSecret="regcred",
        ),
        RENDER,
        "accept",
    ),
    Case(
        "a patch that applies",
        6,
        _patch(
            "- {op: add, path: /spec/replicas, value: 2}",
            {"kind": "Deployment", "name": "source-controller"},
        ),
        RENDER,
        "accept",
    ),
]


# ----------------------------------------------------------------------------- class 7


def _branch_flag(branch: str) -> tuple[str, ...]:
    return ("push", "k8s-01", "--repo", "{remote}", f"--branch={branch}", "--create-branch")


CLASS_7 = [
    *(
        Case(
            f"git.branch {b!r}",
            7,
            setting("git", {"branch": b}),
            RENDER,
            "reject",
            "flux-gitops:git.branch",
        )
        for b in (
            "main\n",
            "HEAD",
            "-x",
            "@",
            "refs/heads/main",
            "a..b",
            "a b",
            "a:b",
            "feature/",
            "x.lock",
        )
    ),
    *(
        Case(f"--branch {b!r}", 7, NOTHING, _branch_flag(b), "reject", "argument --branch")
        for b in ("main\n", "HEAD", "-x", "@", "refs/heads/main", "a~1")
    ),
    Case(
        "git.interval with a newline",
        7,
        setting("git", {"interval": "1m\n"}),
        RENDER,
        "reject",
        "flux-gitops:git.interval",
    ),
    Case(
        "timeout with a newline",
        7,
        setting("kustomizations", {"apps": {"timeout": "5m\n"}}),
        RENDER,
        "reject",
        "flux-gitops:kustomizations.apps.timeout",
    ),
    Case(
        "syncInterval with a newline",
        7,
        _flux(syncInterval="10m\n"),
        RENDER,
        "reject",
        "flux-gitops:flux.syncInterval",
    ),
    Case(
        "source interval with a newline",
        7,
        fleet(lambda f: f["sources"][0].update({"interval": "1h\n"})),
        RENDER,
        "reject",
        "Pulumi.yaml: flux-gitops:fleet.sources[0].interval",
    ),
    Case(
        "manifestsSha256 with a newline",
        7,
        _flux(manifestsSha256="a" * 64 + "\n"),
        RENDER,
        "reject",
        "flux-gitops:flux.manifestsSha256",
    ),
    Case(
        "substitute name with a newline",
        7,
        setting("kustomizations", {"apps": {"substitute": {"a\n": "b"}}}),
        RENDER,
        "reject",
        "flux-gitops:kustomizations.apps",
    ),
    Case(
        "cluster.name with a newline",
        7,
        setting("cluster", {"name": "k8s-01\n"}),
        RENDER,
        "reject",
        "flux-gitops:cluster.name",
    ),
    Case(
        "a stack argument with a path",
        7,
        NOTHING,
        ("render", "../../etc/passwd", "--list"),
        "reject",
        "is not a stack name",
    ),
    Case(
        "a branch in the engine",
        7,
        setting("git", {"branch": "main\n"}),
        ENGINE,
        "reject",
        "flux-gitops:git.branch",
    ),
    Case("a usual branch", 7, setting("git", {"branch": "release/2025.1"}), RENDER, "accept"),
]


# ----------------------------------------------------------------------------- class 8

CLASS_8 = [
    Case(
        "ssh URL without knownHosts",
        8,
        setting("git", {"url": "ssh://git@host/x.git", "knownHosts": None}),
        RENDER,
        "reject",
        "flux-gitops:git.knownHosts",
    ),
    Case(
        "ssh URL without knownHosts, engine",
        8,
        setting("git", {"url": "ssh://git@host/x.git", "knownHosts": None}),
        ENGINE,
        "reject",
        "flux-gitops:git.knownHosts",
    ),
    Case(
        "https URL without gitToken, engine",
        8,
        setting("git", {"url": "https://host/x.git"}),
        ENGINE,
        "reject",
        "flux-gitops:gitToken: not set",
    ),
    Case(
        "provider secret missing, engine",
        8,
        provider(secretConfigKey="pagerKey"),
        ENGINE,
        "reject",
        "flux-gitops:pagerKey: not set",
    ),
    Case(
        "https URL for the CLI needs no token",
        8,
        setting("git", {"url": "https://host/x.git"}),
        RENDER,
        "accept",
    ),
    Case(
        "a secret in plain text",
        8,
        setting("slackWebhookUrl", f"https://hooks.example.com/{TOKEN}"),
        RENDER,
        "reject",
        "flux-gitops:slackWebhookUrl: is a secret",
    ),
]


# ----------------------------------------------------------------------------- class 9

CLASS_9 = [
    Case(
        "--manifests-dir missing",
        9,
        NOTHING,
        ("--project", "{project}", "--manifests-dir", "{tmp}/missing", *RENDER),
        "reject",
        "--manifests-dir",
        project_args=False,
    ),
    Case(
        "--manifests-dir a file",
        9,
        lambda env: (env.tmp / "file").write_text("x"),
        ("--project", "{project}", "--manifests-dir", "{tmp}/file", *RENDER),
        "reject",
        "--manifests-dir",
        project_args=False,
    ),
    Case(
        "FLUXBOOT_MANIFESTS_DIR missing",
        9,
        lambda env: env.env.update(FLUXBOOT_MANIFESTS_DIR=str(env.tmp / "missing")),
        ("--project", "{project}", *RENDER),
        "reject",
        "FLUXBOOT_MANIFESTS_DIR=",
        project_args=False,
    ),
    Case(
        "--project missing",
        9,
        NOTHING,
        ("--project", "{tmp}/missing", "render", "k8s-01", "--list"),
        "reject",
        "missing: no such directory",
        project_args=False,
    ),
    Case(
        "--kubeconfig missing",
        9,
        NOTHING,
        ("status", "--kubeconfig", "{tmp}/missing"),
        "reject",
        "missing: no such file",
    ),
    Case(
        "manifestsPath missing",
        9,
        setting("flux", {"manifestsPath": "nowhere.yaml"}),
        RENDER,
        "reject",
        "flux-gitops:flux.manifestsPath",
    ),
]


# ----------------------------------------------------------------------------- class 10


def _removed_provider_is_gone(env: Env, _printed: str) -> None:
    listed = subprocess.run(
        ["git", "--git-dir", str(env.remote), "ls-tree", "-r", "--name-only", "main"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert "clusters/k8s-01/notifications/provider-slack-errors.yaml" not in listed
    assert "clusters/k8s-01/notifications/provider-slack.yaml" in listed


def _pushed_then_provider_removed(env: Env) -> None:
    assert (
        main(
            [
                "--project",
                str(env.project),
                "--manifests-dir",
                str(env.manifests),
                *[a.format(remote=env.remote) for a in PUSH],
            ]
        )
        == 0
    )
    stack(lambda c: c.pop("flux-gitops:notifications"))(env)


def _rendered_before(env: Env) -> None:
    env.out.mkdir()
    (env.out / "stale.yaml").write_text("left from before\n")


CLASS_10 = [
    Case(
        "push after a provider is removed",
        10,
        _pushed_then_provider_removed,
        ("push", "k8s-01", "--repo", "{remote}"),
        "accept",
        "D clusters/k8s-01/notifications/provider-slack-errors.yaml",
        check=_removed_provider_is_gone,
    ),
    Case("render into a non-empty directory", 10, _rendered_before, RENDER, "reject", "not empty"),
    Case(
        "render --clean into it",
        10,
        _rendered_before,
        (*RENDER, "--clean"),
        "accept",
        check=lambda env, _: _assert(not (env.out / "stale.yaml").exists()),
    ),
    Case(
        "render --clean of the project",
        10,
        NOTHING,
        ("render", "k8s-01", "--out", "{project}", "--clean"),
        "reject",
        "refusing to empty",
    ),
    Case(
        "render --clean of a checkout",
        10,
        lambda env: subprocess.run(["git", "init", "-q", str(env.out)], check=True),
        (*RENDER, "--clean"),
        "reject",
        "a Git checkout",
    ),
]


def _assert(condition: bool) -> None:
    assert condition


# ----------------------------------------------------------------------------- class 11


def _escape(how: str) -> Setup:
    def setup(env: Env) -> None:
        apps = env.repo / "apps/clusters/k8s-01"
        outside = env.outside
        if how == "resource":
            _append_resource(env, "../" * 12 + str(outside.relative_to("/")) + "/cm.yaml")
        elif how == "symlink file":
            (apps / "cm.yaml").symlink_to(outside / "cm.yaml")
            _append_resource(env, "cm.yaml")
        elif how == "symlink dir":
            (outside / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
            (apps / "ext").symlink_to(outside)
            _append_resource(env, "ext")
        elif how == "generator file":
            path = apps / "kustomization.yaml"
            kus = yaml.safe_load(path.read_text())
            kus["secretGenerator"] = [{"name": "g", "files": [str(outside / "secret.txt")]}]
            path.write_text(yaml.safe_dump(kus))
        elif how == "etc passwd":
            _append_resource(env, "../" * 12 + "etc/passwd")
        elif how == "symlink path":
            shutil.rmtree(apps)
            apps.symlink_to(outside)
        elif how == "symlink kustomization":
            (apps / "kustomization.yaml").unlink()
            (apps / "kustomization.yaml").symlink_to(outside / "cm.yaml")
        elif how == "symlink gotk-sync":
            sync = env.repo / "clusters/k8s-01/flux-system/gotk-sync.yaml"
            sync.unlink()
            sync.symlink_to(outside / "cm.yaml")
        elif how == "inside":
            (env.repo / "shared").mkdir()
            (env.repo / "shared/cm.yaml").write_text(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s, namespace: default}\n"
            )
            (apps / "cm.yaml").symlink_to("../../../shared/cm.yaml")
            _append_resource(env, "cm.yaml")

    return setup


CLASS_11 = [
    *(
        Case(
            f"validate: {how}",
            11,
            _escape(how),
            VALIDATE_DIR,
            "findings",
            "not in or below the repository",
        )
        for how in (
            "resource",
            "symlink file",
            "symlink dir",
            "generator file",
            "etc passwd",
            "symlink path",
            "symlink kustomization",
            "symlink gotk-sync",
        )
    ),
    Case(
        "validate: a symlink inside the repository", 11, _escape("inside"), VALIDATE_DIR, "accept"
    ),
]


# ----------------------------------------------------------------------------- class 12

CLASS_12 = [
    Case(
        "two stacks, one cluster",
        12,
        raw("Pulumi.k8s-03.yaml", "config:\n  flux-gitops:cluster: {name: k8s-01}\n"),
        RENDER_ALL,
        "reject",
        "stacks k8s-01, k8s-03 all render cluster 'k8s-01'",
    ),
    Case(
        "two stacks, one cluster, one rendered",
        12,
        raw("Pulumi.k8s-03.yaml", "config:\n  flux-gitops:cluster: {name: k8s-02}\n"),
        ("render", "k8s-02", "--out", "{out}"),
        "reject",
        "Pulumi.k8s-02.yaml: flux-gitops:cluster.name",
    ),
    Case(
        "two stacks, one cluster, engine",
        12,
        raw("Pulumi.k8s-03.yaml", "config:\n  flux-gitops:cluster: {name: k8s-01}\n"),
        ENGINE,
        "reject",
        "Pulumi.k8s-01.yaml, Pulumi.k8s-03.yaml",
    ),
    Case(
        "new cluster another stack renders",
        12,
        raw("Pulumi.k8s-03.yaml", "config:\n  flux-gitops:cluster: {name: k8s-09}\n"),
        ("new-cluster", "k8s-09"),
        "reject",
        "flux-gitops:cluster.name",
    ),
    Case(
        "empty author name",
        12,
        setting("git", {"author": {"name": ""}}),
        PUSH,
        "reject",
        "flux-gitops:git.author.name",
    ),
    Case(
        "author name with angle brackets",
        12,
        setting("git", {"author": {"name": "a <b>"}}),
        PUSH,
        "reject",
        "flux-gitops:git.author.name",
    ),
    Case(
        "empty author e-mail",
        12,
        setting("git", {"author": {"email": ""}}),
        PUSH,
        "reject",
        "flux-gitops:git.author.email",
    ),
    Case(
        "a usual author",
        12,
        setting("git", {"author": {"name": "Zoë O'Brien", "email": "zoe@example.org"}}),
        PUSH,
        "accept",
    ),
]

CORPUS: list[Case] = [
    *CLASS_1,
    *CLASS_2,
    *CLASS_3,
    *CLASS_4,
    *CLASS_5,
    *CLASS_6,
    *CLASS_7,
    *CLASS_8,
    *CLASS_9,
    *CLASS_10,
    *CLASS_11,
    *CLASS_12,
]


def test_the_corpus_covers_every_class_with_distinct_cases() -> None:
    assert len({c.id for c in CORPUS}) == len(CORPUS)
    assert {c.cls for c in CORPUS} == set(range(1, 13))
    assert len(CORPUS) >= 150
    for cls in range(1, 13):
        outcomes = {c.outcome for c in CORPUS if c.cls == cls}
        assert outcomes & {"reject", "findings"}, cls  # each class has hostile cases


# ----------------------------------------------------------------------------------- runner


@pytest.fixture
def env(tmp_path: Path, manifests_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.k8s-01.yaml", "Pulumi.k8s-02.yaml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    shutil.copytree(PROJECT_DIR / "repo-template", project / "repo-template")
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=main", str(tmp_path / "remote.git")],
        check=True,
    )
    # nothing may be downloaded: the local mirror or a clear error
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FLUXBOOT_MANIFESTS_URL", "http://127.0.0.1:9/{version}/install.yaml")
    monkeypatch.delenv("FLUXBOOT_MANIFESTS_DIR", raising=False)
    yield Env(project=project, tmp=tmp_path, manifests=manifests_dir)


def _run_engine(env: Env, stack_name: str) -> tuple[int, str, str]:
    """The Pulumi program's way in (`__main__.py`): the engine's config, then the render."""
    from pulumi.runtime import config as runtime_config

    from components.engine_config import load_engine_config
    from components.render.pipeline import render_config
    from tests.pulumi_harness import engine_config

    secrets = {"slackWebhookUrl": "x", "slackErrorsWebhookUrl": "y", "kubeconfig": "z"}
    values, secret = engine_config(env.project, stack_name, secrets)
    runtime_config.set_all_config(values, secret)
    try:
        config = load_engine_config(env.project, stack_name)
        render_config(config, env.project, env.manifests)
    except ConfigError as err:
        return 2, "", "".join(f"{p}\n" for p in err.problems)
    except FluxGitopsError as err:
        return 2, "", f"{err}\n"
    finally:
        runtime_config.set_all_config({}, [])
    return 0, "", ""


def _run(env: Env, case: Case) -> tuple[int, str, str]:
    fields = {
        "out": env.out,
        "remote": env.remote,
        "project": env.project,
        "tmp": env.tmp,
        "server": env.server,
    }
    if any("{repo}" in a for a in case.argv):
        fields["repo"] = env.repo
    args = [a.format(**fields) if "{" in a else a for a in case.argv]
    if args[0] == "<engine>":
        return _run_engine(env, args[1])
    if case.project_args:
        args = ["--project", str(env.project), "--manifests-dir", str(env.manifests), *args]
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(env.env)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exit_:  # argparse's usage errors
                code = int(exit_.code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue(), err.getvalue()


def _tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and ".git" not in p.parts
    }


def _refs(remote: Path) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), "for-each-ref"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _git_objects(remote: Path) -> bytes:
    done = subprocess.run(
        ["git", "--git-dir", str(remote), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize("case", CORPUS, ids=[f"{c.cls}-{c.id}" for c in CORPUS])
def test_hostile_corpus(case: Case, env: Env, tmp_path: Path) -> None:
    with ExitStack() as stack_:
        if case.server:
            from tests.git_http import git_http_server

            root = tmp_path / "served"
            subprocess.run(
                ["git", "init", "-q", "--bare", "--initial-branch=main", str(root / "r.git")],
                check=True,
            )
            env.server = stack_.enter_context(git_http_server(root, "deploy", PASSWORD))
        case.setup(env)
        stacks_before = {
            p.name: p.read_bytes() for p in env.project.glob("Pulumi.*.yaml") if p.is_file()
        }
        out_before, refs_before = _tree(env.out), _refs(env.remote)

        code, stdout, stderr = _run(env, case)  # an escaping exception fails the test here
        printed = stdout + stderr

        expected = {"reject": 2, "accept": 0, "findings": 1}[case.outcome]
        assert code == expected, printed[-2000:]
        assert "Traceback" not in printed
        for line in printed.splitlines():
            assert len(line) <= MAX_LINE or line.startswith(("+", "-", " ")), line[:300]
        if case.key:
            assert case.key in printed, printed[-2000:]
        if case.outcome == "reject":
            lines = stderr.splitlines()
            assert lines, "a refusal says why"
            for line in lines:
                assert ": " in line, line  # `file: key: message`, `fluxboot cmd: message`
            assert _tree(env.out) == out_before, "nothing written"
            assert _refs(env.remote) == refs_before, "nothing pushed"
            stacks_after = {
                p.name: p.read_bytes() for p in env.project.glob("Pulumi.*.yaml") if p.is_file()
            }
            assert stacks_after == stacks_before, "no stack file written"
        if case.check is not None:
            case.check(env, printed)

        written = b"".join(_tree(env.out).values())
        objects = _git_objects(env.remote)
        if case.server:
            objects += _git_objects(tmp_path / "served" / "r.git")
        for secret in SECRETS:
            assert secret not in printed, f"{secret} printed"
            assert secret.encode() not in written, f"{secret} written under --out"
            assert secret.encode() not in objects, f"{secret} in a Git object"


def test_a_few_cases_as_a_user_runs_them(tmp_path: Path, manifests_dir: Path) -> None:
    """The installed console script, in a process of its own: exit status and stderr as a
    terminal sees them (no traceback, no secret), for one case of three classes."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "repo-template", project / "repo-template")
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", project / "Pulumi.yaml")
    cases = {
        "Pulumi.k8s-01.yaml": NOT_UTF8,
        "Pulumi.k8s-02.yaml": ("config:\n" + laughs(9)).encode(),
        "Pulumi.k8s-03.yaml": f"config:\n  flux-gitops:git:\n    url: https://u:{PASSWORD}@h/x.git\n".encode(),
    }
    for name, content in cases.items():
        (project / name).write_bytes(content)
    fluxboot = Path(sys.executable).parent / "fluxboot"
    for stack_name in ("k8s-01", "k8s-02", "k8s-03"):
        done = subprocess.run(
            [str(fluxboot), "--project", str(project), "--manifests-dir", str(manifests_dir),
             "render", stack_name, "--out", str(tmp_path / "out")],
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and PASSWORD not in done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stderr.startswith(f"Pulumi.{stack_name}.yaml: ")
    assert not (tmp_path / "out").exists()
