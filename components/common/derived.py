"""A cache of what a fresh process would otherwise recompute from the same bytes.

Each `pulumi preview` and each `fluxboot` command is a new process, and most of what one
stack's render costs there is the same work every time: parsing the release's install manifest
(~35 ms for 270 KB of YAML), serialising the customised install as gotk-components.yaml
(~20 ms) and compiling the CRD schemas and CEL rules the stack's files are checked against
(~40 ms). The results are kept under `$XDG_CACHE_HOME/flux-gitops/derived/` (`~/.cache` by
default), in one directory per version of the code (`code_fingerprint()`: the source of every
module of this package and the versions of PyYAML with libyaml, the CEL runtime, protobuf and
Python), each entry named by the digest of the input it was made from:

- `parsed/<sha256 of the manifest text>.json`: the manifest's objects (`manifests`);
- `rendered/<digest of the manifest and the flux settings>.yaml`: gotk-components.yaml
  (`bootstrap`);
- `verdicts/<digest of the release and every file's text>.json`: what checking one render's
  files against the release's CRD schemas and CEL rules found (`pipeline`).

So an entry is only ever found by the code and the input it was made from. Any change to the
code starts a new directory, and the directories of all but the previous version are removed
then, so the cache does not grow with upgrades. An entry is written atomically (a concurrent
reader sees all of it or none), read back only when it is whole (each starts with the digest of
the rest of its text, and a JSON entry also records the name it was made for), and otherwise
ignored and written again. A cache that cannot be written (a read-only home, a full disk) only
costs the time it would have saved. The digests find damage, not forgery: the cache is trusted
like the rest of the user's home directory (whoever can write there can change what runs
anyway). `FLUXBOOT_RENDER_CACHE=off` turns it off; deleting it is always safe.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import shutil
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
    """The name of the entry made from `parts`."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def entry(kind: str, name: str) -> Path:
    """Where the entry `name` of `kind` (parsed, rendered, verdicts) is kept for this code."""
    return base() / "derived" / code_fingerprint()[:32] / kind / name


def enabled() -> bool:
    return os.environ.get(CACHE_ENV, "").strip().lower() not in ("off", "0", "false", "no")


def store(path: Path, text: str, *, durable: bool = True) -> None:
    """Write `text` to `path` atomically: a concurrent reader sees the old file or the new one,
    never half of one; `durable`: on disk before it is renamed into place (fsync). Raises
    OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _put(path: Path, text: str) -> None:
    """Keep an entry, not durably (a torn entry after a crash fails its digest and is made
    again). Failing to keep it costs only time."""
    code_dir = path.parents[1]
    with contextlib.suppress(OSError, ValueError):
        if not code_dir.is_dir():
            code_dir.mkdir(parents=True, exist_ok=True)
            _prune(code_dir)
        store(path, text, durable=False)


def _prune(current: Path) -> None:
    """Remove the directories of older code but the most recent one (a user switching between
    two versions keeps both warm)."""
    others = [d for d in current.parent.iterdir() if d != current and d.is_dir()]
    others.sort(key=lambda d: d.stat().st_mtime, reverse=True)
    for old in others[1:]:
        shutil.rmtree(old, ignore_errors=True)


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
