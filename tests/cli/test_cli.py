"""`fluxboot render`: the tree it writes, --all, --list, and bad input (exit 2, nothing written)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cli.main import main
from tests.conftest import GOLDEN_DIR, PROJECT_DIR

TOKEN = "Tok3n-9f8e7d"


def run(project: Path, manifests_dir: Path, *args: str) -> int:
    return main(["--project", str(project), "--manifests-dir", str(manifests_dir), *args])


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_render_writes_the_golden_tree(tmp_path: Path, manifests_dir: Path) -> None:
    out = tmp_path / "out"
    assert run(PROJECT_DIR, manifests_dir, "render", "k8s-01", "--out", str(out)) == 0
    assert tree(out) == tree(GOLDEN_DIR / "k8s-01")


def test_render_all_is_the_union_of_both_stacks(tmp_path: Path, manifests_dir: Path) -> None:
    out = tmp_path / "out"
    assert run(PROJECT_DIR, manifests_dir, "render", "--all", "--out", str(out)) == 0
    expected = tree(GOLDEN_DIR / "k8s-01") | tree(GOLDEN_DIR / "k8s-02")
    assert tree(out) == expected
    assert "clusters/k8s-02/apps.yaml" in expected and "clusters/k8s-01/apps.yaml" in expected


def test_render_list_marks_each_path(
    manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(PROJECT_DIR, manifests_dir, "render", "k8s-02", "--list") == 0
    lines = capsys.readouterr().out.splitlines()
    marks = dict(reversed(line.split()) for line in lines)
    assert marks["clusters/k8s-02/core-apps.yaml"] == "managed"
    assert marks["core-apps/sources/victoriametrics.yaml"] == "fleet"
    assert marks["apps/clusters/k8s-02/kustomization.yaml"] == "scaffold"
    assert [line.split()[1] for line in lines] == sorted(line.split()[1] for line in lines)


def _break(project: Path, change: Any) -> None:
    path = project / "Pulumi.k8s-01.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc["config"])
    path.write_text(yaml.safe_dump(doc))


BAD_INPUTS = {
    "unknown key": (
        lambda c: c.update({"flux-gitops:git": {"bogus": 1}}),
        "Pulumi.k8s-01.yaml: flux-gitops:git.bogus: unknown key",
    ),
    "bad duration": (
        lambda c: c["flux-gitops:kustomizations"]["apps"].update({"timeout": "5 minutes"}),
        "Pulumi.k8s-01.yaml: flux-gitops:kustomizations.apps.timeout: '5 minutes' is not a duration",
    ),
    "bad cluster name": (
        lambda c: c["flux-gitops:cluster"].update({"name": "../k8s"}),
        "Pulumi.k8s-01.yaml: flux-gitops:cluster.name: '../k8s' is not a DNS-1123 label",
    ),
    "unknown provider": (
        lambda c: c["flux-gitops:notifications"]["alerts"]["errors"].update(
            {"providerRef": "nope"}
        ),
        "Pulumi.k8s-01.yaml: flux-gitops:notifications: alert 'errors' names provider 'nope'",
    ),
    # found only once the install manifest is known: the same check Pulumi's apply would make
    "patch that selects nothing": (
        lambda c: c.update(
            {
                "flux-gitops:flux": {
                    "patches": [
                        {
                            "patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
                            "  name: nothing\n  namespace: flux-system\n"
                        }
                    ]
                }
            }
        ),
        "Pulumi.k8s-01.yaml: flux-gitops:flux.patches[0]: no object is Deployment "
        "flux-system/nothing",
    ),
    "token in git.url": (
        lambda c: c.update({"flux-gitops:git": {"url": f"https://ci:{TOKEN}@host/x.git"}}),
        "Pulumi.k8s-01.yaml: flux-gitops:git.url: 'https://***@host/x.git' holds a user name "
        "and password",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_config_exits_2_with_one_line_and_writes_nothing(
    case: str,
    project: Path,
    tmp_path: Path,
    manifests_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    change, expected = BAD_INPUTS[case]
    _break(project, change)
    out = tmp_path / "out"
    assert run(project, manifests_dir, "render", "--all", "--out", str(out)) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(expected), err
    assert TOKEN not in err[0]
    assert not out.exists()


def test_yaml_syntax_error_exits_2_and_writes_nothing(
    project: Path, tmp_path: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Pulumi.k8s-02.yaml").write_text("config:\n  flux-gitops:flux:\n    version: [v2\n")
    out = tmp_path / "out"
    assert run(project, manifests_dir, "render", "--all", "--out", str(out)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("Pulumi.k8s-02.yaml: YAML syntax error at line 4, column 1: ")
    assert "flow sequence" in line
    assert not out.exists()


def test_missing_manifest_is_a_clear_error(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("FLUXBOOT_MANIFESTS_DIR", raising=False)
    _break(
        project, lambda c: c.update({"flux-gitops:flux": {"manifestsPath": "nowhere/gotk.yaml"}})
    )
    assert (
        main(["--project", str(project), "render", "k8s-01", "--out", str(tmp_path / "out")]) == 2
    )
    (line,) = capsys.readouterr().err.splitlines()
    assert "flux-gitops:flux.manifestsPath" in line and "nowhere/gotk.yaml" in line
    assert not (tmp_path / "out").exists()


def test_console_script_runs_without_pulumi_cli(tmp_path: Path, manifests_dir: Path) -> None:
    """The installed `fluxboot` entry point, as a user runs it, from the project root."""
    env = {k: v for k, v in os.environ.items() if k != "PULUMI_HOME"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"
    done = subprocess.run(
        ["fluxboot", "--manifests-dir", str(manifests_dir), "render", "k8s-01", "--list"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "managed   clusters/k8s-01/apps.yaml" in done.stdout.splitlines()


def test_push_writes_both_stacks_then_is_up_to_date(
    tmp_path: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    assert (
        run(PROJECT_DIR, manifests_dir, "push", "k8s-01", "--repo", str(remote), "--create-branch")
        == 0
    )
    assert run(PROJECT_DIR, manifests_dir, "push", "k8s-02", "--repo", str(remote)) == 0
    capsys.readouterr()
    assert run(PROJECT_DIR, manifests_dir, "push", "k8s-02", "--repo", str(remote)) == 0
    assert "is up to date" in capsys.readouterr().out
    listed = subprocess.run(
        ["git", "--git-dir", str(remote), "ls-tree", "-r", "--name-only", "main"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    expected = sorted(set(tree(GOLDEN_DIR / "k8s-01")) | set(tree(GOLDEN_DIR / "k8s-02")))
    assert listed == expected
    blob = subprocess.run(
        ["git", "--git-dir", str(remote), "show", "main:clusters/k8s-02/apps.yaml"],
        check=True,
        capture_output=True,
    ).stdout
    assert blob == (GOLDEN_DIR / "k8s-02" / "clusters/k8s-02/apps.yaml").read_bytes()


def test_push_to_a_missing_branch_without_create_branch_fails_cleanly(
    tmp_path: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    assert run(PROJECT_DIR, manifests_dir, "push", "k8s-01", "--repo", str(remote)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("fluxboot push: ") and "main" in line
    refs = subprocess.run(
        ["git", "--git-dir", str(remote), "for-each-ref"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert refs.stdout == ""


def test_render_names_each_cel_rule_it_cannot_check_once(
    tmp_path: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Flux release whose Kustomization CRD has a rule using a function not implemented here:
    the render goes on, and says once (not once per Kustomization) that the rule is unchecked."""
    mirror = tmp_path / "mirror"
    (mirror / "v2.9.4").mkdir(parents=True)
    docs = list(yaml.safe_load_all((manifests_dir / "v2.9.4/gotk-components.yaml").read_text()))
    for doc in docs:
        if (
            doc
            and doc["kind"] == "CustomResourceDefinition"
            and doc["spec"]["group"] == ("kustomize.toolkit.fluxcd.io")
        ):
            schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            schema["properties"]["spec"]["x-kubernetes-validations"] = [
                {"rule": "self.path.isURL()"}
            ]
    (mirror / "v2.9.4/gotk-components.yaml").write_text(yaml.safe_dump_all(docs))
    code = run(PROJECT_DIR, mirror, "render", "k8s-01", "--out", str(tmp_path / "out"))
    err = capsys.readouterr().err
    assert code == 0
    assert err.splitlines() == [
        "skipped: Kustomization kustomize.toolkit.fluxcd.io/v1: spec: rule 'self.path.isURL()' is "
        "not checked offline: it calls isURL, which this check does not implement; the API server "
        "checks it"
    ]


# ------------------------------------------------------------------- credentials in messages


@pytest.mark.parametrize(
    "userinfo",
    [
        f"deploy:{TOKEN}",  # user and password
        TOKEN,  # a token alone in the user slot
        f"deploy:{TOKEN}%2F%40x",  # a password holding / and @, percent-encoded
        f"deploy:{TOKEN}/@x",  # ... and written as they are
    ],
)
def test_push_never_prints_the_user_info_of_the_repository_url(
    userinfo: str, tmp_path: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.git_http import git_http_server

    root = tmp_path / "srv"
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=main", str(root / "r.git")], check=True
    )
    printed = ""
    with git_http_server(root, "deploy", f"{TOKEN}/@x") as host:
        repo = f"http://{userinfo}@{host}/r.git"
        # pushed (or Git's authentication error), then up to date, then a dry run, then Git's
        # error for a wrong password: every message names the repository
        codes = [
            run(PROJECT_DIR, manifests_dir, "push", "k8s-01", "--repo", repo, "--create-branch"),
            run(PROJECT_DIR, manifests_dir, "push", "k8s-01", "--repo", repo),
            run(PROJECT_DIR, manifests_dir, "push", "k8s-02", "--repo", repo, "--dry-run"),
            run(PROJECT_DIR, manifests_dir, "push", "k8s-01", "--repo", f"http://x:y@{host}/r.git"),
        ]
        captured = capsys.readouterr()
        printed = captured.out + captured.err
    assert codes[3] == 2 and "Authentication failed" in printed
    if userinfo == f"deploy:{TOKEN}%2F%40x":
        assert codes[:3] == [0, 0, 0]
        assert "pushed " in printed and "is up to date" in printed and "dry run" in printed
    assert TOKEN not in printed
    assert f"http://***@{host}/r.git" in printed


def test_every_line_any_command_prints_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """Even text the CLI does not write itself (argparse's usage error) leaves redacted."""
    with pytest.raises(SystemExit) as exit_:
        main(["push", "k8s-01", "--bogus", f"https://u:{TOKEN}@h/r.git"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus https://***@h/r.git" in err
    assert TOKEN not in err


# ------------------------------------------------------------ removals: CLI and engine agree


def _tree(remote: Path) -> dict[str, bytes]:
    names = subprocess.run(
        ["git", "--git-dir", str(remote), "ls-tree", "-r", "-z", "--name-only", "main"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    return {
        n: subprocess.run(
            ["git", "--git-dir", str(remote), "show", f"main:{n}"], check=True, capture_output=True
        ).stdout
        for n in names
        if n
    }


def _drop_notifications(project: Path, which: str) -> None:
    def change(c: dict[str, Any]) -> None:
        if which == "errors":  # k8s-01's second provider and its alert: the fleet's stay
            del c["flux-gitops:notifications"]
        else:  # every provider and alert: none here, none in the fleet (below)
            c["flux-gitops:notifications"] = {"providers": {}, "alerts": {}}

    _break(project, change)
    if which == "all":
        path = project / "Pulumi.yaml"
        doc = yaml.safe_load(path.read_text())
        del doc["config"]["fleet"]["value"]["notifications"]
        path.write_text(yaml.safe_dump(doc))


@pytest.mark.parametrize("which", ["errors", "all"])
def test_push_removes_what_pulumi_up_removes(
    which: str, project: Path, tmp_path: Path, manifests_dir: Path
) -> None:
    """A notification provider taken out of the config: `fluxboot push` deletes its managed
    files as the engine's GitOpsFiles update does, and the two repositories end up equal."""
    from components.git_resource import GitOpsFilesArgs, GitOpsFilesProvider
    from components.render.pipeline import render_stack

    remotes = {}
    for name in ("engine", "cli"):
        remotes[name] = tmp_path / f"{name}.git"
        subprocess.run(
            ["git", "init", "-q", "--bare", "--initial-branch=main", str(remotes[name])],
            check=True,
        )

    def props(remote: Path) -> dict[str, Any]:
        rendered = render_stack(project, "k8s-01", manifests_dir)
        args = GitOpsFilesArgs.from_settings(rendered.config.settings.git, "k8s-01", rendered.files)
        values = {k: getattr(args, k) for k in GitOpsFilesArgs.__dataclass_fields__}
        return {**values, "repo_url": str(remote), "create_branch": True}

    provider = GitOpsFilesProvider()
    created = provider.create(props(remotes["engine"]))
    assert (
        run(
            project,
            manifests_dir,
            "push",
            "k8s-01",
            "--repo",
            str(remotes["cli"]),
            "--create-branch",
        )
        == 0
    )
    before = _tree(remotes["cli"])
    assert _tree(remotes["engine"]) == before
    assert "clusters/k8s-01/notifications/provider-slack-errors.yaml" in before

    _drop_notifications(project, which)
    provider.update("k8s-01", dict(created.outs or {}), props(remotes["engine"]))
    assert run(project, manifests_dir, "push", "k8s-01", "--repo", str(remotes["cli"])) == 0
    after = _tree(remotes["cli"])
    assert after == _tree(remotes["engine"])
    assert "clusters/k8s-01/notifications/provider-slack-errors.yaml" not in after
    assert "clusters/k8s-01/notifications/alert-errors.yaml" not in after
    if which == "all":
        assert not any(p.startswith("clusters/k8s-01/notifications/") for p in after)


def test_push_never_removes_a_file_people_added_beside_the_managed_ones(
    project: Path, tmp_path: Path, manifests_dir: Path
) -> None:
    remote = tmp_path / "r.git"
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=main", str(remote)], check=True
    )
    assert (
        run(project, manifests_dir, "push", "k8s-01", "--repo", str(remote), "--create-branch") == 0
    )
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True)
    (work / "clusters/k8s-01/notifications/mine.yaml").write_text("# mine\n")
    ident = ["-c", "user.name=P", "-c", "user.email=p@example.org"]
    subprocess.run(["git", *ident, "-C", str(work), "add", "."], check=True)
    subprocess.run(["git", *ident, "-C", str(work), "commit", "-qm", "mine"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "main"], check=True)
    _drop_notifications(project, "errors")
    assert run(project, manifests_dir, "push", "k8s-01", "--repo", str(remote)) == 0
    assert "clusters/k8s-01/notifications/mine.yaml" in _tree(remote)


# ------------------------------------------------------------------------ render --out


def test_render_refuses_a_non_empty_out_dir_unless_clean(
    tmp_path: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert run(PROJECT_DIR, manifests_dir, "render", "k8s-01", "--out", str(out)) == 0
    stale = out / "clusters/k8s-01/notifications/provider-gone.yaml"
    stale.write_text("stale\n")
    capsys.readouterr()
    assert run(PROJECT_DIR, manifests_dir, "render", "k8s-01", "--out", str(out)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"fluxboot render: --out {out}: not empty;") and "--clean" in line
    assert stale.exists()
    assert run(PROJECT_DIR, manifests_dir, "render", "k8s-01", "--out", str(out), "--clean") == 0
    assert tree(out) == tree(GOLDEN_DIR / "k8s-01")


@pytest.mark.parametrize("where", ["project", "git checkout"])
def test_render_clean_never_empties_the_project_or_a_checkout(
    where: str, project: Path, tmp_path: Path, manifests_dir: Path
) -> None:
    out = project if where == "project" else tmp_path / "checkout"
    if where == "git checkout":
        subprocess.run(["git", "init", "-q", str(out)], check=True)
    before = sorted(p.name for p in out.iterdir())
    assert run(project, manifests_dir, "render", "k8s-01", "--out", str(out), "--clean") == 2
    assert sorted(p.name for p in out.iterdir()) == before


def test_render_out_under_a_file_is_one_line(
    tmp_path: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "sub"
    assert run(PROJECT_DIR, manifests_dir, "render", "k8s-01", "--out", str(out)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"fluxboot render: --out {out}: {tmp_path / 'file'} is a file, not a directory"


# ---------------------------------------------------- never a traceback: each source names its file

NOT_UTF8 = b"config:\n  flux-gitops:cluster: {kubeContext: caf\xe9}\n"


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    return err[0]


def test_new_cluster_from_a_non_utf8_stack_file(
    project: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Pulumi.broken.yaml").write_bytes(NOT_UTF8)
    assert run(project, manifests_dir, "new-cluster", "k8s-09", "--from", "broken") == 2
    line = _one_error_line(capsys)
    assert line.startswith("Pulumi.broken.yaml: is not UTF-8 text (byte 0xe9")
    assert not (project / "Pulumi.k8s-09.yaml").exists()


def test_new_cluster_from_a_malformed_stack_file(
    project: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Pulumi.broken.yaml").write_text("config: {a: [\n")
    assert run(project, manifests_dir, "new-cluster", "k8s-09", "--from", "broken") == 2
    assert _one_error_line(capsys).startswith("Pulumi.broken.yaml: YAML syntax error at line 2")


def test_status_with_a_non_utf8_kubeconfig(
    tmp_path: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(b"apiVersion: v1\nkind: Config\nusers: caf\xe9\n")
    assert run(PROJECT_DIR, manifests_dir, "status", "--kubeconfig", str(kubeconfig)) == 2
    assert _one_error_line(capsys) == (
        f"fluxboot status: {kubeconfig}: is not UTF-8 text (byte 0xe9 at offset 38)"
    )


@pytest.mark.parametrize("content", [b"\x7fELF\x02\x01\x01\x00\xff\xfe", b"a: [\n", b"- 1\n"])
def test_manifests_path_that_is_no_manifest(
    content: bytes, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "gotk.yaml").write_bytes(content)
    _break(project, lambda c: c.update({"flux-gitops:flux": {"manifestsPath": "gotk.yaml"}}))
    assert main(["--project", str(project), "render", "k8s-01", "--out", str(tmp_path / "o")]) == 2
    line = _one_error_line(capsys)
    assert str(project / "gotk.yaml") in line
    assert not (tmp_path / "o").exists()


def test_a_non_utf8_template_file_is_named(
    project: Path, tmp_path: Path, manifests_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from components.render.pipeline import load_template

    load_template.cache_clear()
    bad = project / "repo-template/cluster/apps/clusters/@@cluster@@/extra.yaml"
    bad.write_bytes(b"# caf\xe9\n")
    try:
        assert run(project, manifests_dir, "render", "k8s-01", "--out", str(tmp_path / "o")) == 2
    finally:
        load_template.cache_clear()
    assert _one_error_line(capsys).startswith(f"fluxboot render: {project}/repo-template/")


def test_a_missing_manifests_dir_is_named_not_skipped(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FLUXBOOT_MANIFESTS_URL", "http://127.0.0.1:9/{version}/install.yaml")
    missing = tmp_path / "missing"
    assert run(project, missing, "render", "k8s-01", "--out", str(tmp_path / "o")) == 2
    assert _one_error_line(capsys).startswith(
        f"fluxboot render: --manifests-dir {missing}: no such directory"
    )
    monkeypatch.setenv("FLUXBOOT_MANIFESTS_DIR", str(missing))
    assert main(["--project", str(project), "render", "k8s-01", "--list"]) == 2
    assert _one_error_line(capsys).startswith(
        f"fluxboot render: FLUXBOOT_MANIFESTS_DIR={missing}: no such directory"
    )


@pytest.mark.parametrize(
    "error",
    [
        OSError(28, "No space left on device", "/tmp/out/x.yaml"),
        UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte"),
        yaml.YAMLError("found character that cannot start any token"),
    ],
)
def test_an_error_that_escapes_its_source_is_still_one_line_and_exit_2(
    error: Exception, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The top level's promise, for what a source-level check missed: no traceback, and not
    exit status 1 (which means `validate` found problems)."""
    from components.cli import graph

    def fails(_args: Any) -> int:
        raise error

    monkeypatch.setattr(graph, "cmd_graph", fails)
    assert main(["graph", "k8s-01"]) == 2
    assert _one_error_line(capsys).startswith("fluxboot graph: ")
