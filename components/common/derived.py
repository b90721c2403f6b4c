"""A cache of what a fresh process would otherwise recompute from the same bytes.

Each `pulumi preview` and each `fluxboot` command is a new process, and most of what one
stack's render costs there is the same work every time: parsing the release's install manifest
(~35 ms for 270 KB of YAML) and serialising the customised install as gotk-components.yaml
(~20 ms). Both results are kept under `$XDG_CACHE_HOME/flux-gitops/` (`~/.cache` by default),
named by the digest of everything they are computed from, so an entry can only ever be found by
the input it was made from:

- `parsed/<sha256 of the manifest text>.json`: the manifest's objects (`manifests`);
- `rendered/<digest of the objects>.yaml`: their YAML in flux's style (`bootstrap`);
- `verdicts/<digest of a file's text and the release>.json`: what checking the Flux objects of
  one rendered file against the release's CRD schemas and CEL rules found (`pipeline`): compiling
  those is most of what validating costs in a fresh process.

Every digest also covers `code_fingerprint()`: the source of every module of this package and
the versions of the libraries that parse, write and check (PyYAML with libyaml, the CEL runtime,
protobuf, Python). Any change to the code is a different name, so an entry is only ever found by
the code and the input it was made from. An entry is written atomically, read back only when it
is whole (each starts with the digest of the rest of its text, and a JSON entry also records
the name it was made for), and otherwise ignored and written again. A cache that cannot be written (a read-only home, a full disk) only costs the
time it would have saved. The digests find damage, not forgery: the cache is trusted like the
rest of the user's home directory (whoever can write there can change what runs anyway).
`FLUXBOOT_RENDER_CACHE=off` turns it off; deleting the directories is always safe.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

CACHE_ENV = "FLUXBOOT_RENDER_CACHE"


def base() -> Path:
    """`$XDG_CACHE_HOME/flux-gitops`, where this project keeps everything it caches."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "flux-gitops"


@functools.cache
def code_fingerprint() -> str:
    """A digest of what decides every cached result besides its input (see the module
    docstring): ~0.5 MB of source hashed once per process, ~2 ms."""
    package = Path(__file__).resolve().parents[1]
    return source_digest(package, _library_versions())


def source_digest(package: Path, extra: str = "") -> str:
    """A digest of the name and bytes of every Python file under `package`, and of `extra`."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    digest.update(extra.encode())
    return digest.hexdigest()


def _library_versions() -> str:
    import google.protobuf  # here: this module is imported before anything heavy
    import yaml

    libyaml = yaml._yaml.get_version_string() if yaml.__with_libyaml__ else "none"
    # the CEL runtime has no version attribute: its compiled extension stands for it
    spec = importlib.util.find_spec("cel_expr_python.cel")
    cel = Path(spec.origin) if spec and spec.origin else None
    cel_stat = f"{cel.stat().st_size} {cel.stat().st_mtime_ns}" if cel and cel.is_file() else ""
    return "\n".join(
        [
            f"Python {sys.version}",
            f"PyYAML {yaml.__version__} libyaml {libyaml}",
            f"protobuf {google.protobuf.__version__}",
            f"cel-expr-python {cel} {cel_stat}",
        ]
    )


def key(*parts: str) -> str:
    """The name of an entry made from `parts` by this code (see `code_fingerprint`)."""
    digest = hashlib.sha256(code_fingerprint().encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


def enabled() -> bool:
    return os.environ.get(CACHE_ENV, "").strip().lower() not in ("off", "0", "false", "no")


def store(path: Path, text: str) -> None:
    """Write `text` to `path` atomically: a concurrent reader sees the old file or the new one,
    never half of one. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _put(path: Path, text: str) -> None:
    """`store`, for an entry of this cache: failing to keep it costs only time."""
    with contextlib.suppress(OSError, ValueError):
        store(path, text)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def put_text(path: Path, text: str) -> None:
    """Keep `text` with the digest of itself on the first line (see `get_text`)."""
    _put(path, hashlib.sha256(text.encode()).hexdigest() + "\n" + text)


def get_text(path: Path) -> str | None:
    """What `put_text` kept at `path`, or None when there is no whole, undamaged entry."""
    raw = _read(path)
    if raw is None:
        return None
    digest, sep, body = raw.partition(b"\n")
    if not sep or hashlib.sha256(body).hexdigest().encode() != digest:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def json_exact(obj: Any) -> bool:
    """True when JSON gives `obj` back equal and of the same types: only strings, numbers,
    booleans, nulls, lists and string-keyed maps (no int keys, dates, sets or bytes)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if not all(type(k) is str for k in item):
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind not in (str, int, float, bool) and item is not None:
            return False
    return True
