"""Git's rules for branch names (`git check-ref-format --branch`), and what this project adds;
the default commit author.

A branch name enters in three places: `git.branch` in config, `fluxboot push --branch`, and the
Git writer itself (which the Pulumi program calls). Each checks it here, so a name Git would
refuse, or turn into an odd ref, is refused with the key or flag named before anything is
rendered or pushed, instead of failing half-way through a push.

Git's rules (git-check-ref-format(1)), applied to `refs/heads/<name>`:
- no component begins with `.` or ends with `.lock`; no `..`; no `@{`; no `\\`;
- no ASCII control character, space, `~`, `^`, `:`, `?`, `*` or `[`;
- does not begin or end with `/`, holds no `//`, does not end with `.`;
- `--branch` also refuses a name beginning with `-`, and `HEAD`.

This project also refuses `@` (Git reads it as `HEAD` in most commands) and a name beginning
with `refs/` (`refs/heads/main` would become the branch `refs/heads/refs/heads/main`).
"""

from __future__ import annotations

from components.common.errors import quote

# Author and committer of every commit, unless `git.author` says otherwise.
DEFAULT_AUTHOR = ("flux-gitops", "flux-gitops@noreply.invalid")

_FORBIDDEN = frozenset(" ~^:?*[\\")


def branch_problem(name: str) -> str | None:
    """Why `name` is not a usable branch name, or None when it is."""
    if not name:
        return "is empty"
    if name.startswith("-"):
        return "begins with '-'"
    if name == "HEAD":
        return "is HEAD, which Git reserves for the current commit"
    if name == "@":
        return "is '@', which Git reads as HEAD"
    if name.startswith("refs/"):
        return "begins with refs/: give the branch name alone (main, not refs/heads/main)"
    for ch in name:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            return "holds a control character (a newline?)"
        if ch in _FORBIDDEN:
            return f"holds {ch!r}, which Git does not allow in a branch name"
    if "@{" in name:
        return "holds '@{'"
    if ".." in name:
        return "holds '..'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "begins or ends with '/', or holds '//'"
    if name.endswith("."):
        return "ends with '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return f"has a part beginning with '.' ({quote(part)})"
        if part.endswith(".lock"):
            return f"has a part ending with '.lock' ({quote(part)})"
    return None
