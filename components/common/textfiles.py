"""Reading a user's text file: bounded in size, UTF-8, and every failure one line naming the file.

Every file a command reads on the user's word (stack files, `new-cluster --from`, a kubeconfig,
`flux.manifestsPath`, the repository template) comes through here, so a binary file, a
directory, an unreadable or an oversized one is refused with the file named instead of a
`UnicodeDecodeError` traceback or a minute spent parsing 40 MB.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from components.common.errors import FluxGitopsError


class UnreadableFileError(FluxGitopsError):
    """A file that cannot be read as text; `reason` says why, `label` names it."""

    def __init__(self, label: str, reason: str) -> None:
        self.label = label
        self.reason = reason
        super().__init__(f"{label}: {reason}")


def read_text(path: Path, label: str, max_bytes: int) -> str:
    """The UTF-8 text of `path`, at most `max_bytes` long; `label` names it in errors."""
    try:
        with path.open("rb") as fh:
            data = _read_bounded(fh, max_bytes)
    except FileNotFoundError:
        raise UnreadableFileError(label, "no such file") from None
    except IsADirectoryError:
        raise UnreadableFileError(label, "is a directory, not a file") from None
    except OSError as err:
        raise UnreadableFileError(label, f"cannot be read: {err.strerror or err}") from None
    if len(data) > max_bytes:
        raise UnreadableFileError(
            label, f"is larger than {max_bytes} bytes, more than such a file ever needs: refused"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnreadableFileError(
            label, f"is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})"
        ) from None


def _read_bounded(fh: BinaryIO, max_bytes: int) -> bytearray:
    """At most `max_bytes + 1` bytes of `fh` (one more shows the file is too large), in reads
    sized by the file: `read(n)` allocates n bytes up front, and a bound such as a manifest's
    32 MiB is far above what the file holds (it cost every stack render 32 MB of memory)."""
    want = max_bytes + 1
    step = max(os.fstat(fh.fileno()).st_size + 1, 1 << 16)
    data = bytearray()
    while len(data) < want:
        chunk = fh.read(min(step, want - len(data)))
        if not chunk:
            break
        data += chunk
    return data
