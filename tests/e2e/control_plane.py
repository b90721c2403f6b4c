"""A local Kubernetes 1.34 control plane for the tests: etcd, API server, controllers, kwok nodes.

Everything runs as plain processes on 127.0.0.1 from the binaries the toolchain builds
(``tests/e2e/toolchain``):

- etcd, with its data in a temporary directory;
- kube-apiserver with RBAC, a CA of its own, client-certificate users (an admin in
  ``system:masters``, the controller manager and the scheduler under their built-in names) and a
  service-account signing key, so it validates and stores exactly what a real cluster does,
  CEL rules of CRDs included;
- kube-controller-manager, so Deployments roll out, namespaces finalize and garbage collection
  works; kube-scheduler, so pods get a node;
- kwok, which plays the kubelets of a few fake nodes: pods are scheduled, become Running and
  Ready (no container runs), and Deployments report their rollout as a real cluster does.

Every port is picked free. ``LocalControlPlane`` is a context manager: it waits until the API
server is ready, the nodes are Ready and the controllers work (the ``default`` ServiceAccount
exists), and on exit it stops every process, also after a failed test.

    python3 tests/e2e/control_plane.py DIR   # start one by hand; prints the kubeconfig; Ctrl-C stops
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
# kwok manages the nodes carrying this annotation (and only those)
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")


class ControlPlaneError(RuntimeError):
    """A component did not start or did not become ready; the message names its log."""


_START_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class _Cert:
    cert: Path
    key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


class _Pki:
    """A throwaway CA and the certificates the control plane needs, signed by it."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._ca_key = _key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flux-gitops-e2e-ca")])
        now = datetime.datetime.now(datetime.UTC)
        self._ca_name = name
        self._ca = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca = directory / "ca.crt"
        self.ca.write_bytes(self._ca.public_bytes(serialization.Encoding.PEM))

    def issue(
        self,
        name: str,
        common_name: str,
        *,
        organization: str | None = None,
        server_names: tuple[str, ...] = (),
        server_ips: tuple[str, ...] = (),
    ) -> _Cert:
        key = _key()
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        now = datetime.datetime.now(datetime.UTC)
        usage = (
            x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
            if server_names or server_ips
            else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self._ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server_names or server_ips:
            sans: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
            sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._ca_key, hashes.SHA256())
        out = _Cert(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, out.key)
        return out


def kubeconfig_text(server: str, ca: Path, client: _Cert, context: str) -> str:
    """A kubeconfig with the certificates inline, so it can travel as one (secret) string."""
    import base64

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: {context}\n"
        "  cluster:\n"
        f"    server: {server}\n"
        f"    certificate-authority-data: {b64(ca)}\n"
        "users:\n"
        f"- name: {context}-admin\n"
        "  user:\n"
        f"    client-certificate-data: {b64(client.cert)}\n"
        f"    client-key-data: {b64(client.key)}\n"
        "contexts:\n"
        f"- name: {context}\n"
        "  context:\n"
        f"    cluster: {context}\n"
        f"    user: {context}-admin\n"
        f"current-context: {context}\n"
    )


# ------------------------------------------------------------------------------ processes


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies, so that a
    control plane never outlives a test run that was killed (timeout, Ctrl-C, SIGKILL)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "".join(text.splitlines(True)[-lines:])


@dataclass
class LocalControlPlane:
    """etcd + kube-apiserver + controller manager + scheduler + kwok, on loopback.

    ``bin_dir`` holds the toolchain's binaries; ``workdir`` receives certificates, data and one
    log per component. ``context`` names the kubeconfig's context (a stack's `cluster.kubeContext`).
    """

    bin_dir: Path
    workdir: Path
    context: str = "local"
    nodes: int = 2
    start_timeout: float = 120.0
    processes: list[_Process] = field(default_factory=list)
    api_port: int = 0
    kubeconfig_path: Path = Path()

    # -------------------------------------------------------------- public

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> str:
        return self.kubeconfig_path.read_text()

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        """Run the toolchain's kubectl against this control plane; returns stdout."""
        proc = subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig_path), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=300,  # generous: a loaded 2-core machine is slow, not broken
        )
        if check and proc.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def client(self) -> Any:
        """A `kubernetes.client.ApiClient` for the admin user."""
        from kubernetes import config

        return config.new_client_from_config(
            config_file=str(self.kubeconfig_path), persist_config=False
        )

    def __enter__(self) -> LocalControlPlane:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -------------------------------------------------------------- start / stop

    def start(self) -> None:
        """Start every component and wait until the cluster is usable. A port picked free can be
        taken by another process before the component binds it: then the whole control plane is
        started again on other ports (the only listeners are etcd's, the API server's and
        kwok's; the controller manager and the scheduler serve nothing)."""
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                self._start()
                return
            except ControlPlaneError as err:
                if "address already in use" not in str(err) or attempt == _START_ATTEMPTS:
                    raise
                self.stop()
                shutil.rmtree(self.workdir / "etcd", ignore_errors=True)

    def _start(self) -> None:
        missing = [
            b
            for b in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
            if not (self.bin_dir / b).is_file()
        ]
        if missing:
            raise ControlPlaneError(f"not built in {self.bin_dir}: {', '.join(missing)}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        pki = _Pki(self.workdir / "pki")
        self.api_port = free_port()
        service_ip = str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))
        serving = pki.issue(
            "apiserver",
            "kube-apiserver",
            server_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            server_ips=("127.0.0.1", service_ip),
        )
        admin = pki.issue("admin", "admin", organization="system:masters")
        users = {
            "admin": admin,
            "controller-manager": pki.issue("controller-manager", "system:kube-controller-manager"),
            "scheduler": pki.issue("scheduler", "system:kube-scheduler"),
        }
        kubeconfigs = {}
        for user, cert in users.items():
            path = self.workdir / f"{user}.kubeconfig"
            ctx = self.context if user == "admin" else user
            path.write_text(kubeconfig_text(self.server, pki.ca, cert, ctx))
            path.chmod(0o600)
            kubeconfigs[user] = path
        self.kubeconfig_path = kubeconfigs["admin"]
        sa_key = ec.generate_private_key(ec.SECP256R1())
        sa_private, sa_public = self.workdir / "pki" / "sa.key", self.workdir / "pki" / "sa.pub"
        _write_key(sa_key, sa_private)
        sa_public.write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

        etcd_client, etcd_peer = free_port(), free_port()
        self._spawn(
            "etcd",
            "--name=e2e",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=e2e=http://127.0.0.1:{etcd_peer}",
            # test data: durability is not worth an fsync per write
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        )
        self._spawn(
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={pki.ca}",
            "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa_public}",
            f"--service-account-signing-key-file={sa_private}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            # 127.0.0.1 is not a valid endpoint address for the `kubernetes` Service
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        )
        self._wait_ready(admin, pki.ca)
        self._spawn(
            "kube-controller-manager",
            f"--kubeconfig={kubeconfigs['controller-manager']}",
            # nothing here reads its health or metrics endpoint: no port to race for
            "--secure-port=0",
            f"--service-account-private-key-file={sa_private}",
            f"--root-ca-file={pki.ca}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--leader-elect=false",
            "--profiling=false",
        )
        self._spawn(
            "kube-scheduler",
            f"--kubeconfig={kubeconfigs['scheduler']}",
            "--secure-port=0",
            "--leader-elect=false",
            "--profiling=false",
        )
        self._spawn(
            "kwok",
            f"--kubeconfig={kubeconfigs['admin']}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION[0]}={KWOK_ANNOTATION[1]}",
            f"--cidr={POD_CIDR}",
            "--node-ip=10.0.0.1",
            f"--server-address=127.0.0.1:{free_port()}",
            # the node and pod lifecycle the toolchain took from kwok's module
            f"--config={self.bin_dir / 'kwok-stages.yaml'}",
        )
        self.kubectl("apply", "-f", "-", input=self._nodes_yaml())
        self._wait(
            "the kwok nodes to be Ready",
            lambda: (
                self.kubectl(
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}",
                    check=False,
                ).split()
                == ["True"] * self.nodes
            ),
        )
        self._wait(
            "the controller manager (the default ServiceAccount)",
            lambda: bool(
                self.kubectl("get", "serviceaccount", "default", "-o", "name", check=False).strip()
            ),
        )

    def stop(self) -> None:
        """Stop every component, newest first (the API server before etcd), then forget them."""
        for proc in reversed(self.processes):
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGTERM)
                try:
                    proc.popen.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.popen.pid, signal.SIGKILL)
                    proc.popen.wait(timeout=15)
        self.processes.clear()

    def logs(self) -> str:
        """The last lines of every component's log (for a failure message)."""
        return "\n".join(f"--- {p.name} ({p.log})\n{p.tail()}" for p in self.processes)

    # -------------------------------------------------------------- helpers

    def _spawn(self, binary: str, *args: str) -> None:
        log = self.workdir / f"{binary}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [str(self.bin_dir / binary), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.processes.append(_Process(binary, popen, log))

    def _check_alive(self) -> None:
        for proc in self.processes:
            if proc.popen.poll() is not None:
                raise ControlPlaneError(
                    f"{proc.name} exited with {proc.popen.returncode}; log {proc.log}:\n{proc.tail()}"
                )

    def _wait(self, what: str, ready: Any, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.start_timeout)
        while True:
            self._check_alive()
            if ready():
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"timed out waiting for {what}\n{self.logs()}")
            time.sleep(0.25)

    def _wait_ready(self, admin: _Cert, ca: Path) -> None:
        context = ssl.create_default_context(cafile=str(ca))
        context.load_cert_chain(str(admin.cert), str(admin.key))

        def ready() -> bool:
            try:
                with urllib.request.urlopen(
                    f"{self.server}/readyz", context=context, timeout=2
                ) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False

        self._wait("kube-apiserver /readyz", ready)

    def _nodes_yaml(self) -> str:
        docs = []
        for i in range(self.nodes):
            name = f"kwok-node-{i}"
            docs.append(
                "apiVersion: v1\n"
                "kind: Node\n"
                "metadata:\n"
                f"  name: {name}\n"
                "  annotations:\n"
                f"    {KWOK_ANNOTATION[0]}: {KWOK_ANNOTATION[1]}\n"
                "    node.alpha.kubernetes.io/ttl: '0'\n"
                "  labels:\n"
                f"    kubernetes.io/hostname: {name}\n"
                "    kubernetes.io/os: linux\n"
                "    kubernetes.io/arch: amd64\n"
                "    type: kwok\n"
                "status:\n"
                "  allocatable: {cpu: '32', memory: 256Gi, pods: '110'}\n"
                "  capacity: {cpu: '32', memory: 256Gi, pods: '110'}\n"
            )
        return "---\n".join(docs)


@dataclass
class ExistingCluster:
    """A cluster the user names instead of a local control plane (same interface).

    ``kubeconfig_path`` is the user's kubeconfig; ``context`` one of its contexts. Nothing is
    started or stopped.
    """

    bin_dir: Path
    kubeconfig_path: Path
    context: str

    @property
    def kubeconfig(self) -> str:
        return self.kubeconfig_path.read_text()

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        proc = subprocess.run(
            [
                str(self.bin_dir / "kubectl"),
                "--kubeconfig",
                str(self.kubeconfig_path),
                "--context",
                self.context,
                *args,
            ],
            input=input,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(
            config_file=str(self.kubeconfig_path), context=self.context, persist_config=False
        )

    def logs(self) -> str:
        return f"(cluster {self.context} of {self.kubeconfig_path}: no local logs)"


@contextlib.contextmanager
def control_plane(
    bin_dir: Path, workdir: Path | None = None, **kwargs: Any
) -> Iterator[LocalControlPlane]:
    """A started control plane in ``workdir`` (a temporary directory when None)."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="e2e-cluster-")))
        yield stack.enter_context(LocalControlPlane(bin_dir=bin_dir, workdir=workdir, **kwargs))


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent / "toolchain"))
    import toolchain

    if len(argv) != 1:
        print(f"usage: {Path(__file__).name} WORKDIR", file=sys.stderr)
        return 2
    with control_plane(toolchain.bin_dir(), Path(argv[0]).resolve()) as cp:
        print(cp.kubeconfig_path, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
