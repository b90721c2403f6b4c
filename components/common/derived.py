"""A cache of what a fresh process would otherwise recompute from the same bytes.

Each `pulumi preview` and each `fluxboot` command is a new process, and most of what one
stack's render costs there is the same work every time: parsing the release's install manifest
(~35 ms for 270 KB of YAML) and serialising the customised install as gotk-components.yaml
(~20 ms). Both results are kept under `$XDG_CACHE_HOME/flux-gitops/` (`~/.cache` by default),
named by the digest of everything they are computed from, so an entry can only ever be found by
the input it was made from:

- `parsed/<sha256 of the manifest text>.json`: the manifest's objects (`manifests`);
- `rendered/<sha256 of the objects' JSON and the serialiser>.yaml`: their YAML in flux's style
  (`bootstrap`); "the serialiser" is the source of `yamlio` and the PyYAML and libyaml
  versions, so a change to any of them is a different name.

An entry is written atomically, read back only when it is whole (a rendered entry carries the
digest of its own text, a parsed one the digest it was named by), and otherwise ignored and
written again. A cache that cannot be written (a read-only home, a full disk) only costs the
time it would have saved. The cache is trusted like the rest of the user's home directory.
`FLUXBOOT_RENDER_CACHE=off` turns it off; deleting the directories is always safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_ENV = "FLUXBOOT_RENDER_CACHE"


def base() -> Path:
    """`$XDG_CACHE_HOME/flux-gitops`, where this project keeps everything it caches."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "flux-gitops"


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


def put(path: Path, text: str) -> None:
    """`store`, for an entry of this cache: failing to keep it costs only time."""
    with contextlib.suppress(OSError, ValueError):
        store(path, text)


def read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def put_text(path: Path, text: str) -> None:
    """Keep `text` with the digest of itself on the first line (see `get_text`)."""
    put(path, hashlib.sha256(text.encode()).hexdigest() + "\n" + text)


def get_text(path: Path) -> str | None:
    """What `put_text` kept at `path`, or None when there is no whole, undamaged entry."""
    raw = read(path)
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
