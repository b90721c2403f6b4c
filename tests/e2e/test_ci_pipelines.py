"""The CI templates, run on this machine: the GitLab pipelines and one job of the GitHub workflow.

`.gitlab-ci.yml` and the child pipeline `.ci/stack_jobs.py` generates run under gitlab-ci-local
(npm, pinned by tests/e2e/toolchain/node/) with its shell executor, in a throwaway Git copy of
this repository; the runner images cannot be pulled here, so `--force-shell-executor` runs every
job in a shell whose PATH starts with the toolchain (the `pulumi` CLI of the pinned release, the
provider plugin, kubectl). The stacks' backend is a local `file://` directory and their clusters
one local control plane; backend and passphrase reach the jobs as CI variables do
(`--variables-file`, outside the repository), and no secret value may appear in any job log.

What is substituted, and only this (README, "Preview in CI"):

- `image: python:3.11`: the jobs run on this machine's Python 3.11 (`--force-shell-executor`);
  the templates' own conditions then skip apt-get (make and git are here) and the Pulumi
  installer (`pulumi version` already answers the pinned release);
- the engine's download of the Kubernetes provider plugin: the toolchain's is installed in the
  runner's PULUMI_HOME beforehand, and automatic plugin downloads are off;
- the Flux install manifests come from the test data (FLUXBOOT_MANIFESTS_DIR), not GitHub;
- the `test` job's `make test` runs lint and a narrowed pytest (PYTEST_ARGS, see
  TEST_JOB_PYTEST_ARGS) and leaves this module out (FLUX_GITOPS_INSIDE_CI_LOCAL), so the
  pipeline never runs itself;
- workflow:rules: gitlab-ci-local applies their variables but never drops a pipeline, so the
  rules are checked by gitlab-ci-local's rules engine on a probe job that carries them.

The GitHub workflow is linted with actionlint (a Go module of the toolchain), and the `stacks`
job and one `preview` job of its matrix run their `run:` steps with bash as the runner does, with
the workflow's `env:` and expressions evaluated; the three `uses:` steps are substituted by what
they leave behind (the checkout, Python 3.11, the pinned `pulumi` on PATH), each checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.conftest import PROJECT_DIR
from tests.e2e.conftest import INSIDE_CI_LOCAL_ENV, Timeline
from tests.e2e.control_plane import LocalControlPlane
from tests.e2e.toolchain import toolchain

pytestmark = pytest.mark.e2e

# what the local `test` job's `make test` runs after lint: the tests of the CI files themselves
# (the whole suite is `make test` outside; here the point is that the job's script works)
TEST_JOB_PYTEST_ARGS = "-q -p no:cacheprovider tests/test_ci_files.py"
# GitLab's predefined variables the runs set, as GitLab would for that kind of pipeline
PREDEFINED = (
    "CI_PIPELINE_SOURCE",
    "CI_COMMIT_BRANCH",
    "CI_COMMIT_REF_NAME",
    "CI_MERGE_REQUEST_IID",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
    "CI_COMMIT_TAG",
)
MERGE_REQUEST = {
    "CI_PIPELINE_SOURCE": "merge_request_event",
    "CI_MERGE_REQUEST_IID": "16",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "k8s-03",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
    "CI_COMMIT_REF_NAME": "k8s-03",
}
DEFAULT_BRANCH = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main"}
K8S_03_ERROR = (
    "Pulumi.k8s-03.yaml: flux-gitops:kustomizations.apps.timeout: '5 minutes' is not a "
    "duration; write it like 30s, 5m, 1h or 1h30m"
)


# ------------------------------------------------------------------------------------ tools


@pytest.fixture(scope="session")
def gitlab_ci_local() -> Path:
    """gitlab-ci-local of node/package-lock.json (`npm ci` into the cache, once)."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: gitlab-ci-local is an npm package")
    try:
        bin_dir = toolchain.build_node(
            out=lambda line: print(line, file=sys.__stderr__, flush=True)
        )
    except toolchain.BuildError as err:
        pytest.fail(f"gitlab-ci-local could not be installed: {err}")
    return bin_dir / "gitlab-ci-local"


@pytest.fixture(scope="session")
def actionlint(toolchain_bin: Path) -> Path:
    try:
        return toolchain.build(["actionlint"]) / "actionlint"
    except toolchain.BuildError as err:
        pytest.fail(f"actionlint could not be built: {err}")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def copy_repository(dest: Path) -> Path:
    """The project's tracked files (as they are in the work tree) in a new Git repository whose
    origin is a GitLab project, as a runner checks it out."""
    dest.mkdir(parents=True)
    tracked = git(PROJECT_DIR, "ls-files", "-z").split("\0")
    for rel in filter(None, tracked):
        src = PROJECT_DIR / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    commit(dest, "the team's repository")
    git(dest, "remote", "add", "origin", "git@gitlab.example.com:platform/flux-gitops.git")
    git(dest, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(dest, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    return dest


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(
        repo,
        "-c",
        "user.name=flux-gitops tests",
        "-c",
        "user.email=tests@flux-gitops.invalid",
        "commit",
        "-q",
        "-m",
        message,
    )


# ------------------------------------------------------------------------------------ world


@dataclass
class JobRun:
    name: str
    result: str  # PASS or FAIL
    seconds: float | None


@dataclass
class Pipeline:
    """One gitlab-ci-local run: its output and every job's log and result."""

    title: str
    returncode: int
    output: str
    seconds: float
    jobs: dict[str, JobRun] = field(default_factory=dict)

    def job(self, name: str) -> JobRun:
        assert name in self.jobs, f"{name} did not run in {self.title}:\n{self.output}"
        return self.jobs[name]


@dataclass
class World:
    """A copy of the repository, its stacks configured as the team configures them (secrets
    encrypted in the stack files, state in the backend), a control plane, a GitOps remote."""

    root: Path
    repo: Path
    bin_dir: Path
    cluster: LocalControlPlane
    remote: Path
    backend: Path
    passphrase: str
    secret_values: list[str]
    manifests_dir: Path
    logs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def runner_env(self) -> dict[str, str]:
        """The environment the runner gives its shell: what the image and runner would provide."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PULUMI_", "KUBE", "CI_", "GITLAB_", "GITHUB_", "GCL_"))
            and k not in ("VIRTUAL_ENV", "PYTEST_ADDOPTS", "FLUX_GITOPS_E2E_KUBECONFIG")
        }
        env.update(
            PATH=f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}",
            # the provider plugin a real runner's engine would download
            PULUMI_HOME=str(self.root / "pulumi-home"),
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            PULUMI_IGNORE_AMBIENT_PLUGINS="true",
            KUBECONFIG=str(self.root / "no-default-kubeconfig"),
            FLUXBOOT_MANIFESTS_DIR=str(self.manifests_dir),
            FLUX_MANIFESTS_DIR=str(self.manifests_dir),
            NO_COLOR="1",
        )
        return env

    def pulumi(self, *args: str, stdin: str | None = None) -> str:
        """`pulumi` as a team member runs it on their machine (not in CI)."""
        env = self.runner_env
        env.update(
            PULUMI_BACKEND_URL=f"file://{self.backend}",
            PULUMI_CONFIG_PASSPHRASE=self.passphrase,
            PULUMI_SKIP_UPDATE_CHECK="true",
        )
        proc = subprocess.run(
            [str(self.bin_dir / "pulumi"), *args, "--non-interactive"],
            cwd=self.repo,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc
        return proc.stdout

    def ci_variables_home(self) -> Path:
        """The masked CI/CD variables, outside the repository: gitlab-ci-local's home
        `.gitlab-ci-local/variables.yml` (`global:`), which reaches child pipelines too, as
        GitLab's project variables do (`--variable` values reach only the parent pipeline)."""
        home = self.root / "gcl-home"
        (home / ".gitlab-ci-local").mkdir(parents=True, exist_ok=True)
        values = {
            "PULUMI_BACKEND_URL": f"file://{self.backend}",
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
        }
        (home / ".gitlab-ci-local" / "variables.yml").write_text(yaml.safe_dump({"global": values}))
        return home


def configure_stack(world: World, stack: str, secret_config: dict[str, str]) -> None:
    world.pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
    for key, value in secret_config.items():
        world.pulumi("config", "set", "-s", stack, "--secret", f"flux-gitops:{key}", stdin=value)
    for key, value in (("git.pushUrl", str(world.remote)), ("git.createBranch", "true")):
        world.pulumi("config", "set", "-s", stack, "--path", f"flux-gitops:{key}", value)


@pytest.fixture(scope="module")
def world(
    toolchain_bin: Path, tmp_path_factory: pytest.TempPathFactory, manifests_dir: Path
) -> Iterator[World]:
    root = tmp_path_factory.mktemp("ci-local")
    repo = copy_repository(root / "repo")
    remote = root / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    (root / "backend").mkdir()
    (root / "pulumi-home").mkdir()
    key = ed25519.Ed25519PrivateKey.generate()
    ssh_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    slack = {
        "slackWebhookUrl": f"https://hooks.slack.invalid/services/T0/B0/{secrets.token_hex(12)}",
        "slackErrorsWebhookUrl": f"https://hooks.slack.invalid/services/T0/B1/{secrets.token_hex(12)}",
    }
    with LocalControlPlane(bin_dir=toolchain_bin, workdir=root / "cluster", context="k8s-01") as cp:
        kubeconfig = cp.kubeconfig
        client_key = kubeconfig.split("client-key-data: ")[1].split()[0]
        w = World(
            root=root,
            repo=repo,
            bin_dir=toolchain_bin,
            cluster=cp,
            remote=remote,
            backend=root / "backend",
            passphrase=f"ci-{secrets.token_hex(16)}",
            secret_values=[],
            manifests_dir=manifests_dir,
        )
        # the secrets of the jobs' environment and of the stack files: none may reach a log
        body = ssh_key.splitlines()[1]
        w.secret_values = [w.passphrase, *slack.values(), body, client_key[:60], client_key[-60:]]
        w.pulumi(
            "plugin",
            "install",
            "resource",
            "kubernetes",
            toolchain.PINS["pulumi_kubernetes"]["version"],
            "--file",
            str(toolchain_bin / "pulumi-resource-kubernetes"),
        )
        # both clusters' stacks on the one control plane: previews and one up need no more
        configure_stack(
            w, "k8s-01", {"kubeconfig": kubeconfig, "gitSshPrivateKey": ssh_key, **slack}
        )
        configure_stack(
            w, "k8s-02", {"kubeconfig": kubeconfig, "slackWebhookUrl": slack["slackWebhookUrl"]}
        )
        commit(repo, "k8s-01, k8s-02: stacks and their encrypted secrets")
        yield w


# ------------------------------------------------------------------------------------ GitLab


# gitlab-ci-local's lines: `JOB > output`, `JOB $ command`, `JOB finished in 2.5 s`, and the
# summary ` PASS  JOB`; a child pipeline's jobs carry a `[TRIGGER] -> ` prefix
CHILD = r"(?:\[[^\]]+\] -> )?"
SUMMARY = re.compile(rf"^\s*(PASS|FAIL)\s+{CHILD}(\S+)", re.M)
FINISHED = re.compile(rf"^\s*{CHILD}(\S+)\s+finished in ([\d.]+) (ms|s|min)", re.M)


def run_pipeline(
    world: World,
    gcl: Path,
    title: str,
    variables: dict[str, str],
    *args: str,
    unset: tuple[str, ...] = (),
) -> Pipeline:
    """gitlab-ci-local in the repository copy, as the runner: every job in a shell."""
    state = world.repo / ".gitlab-ci-local"
    shutil.rmtree(state, ignore_errors=True)  # each pipeline starts from nothing
    cmd = [
        str(gcl),
        "--force-shell-executor",
        "--no-color",
        "--home",
        str(world.ci_variables_home()),
        "--variable",
        f"{INSIDE_CI_LOCAL_ENV}=1",
        "--variable",
        f"PYTEST_ARGS={TEST_JOB_PYTEST_ARGS}",
    ]
    for name, value in variables.items():
        cmd += ["--variable", f"{name}={value}"]
    for name in unset:
        cmd += ["--unset-variable", name]
    env = world.runner_env
    env["GCL_IGNORE_PREDEFINED_VARS"] = ",".join(PREDEFINED)
    start = time.monotonic()
    proc = subprocess.run(
        [*cmd, *args],
        cwd=world.repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    pipeline = Pipeline(title, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start)
    world.logs.append((title, pipeline.output))
    times: dict[str, float] = {}
    for name, value, unit in FINISHED.findall(pipeline.output):
        times[name] = float(value) * {"ms": 0.001, "s": 1.0, "min": 60.0}[unit]
    for result, name in SUMMARY.findall(pipeline.output):
        pipeline.jobs[name] = JobRun(name, result, times.get(name))
    # every job's log file, parent and child pipelines (for the secrets check)
    for log_file in sorted((state / "output").glob("*.log")):
        world.logs.append((f"{title}: {log_file.name}", log_file.read_text(errors="replace")))
    return pipeline


def job_lines(pipeline: Pipeline, job: str) -> list[str]:
    """The job's own lines of the run's output (`JOB > text` / `JOB $ command`)."""
    prefix = re.compile(rf"^\s*{CHILD}{re.escape(job)}\s+[>$] ?")
    return [prefix.sub("", line) for line in pipeline.output.splitlines() if prefix.match(line)]


def describe(pipeline: Pipeline) -> str:
    rows = [
        f"  {j.name:<16} {j.result:<5} "
        + (f"{j.seconds:6.1f} s" if j.seconds is not None else "      -")
        for j in pipeline.jobs.values()
    ]
    return "\n".join([f"  {pipeline.title}: {pipeline.seconds:.0f} s", *rows])


def test_gitlab_workflow_rules_run_merge_requests_and_the_default_branch(
    gitlab_ci_local: Path, tmp_path: Path
) -> None:
    """`workflow:rules` judged by gitlab-ci-local's rules engine, on a probe job carrying them."""
    ci = yaml.safe_load((PROJECT_DIR / ".gitlab-ci.yml").read_text())
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / ".gitlab-ci.yml").write_text(
        yaml.safe_dump({"probe": {"rules": ci["workflow"]["rules"], "script": ["true"]}})
    )
    git(probe, "init", "-q", "-b", "main")
    commit(probe, "probe")
    git(probe, "remote", "add", "origin", "git@gitlab.example.com:platform/flux-gitops.git")

    def runs(variables: dict[str, str], unset: tuple[str, ...] = ()) -> bool:
        cmd = [str(gitlab_ci_local), "--list-json", "--no-color", "--home", str(tmp_path / "h")]
        for name, value in variables.items():
            cmd += ["--variable", f"{name}={value}"]
        for name in unset:
            cmd += ["--unset-variable", name]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GCL_"))}
        env["GCL_IGNORE_PREDEFINED_VARS"] = ",".join(PREDEFINED)
        proc = subprocess.run(cmd, cwd=probe, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc
        listed = json.loads(proc.stdout[proc.stdout.index("[") :])
        (job,) = [j for j in listed if j["name"] == "probe"]
        return bool(job["when"] != "never")

    assert runs(MERGE_REQUEST, unset=("CI_COMMIT_BRANCH",))
    assert runs(DEFAULT_BRANCH)
    assert not runs({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "k8s-03"})
    assert not runs(
        {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1"}, unset=("CI_COMMIT_BRANCH",)
    )


def add_broken_cluster(world: World) -> None:
    """A merge request that adds cluster k8s-03, as the README says (`fluxboot new-cluster`),
    with a config error: no CI file is touched."""
    fluxboot = PROJECT_DIR / ".venv" / "bin" / "fluxboot"
    subprocess.run(
        [str(fluxboot), "new-cluster", "k8s-03", "--from", "k8s-02"],
        cwd=world.repo,
        env=world.runner_env,
        check=True,
        capture_output=True,
        text=True,
    )
    stack_file = world.repo / "Pulumi.k8s-03.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    doc["config"]["flux-gitops:kustomizations"] = {"apps": {"timeout": "5 minutes"}}
    stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    commit(world.repo, "k8s-03: a new cluster")


def test_gitlab_merge_request_and_default_branch_pipelines(
    world: World, gitlab_ci_local: Path, timeline: Timeline
) -> None:
    add_broken_cluster(world)
    # the merge request's commit is the new stack file, and nothing else
    assert git(world.repo, "show", "--format=", "--name-only", "HEAD").split() == [
        "Pulumi.k8s-03.yaml"
    ]

    # the merge request: make test, the child pipeline's generation, a preview per stack
    with timeline.step("merge-request pipeline"):
        mr = run_pipeline(
            world, gitlab_ci_local, "merge request", MERGE_REQUEST, unset=("CI_COMMIT_BRANCH",)
        )
    timeline.note(describe(mr))
    test_job = mr.job("test")
    assert test_job.result == "PASS", mr.output
    test_lines = job_lines(mr, "test")
    # lint and type checks in full, then the narrowed pytest (the Makefile's PYTEST_ARGS)
    for command in (".venv/bin/ruff check .", ".venv/bin/mypy"):
        assert command in test_lines, test_lines
    assert f".venv/bin/python -m pytest {TEST_JOB_PYTEST_ARGS}" in test_lines, test_lines
    assert any(re.fullmatch(r"\d+ passed in .*", line) for line in test_lines), test_lines
    assert mr.job("stack-jobs").result == "PASS", mr.output
    # one preview job per stack file, k8s-03 included
    assert {n for n in mr.jobs if n.startswith("preview:")} == {
        "preview:k8s-01",
        "preview:k8s-02",
        "preview:k8s-03",
    }, mr.output
    for stack in ("k8s-01", "k8s-02"):
        job = f"preview:{stack}"
        assert mr.job(job).result == "PASS", mr.output
        lines = job_lines(mr, job)
        text = "\n".join(lines)
        # the pinned CLI was already on PATH: the installer did not run
        assert "v3.184.0" in lines and "Installing Pulumi" not in text, text
        assert_preview_of_a_new_cluster(text, stack)
    # the renders kept their derived cache under the project, where GitLab's `cache:` keeps it
    derived = world.repo / ".cache" / "flux-gitops" / "derived"
    for kind in ("parsed", "rendered", "verdicts"):
        assert list(derived.glob(f"*/{kind}/*")), f"no {kind} entries in {derived}"
    # the broken stack: its job fails with the config error, one line, and no preview ran
    k8s03 = mr.job("preview:k8s-03")
    assert k8s03.result == "FAIL", mr.output
    lines = job_lines(mr, "preview:k8s-03")
    assert K8S_03_ERROR in lines, "\n".join(lines)
    assert not any(
        "pulumi preview" in line or "Traceback" in line
        for line in lines[lines.index(K8S_03_ERROR) :]
    )
    # (the trigger job `stacks` itself passes: gitlab-ci-local does not carry `strategy: depend`
    # back from the child pipeline, so the child's jobs are checked one by one above)

    # the default branch (the merge request merged): the manual `pulumi up` of one stack
    with timeline.step("default-branch pipeline, manual up:k8s-01"):
        main = run_pipeline(
            world, gitlab_ci_local, "default branch", DEFAULT_BRANCH, "--manual", "up:k8s-01"
        )
    timeline.note(describe(main))
    assert main.job("test").result == "PASS", main.output
    assert main.job("up:k8s-01").result == "PASS", main.output
    # the other stacks' `up` jobs are manual and were not started
    assert {n for n in main.jobs if n.startswith(("up:", "preview:"))} == {"up:k8s-01"}
    up_text = "\n".join(job_lines(main, "up:k8s-01"))
    assert re.search(r"Resources:\n\s+\+ \d+ created", up_text), up_text
    assert git(world.remote, "log", "--format=%s", "main").startswith("flux-gitops(k8s-01): ")
    deployments = json.loads(
        world.cluster.kubectl("get", "deployments", "-n", "flux-system", "-o", "json")
    )
    assert sorted(d["metadata"]["name"] for d in deployments["items"]) == [
        "helm-controller",
        "kustomize-controller",
        "notification-controller",
        "source-controller",
    ]
    assert_no_secret_in_logs(world)


def assert_preview_of_a_new_cluster(text: str, stack: str) -> None:
    """`pulumi preview --diff` of a stack never brought up: the repository change (the files
    resource and the files it commits) and the cluster change (Flux's namespace, CRDs and
    controllers, the sync objects)."""
    assert re.search(
        r"\+ pulumi-python:dynamic/flux-gitops:GitOpsFiles: \(create\)\n\s+"
        rf"\[urn=\S+::{stack}-repo\]",
        text,
    ), text
    for path in ("apps.yaml", "core-apps.yaml", "flux-system/gotk-sync.yaml"):
        assert f"clusters/{stack}/{path}" in text, path
    assert text.count("+ kubernetes:apps/v1:Deployment: (create)") == 4, text
    assert "+ kubernetes:core/v1:Namespace: (create)" in text
    assert "+ kubernetes:source.toolkit.fluxcd.io/v1:GitRepository: (create)" in text
    assert re.search(r"Resources:\n\s+\+ \d+ to create", text), text


def assert_no_secret_in_logs(world: World) -> None:
    assert world.logs
    for title, text in world.logs:
        for value in world.secret_values:
            assert value not in text, f"a secret value is in the log of {title}"


# ------------------------------------------------------------------------------------ GitHub


def test_actionlint_passes_the_workflow_and_catches_a_broken_one(
    actionlint: Path, tmp_path: Path
) -> None:
    workflow = PROJECT_DIR / ".github" / "workflows" / "flux-gitops.yml"
    proc = subprocess.run(
        [str(actionlint), "-no-color", str(workflow)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the linter is live: a job needing one that does not exist, an unknown matrix key
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = workflow.read_text().replace("needs: [test, stacks]", "needs: [tests, stacks]", 1)
    broken.write_text(text.replace("${{ matrix.stack }}", "${{ matrix.stak }}", 1))
    proc = subprocess.run(
        [str(actionlint), "-no-color", "-oneline", str(broken)], capture_output=True, text=True
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "[job-needs]" in proc.stdout and 'property "stak" is not defined' in proc.stdout


EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def evaluate(text: str, context: dict[str, Any]) -> Any:
    """The few GitHub expressions the workflow uses: context paths, `fromJSON(...)`, and
    `a == 'b'` joined by `&&`. Anything else fails the test rather than pass unevaluated."""

    def value(expr: str) -> Any:
        expr = expr.strip()
        if m := re.fullmatch(r"fromJSON\((.*)\)", expr):
            return json.loads(value(m.group(1)))
        if m := re.fullmatch(r"hashFiles\(((?:\s*'[^']*'\s*,?)+)\)", expr):
            return hash_files(Path(context["github"]["workspace"]), re.findall(r"'([^']*)'", expr))
        if "&&" in expr:
            return all(value(part) for part in expr.split("&&"))
        if m := re.fullmatch(r"(.+?)\s*==\s*'([^']*)'", expr):
            return value(m.group(1)) == m.group(2)
        if expr in ("true", "false"):
            return expr == "true"
        if re.fullmatch(r"[A-Za-z_][\w.-]*", expr):
            node: Any = context
            for part in expr.split("."):
                node = node.get(part, "") if isinstance(node, dict) else ""
            return node
        raise AssertionError(f"expression not understood by this test: {expr}")

    whole = EXPRESSION.fullmatch(text.strip())
    if whole:
        return value(whole.group(1))
    return EXPRESSION.sub(lambda m: str(value(m.group(1))), text)


def hash_files(workspace: Path, patterns: list[str]) -> str:
    """GitHub's `hashFiles`: one digest of the files the glob patterns match ('' for none)."""
    files = sorted({f for p in patterns for f in workspace.glob(p) if f.is_file()})
    if not files:
        return ""
    digest = hashlib.sha256()
    for f in files:
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


def condition(text: str, context: dict[str, Any]) -> bool:
    """An `if:`: an expression with or without `${{ }}`."""
    text = text.strip()
    return evaluate(text if text.startswith("${{") else f"${{{{ {text} }}}}", context) in (
        True,
        "true",
    )


@dataclass
class StepRun:
    name: str
    returncode: int
    seconds: float
    output: str


def run_github_job(
    world: World,
    workflow: dict[str, Any],
    job_name: str,
    context: dict[str, Any],
    secrets_: dict[str, str],
) -> tuple[list[StepRun], dict[str, str]]:
    """A job's steps as the runner runs them (bash -e per `run:`, the workflow's, job's and
    step's `env:`), with the `uses:` steps substituted and checked; returns steps and outputs."""
    job = workflow["jobs"][job_name]
    ctx = {**context, "secrets": secrets_, "steps": {}}
    ctx["github"] = {**ctx["github"], "workspace": str(world.repo)}
    assert condition(job.get("if", "true"), ctx), f"{job_name} would not run"
    env = world.runner_env
    env.update(CI="true", GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(world.repo))
    env.update(RUNNER_OS="Linux", GITHUB_EVENT_NAME=ctx["github"]["event_name"])
    for scope in (workflow.get("env") or {}, job.get("env") or {}):
        env.update({k: str(evaluate(str(v), ctx)) for k, v in scope.items()})
    runs: list[StepRun] = []
    for i, step in enumerate(job["steps"]):
        start = time.monotonic()
        name = step.get("name") or step.get("uses") or step["run"].splitlines()[0]
        if "uses" in step:
            action = step["uses"].split("@")[0]
            with_ = {k: str(evaluate(str(v), ctx)) for k, v in (step.get("with") or {}).items()}
            if action == "actions/checkout":
                out = git(world.repo, "log", "-1", "--format=checked out %H")
            elif action == "actions/setup-python":
                out = subprocess.run(
                    ["python3", "--version"], env=env, capture_output=True, text=True, check=True
                ).stdout
                assert out.split()[1].startswith(with_["python-version"] + "."), out
            elif action == "actions/cache":
                # nothing to restore on a first run; what matters is that the paths it keeps are
                # where the program keeps its cache in this environment, and the key is real
                home = Path(env["HOME"])
                base = Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "flux-gitops"
                paths = {Path(p.replace("~", str(home), 1)) for p in with_["path"].split()}
                assert paths == {base / "flux", base / "derived"}, with_
                assert re.fullmatch(r"flux-gitops-render-[0-9a-f]{64}", with_["key"]), with_
                assert with_["key"].startswith(with_["restore-keys"]), with_
                out = f"cache miss: {with_['key']}"
            elif action == "pulumi/actions":
                out = subprocess.run(
                    ["pulumi", "version"], env=env, capture_output=True, text=True, check=True
                ).stdout
                assert with_.get("pulumi-version") and out.strip() == "v" + with_["pulumi-version"]
            else:
                raise AssertionError(f"{job_name}: no local stand-in for {step['uses']}")
            runs.append(StepRun(f"{name} (stand-in)", 0, time.monotonic() - start, out))
            continue
        step_env = dict(env)
        step_env.update({k: str(evaluate(str(v), ctx)) for k, v in (step.get("env") or {}).items()})
        output_file = world.root / f"github-output-{job_name}-{i}"
        output_file.write_text("")
        step_env["GITHUB_OUTPUT"] = str(output_file)
        script = world.root / f"github-step-{job_name}-{i}.sh"
        script.write_text(evaluate(step["run"], ctx))
        proc = subprocess.run(
            ["bash", "-e", str(script)],
            cwd=world.repo,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        runs.append(
            StepRun(name, proc.returncode, time.monotonic() - start, proc.stdout + proc.stderr)
        )
        world.logs.append((f"github {job_name}: {name}", proc.stdout + proc.stderr))
        if "id" in step:
            outputs = dict(
                line.split("=", 1) for line in output_file.read_text().splitlines() if line
            )
            ctx["steps"][step["id"]] = {"outputs": outputs}
        if proc.returncode != 0:
            break
    job_outputs = {k: str(evaluate(str(v), ctx)) for k, v in (job.get("outputs") or {}).items()}
    return runs, job_outputs


def test_github_pull_request_preview_job_of_the_matrix(world: World, timeline: Timeline) -> None:
    """The `stacks` job, then the `preview` job of matrix entry k8s-02, on a pull request."""
    workflow = yaml.safe_load(
        (world.repo / ".github" / "workflows" / "flux-gitops.yml").read_text()
    )
    pull_request = {"github": {"event_name": "pull_request", "ref": "refs/pull/16/merge"}}
    push_main = {"github": {"event_name": "push", "ref": "refs/heads/main"}}
    assert condition(workflow["jobs"]["preview"]["if"], pull_request)
    assert not condition(workflow["jobs"]["preview"]["if"], push_main)
    assert not condition(workflow["jobs"]["up"]["if"], pull_request)
    assert condition(workflow["jobs"]["up"]["if"], push_main)
    # repository secrets of a self-managed backend: PULUMI_ACCESS_TOKEN is not set (empty)
    repo_secrets = {
        "PULUMI_BACKEND_URL": f"file://{world.backend}",
        "PULUMI_CONFIG_PASSPHRASE": world.passphrase,
    }
    with timeline.step("github: stacks"):
        steps, outputs = run_github_job(world, workflow, "stacks", pull_request, repo_secrets)
    assert [s.returncode for s in steps] == [0] * len(workflow["jobs"]["stacks"]["steps"]), steps
    stacks = json.loads(outputs["stacks"])
    assert "k8s-01" in stacks and "k8s-02" in stacks, outputs
    assert outputs["pulumi-version"] == "3.184.0"
    matrix = evaluate(
        workflow["jobs"]["preview"]["strategy"]["matrix"]["stack"],
        {**pull_request, "needs": {"stacks": {"outputs": outputs}}},
    )
    assert matrix == stacks
    context = {
        **pull_request,
        "needs": {"stacks": {"outputs": outputs}},
        "matrix": {"stack": "k8s-02"},
    }
    with timeline.step("github: preview (k8s-02)"):
        steps, _ = run_github_job(world, workflow, "preview", context, repo_secrets)
    for s in steps:
        timeline.note(f"  {s.name[:40]:<40} rc={s.returncode} {s.seconds:6.1f} s")
    assert all(s.returncode == 0 for s in steps), "\n".join(f"{s.name}: {s.output}" for s in steps)
    assert len(steps) == len(workflow["jobs"]["preview"]["steps"])
    assert_preview_of_a_new_cluster(steps[-1].output, "k8s-02")
    assert_no_secret_in_logs(world)
