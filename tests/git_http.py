"""A Git smart-HTTP server for tests: `git http-backend` behind Basic authentication.

Git sends the user info of an http:// URL only when the server asks for it (401), so a server
that requires a password is what exercises the credentials in `--repo http://user:token@...`,
and Git's own error text when they are wrong.
"""

from __future__ import annotations

import base64
import os
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(server: socketserver.TCPServer) -> int:
    """Serve `server` from a daemon thread; its port."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return int(server.socket.getsockname()[1])


def stop(server: socketserver.BaseServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def http_backend(
    environ: dict[str, Any], start_response: Any, root: Path, remote_user: str
) -> list[bytes]:
    """Answer one WSGI request with `git http-backend` over the bare repositories under `root`."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": environ["PATH_INFO"],
        "QUERY_STRING": environ.get("QUERY_STRING", ""),
        "REQUEST_METHOD": environ["REQUEST_METHOD"],
        "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": remote_user,
    }
    out = subprocess.run(
        ["git", "http-backend"], input=body, env=env, capture_output=True, check=True
    ).stdout
    head, _, payload = out.partition(b"\r\n\r\n")
    headers = [tuple(line.split(": ", 1)) for line in head.decode().split("\r\n") if ": " in line]
    status = next((v for k, v in headers if k.lower() == "status"), "200 OK")
    start_response(status, [(k, v) for k, v in headers if k.lower() != "status"])
    return [payload]


def _app(root: Path, user: str, password: str) -> Any:
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("HTTP_AUTHORIZATION") != expected:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
            return [b"authentication required\n"]
        return http_backend(environ, start_response, root, user)

    return app


@contextmanager
def git_http_server(root: Path, user: str, password: str) -> Iterator[str]:
    """Serve the bare repositories under `root`; yields the base URL (no credentials in it)."""
    server = make_server("127.0.0.1", 0, _app(root, user, password), handler_class=QuietHandler)
    port = serve(server)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop(server)
