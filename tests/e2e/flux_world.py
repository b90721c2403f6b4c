"""What Flux talks to in the end-to-end tests, all on loopback, started and stopped by fixtures.

- `SshGitServer`: Debian's OpenSSH server on a free port, with a host key of its own, serving
  bare repositories under a directory to the keys in its authorized_keys (nothing else);
- `HttpGitServer`: Git's smart HTTP protocol (`git http-backend`) behind basic auth;
- `HelmRepository`: `index.yaml` and chart archives packaged here from small stand-in charts;
- `SlackStandIn`: an HTTP receiver that records every message posted to it, used as a Slack
  provider's address through the provider's Secret exactly as a webhook URL is;
- `FluxControllers`: the pinned release's four controllers as processes against a control plane.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import io
import json
import os
import signal
import socketserver
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import yaml

from tests.e2e.control_plane import _die_with_parent, free_port
from tests.git_http import QuietHandler, http_backend, serve, stop

SSHD = Path("/usr/sbin/sshd")


# ------------------------------------------------------------------------------------ Git


def bare_repository(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


@dataclass
class SshGitServer:
    """sshd on 127.0.0.1:<port>, serving the bare repositories under `root` over SSH."""

    root: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SshGitServer:
        if not SSHD.is_file():
            raise RuntimeError(f"{SSHD} is missing: install Debian's openssh-server")
        etc = self.root / "etc"
        etc.mkdir(parents=True)
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(etc / "host_key")],
            check=True,
        )
        (etc / "authorized_keys").write_text("")
        (etc / "authorized_keys").chmod(0o600)
        self.port = free_port()
        (etc / "sshd_config").write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {etc / 'host_key'}\n"
            f"PidFile {etc / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {etc / 'authorized_keys'}\n"
            "StrictModes no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "PermitRootLogin prohibit-password\n"
            "LogLevel VERBOSE\n"
        )
        log = (self.root / "sshd.log").open("wb")
        self.process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(etc / "sshd_config")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        _wait_port(self.port, "sshd", self.root / "sshd.log")
        return self

    def __exit__(self, *exc: object) -> None:
        _stop(self.process)

    @property
    def user(self) -> str:
        import getpass

        return getpass.getuser()

    def url(self, repository: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repository}"

    @property
    def known_hosts(self) -> str:
        """The known_hosts line of this server (what `ssh-keyscan -p PORT 127.0.0.1` prints)."""
        key = (self.root / "etc" / "host_key.pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {key[0]} {key[1]}"

    def authorize(self, public_key: str) -> None:
        with (self.root / "etc" / "authorized_keys").open("a") as f:
            f.write(public_key.strip() + "\n")


@dataclass
class HttpGitServer:
    """`git http-backend` on 127.0.0.1:<port>, for the bare repositories under `root`, behind
    basic auth (`username`/`password`); the password plays a Git host's token."""

    root: Path
    username: str
    password: str
    # repositories anyone may clone (a public project's repository, like GitHub's)
    public: set[str] = field(default_factory=set)
    port: int = 0
    server: WSGIServer | None = None

    def __enter__(self) -> HttpGitServer:
        self.server = make_server("127.0.0.1", 0, self._app, handler_class=QuietHandler)
        self.port = serve(self.server)
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self.server)

    def url(self, repository: Path) -> str:
        return f"http://127.0.0.1:{self.port}/{repository.relative_to(self.root).as_posix()}"

    def _app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        repository = environ["PATH_INFO"].lstrip("/").split("/", 1)[0]
        public = (repository in self.public and environ["REQUEST_METHOD"] == "GET") or (
            repository in self.public and "upload-pack" in environ["PATH_INFO"]
        )
        if not public and environ.get("HTTP_AUTHORIZATION", "") != f"Basic {expected}":
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
            return [b"authentication required\n"]
        return http_backend(environ, start_response, self.root, self.username)


# ------------------------------------------------------------------------------------ Helm


@dataclass(frozen=True)
class Chart:
    """A stand-in chart: templates (and CRDs) as YAML text, packaged as Helm packages them."""

    name: str
    version: str
    templates: dict[str, str]
    crds: dict[str, str] = field(default_factory=dict)
    values: str = "{}\n"

    def package(self) -> bytes:
        files = {
            "Chart.yaml": yaml.safe_dump(
                {
                    "apiVersion": "v2",
                    "name": self.name,
                    "version": self.version,
                    "appVersion": self.version,
                    "description": f"stand-in for {self.name} in flux-gitops' e2e tests",
                },
                sort_keys=False,
            ),
            "values.yaml": self.values,
            **{f"templates/{n}": t for n, t in self.templates.items()},
            **{f"crds/{n}": t for n, t in self.crds.items()},
        }
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for rel, text in sorted(files.items()):
                data = text.encode()
                info = tarfile.TarInfo(f"{self.name}/{rel}")
                info.size = len(data)
                info.mtime = 0
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def write_dir(self, directory: Path) -> None:
        """The chart as a directory (a chart kept in a Git repository)."""
        with tarfile.open(fileobj=io.BytesIO(self.package()), mode="r:gz") as tar:
            for member in tar.getmembers():
                target = directory / Path(member.name).relative_to(self.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted = tar.extractfile(member)
                assert extracted is not None
                target.write_bytes(extracted.read())


@dataclass
class HelmRepository:
    """Static HTTP server of Helm repositories: `/<repository>/index.yaml` and its charts."""

    root: Path
    port: int = 0
    server: socketserver.TCPServer | None = None
    broken: set[str] = field(default_factory=set)  # chart versions answered with 404

    def __enter__(self) -> HelmRepository:
        root, broken = self.root, self.broken

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self) -> None:
                if any(self.path.endswith(b) for b in broken):
                    self.send_error(404)
                    return
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.root.mkdir(parents=True, exist_ok=True)
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = serve(self.server)
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self.server)

    def url(self, repository: str) -> str:
        return f"http://127.0.0.1:{self.port}/{repository}/"

    def publish(self, repository: str, charts: list[Chart]) -> None:
        """Write the charts and an index.yaml, as `helm repo index` would."""
        directory = self.root / repository
        directory.mkdir(parents=True, exist_ok=True)
        entries: dict[str, list[dict[str, Any]]] = {}
        for chart in charts:
            archive = f"{chart.name}-{chart.version}.tgz"
            data = chart.package()
            (directory / archive).write_bytes(data)
            entries.setdefault(chart.name, []).append(
                {
                    "apiVersion": "v2",
                    "name": chart.name,
                    "version": chart.version,
                    "appVersion": chart.version,
                    "created": "2026-01-01T00:00:00Z",
                    "digest": hashlib.sha256(data).hexdigest(),
                    "urls": [f"{self.url(repository)}{archive}"],
                }
            )
        index = {"apiVersion": "v1", "entries": entries, "generated": "2026-01-01T00:00:00Z"}
        (directory / "index.yaml").write_text(yaml.safe_dump(index, sort_keys=True))


# ------------------------------------------------------------------------------------ Slack


@dataclass
class SlackStandIn:
    """Records every JSON message posted to it (Slack's incoming-webhook protocol: 200 "ok")."""

    port: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    server: socketserver.TCPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> SlackStandIn:
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    message = json.loads(body)
                except ValueError:
                    message = {"raw": body.decode(errors="replace")}
                with stand_in.lock:
                    stand_in.messages.append({"path": self.path, **message})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = serve(self.server)
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self.server)

    def url(self, channel_hook: str) -> str:
        return f"http://127.0.0.1:{self.port}/services/{channel_hook}"

    def received(self, path_suffix: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                m for m in self.messages if path_suffix is None or m["path"].endswith(path_suffix)
            ]


# ------------------------------------------------------------------------------------ Flux


CONTROLLERS = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
)


@dataclass
class FluxControllers:
    """The Flux controllers of the pinned release as local processes against one cluster.

    Each watches all namespaces with leader election off, serves metrics and health on loopback;
    source-controller stores artifacts under `workdir` and advertises its loopback address;
    the others send their events to notification-controller's loopback events address.
    """

    bin_dir: Path
    workdir: Path
    kubeconfig: Path
    # names of the controllers whose pods exist in the cluster: a process runs only while its
    # Deployment's pod does (kwok plays the pod, the process does its work), so deleting the
    # Deployment stops the controller, as on a real cluster
    pods: Callable[[], set[str]] | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    events_port: int = 0
    stopped: dict[str, float] = field(default_factory=dict)
    _supervisor: threading.Thread | None = None
    _done: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> FluxControllers:
        (self.workdir / "artifacts").mkdir(parents=True, exist_ok=True)
        self.events_port = free_port()
        storage_port = free_port()
        events = f"http://127.0.0.1:{self.events_port}/"
        common = [
            "--enable-leader-election=false",
            "--watch-all-namespaces=true",
            "--log-level=debug",
            "--log-encoding=json",
        ]
        # dependsOn is re-checked every 30 s by default: 2 s keeps the test's timeline short
        dependants = ["--requeue-dependency=2s"]
        per_controller = {
            "source-controller": [
                f"--events-addr={events}",
                f"--storage-path={self.workdir / 'artifacts'}",
                f"--storage-addr=127.0.0.1:{storage_port}",
                f"--storage-adv-addr=127.0.0.1:{storage_port}",
                *dependants,
            ],
            "kustomize-controller": [f"--events-addr={events}", *dependants],
            "helm-controller": [f"--events-addr={events}", *dependants],
            "notification-controller": [
                f"--events-addr=127.0.0.1:{self.events_port}",
                f"--receiverAddr=127.0.0.1:{free_port()}",
            ],
        }
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "RUNTIME_NAMESPACE": "flux-system",
            "HOME": str(self.workdir),
        }
        for name in CONTROLLERS:
            log = (self.workdir / f"{name}.log").open("wb")
            self.processes[name] = subprocess.Popen(
                [
                    str(self.bin_dir / name),
                    *common,
                    f"--metrics-addr=127.0.0.1:{free_port()}",
                    f"--health-addr=127.0.0.1:{free_port()}",
                    *per_controller[name],
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        _wait_port(
            self.events_port,
            "notification-controller",
            self.workdir / "notification-controller.log",
        )
        if self.pods is not None:
            self._supervisor = threading.Thread(target=self._supervise, daemon=True)
            self._supervisor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        for process in self.processes.values():
            _stop(process)

    def _supervise(self) -> None:
        assert self.pods is not None
        while not self._done.wait(0.5):
            try:
                running = self.pods()
            except Exception:  # the API server is going away with the test
                continue
            for name, process in self.processes.items():
                if name not in running and process.poll() is None:
                    _stop(process)
                    self.stopped[name] = time.monotonic()

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None and name not in self.stopped:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}; log {self.workdir / (name + '.log')}"
                )

    def logs(self, lines: int = 30) -> str:
        out = []
        for name in CONTROLLERS:
            text = (self.workdir / f"{name}.log").read_text(errors="replace").splitlines()
            out.append(f"--- {name}\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


# ------------------------------------------------------------------------------------ helpers


def _wait_port(port: int, what: str, log: Path, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port}; log {log}")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def wait_for(what: str, check: Callable[[], Any], timeout: float, step: float = 1.0) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@contextlib.contextmanager
def all_of(*managers: Any) -> Iterator[list[Any]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(m) for m in managers]
