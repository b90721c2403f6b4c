"""Reading a user's text file: bounded in size, UTF-8, and every failure one line naming the file.

Every file a command reads on the user's word (stack files, `new-cluster --from`, a kubeconfig,
`flux.manifestsPath`, the repository template) comes through here, so a binary file, a
directory, an unreadable or an oversized one is refused with the file named instead of a
`UnicodeDecodeError` traceback or a minute spent parsing 40 MB.
"""

from __future__ import annotations

from pathlib import Path

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
            data = fh.read(max_bytes + 1)
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
