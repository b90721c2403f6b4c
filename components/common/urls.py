"""User info in URLs (`scheme://user:password@host`): find it, and redact it from any text.

Two rules of the project rest on this module:

- the config layer refuses credentials in every URL that is written to a file (the GitOps
  repository, the stack file, the Pulumi state): they belong in Pulumi secrets;
- everything shown to a user (CLI output, errors, Git's own error text) has its user info
  replaced by `***`, in every form: `user:password@`, a token alone in the user slot
  (`https://TOKEN@host`, `https://TOKEN:x-oauth-basic@host`), and passwords holding `@` or `/`,
  which a URL parser would split at the wrong place.

User info ends at the last `@` that is followed by something shaped like a host (and a port),
then the end of the URL or `/`, `?`, `#`. That reads `https://u:p@ss/w@host/r.git` as the user
info `u:p@ss/w`, where Git and urllib stop at the first `/` or `@` and would leave part of the
password in the text. A path that holds an `@` may be redacted along with it: in a message,
too much hidden is harmless, too little is a leak.

ssh:// URLs (and Git's scp-like `git@host:path`) keep a user name without a password: ssh has no
way to take a token in the user slot, and `git@` tells the reader which account is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REDACTED = "***"
# A URL inside text: the scheme, then everything up to whitespace or an angle bracket, quotes
# included (a password may hold one); `q` is the quote the URL is written in, if any.
_URL = re.compile(
    r"(?P<q>['\"])?(?P<scheme>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>[^\s<>`]*)"
)
# What follows user info: a host name, an IPv4 or a bracketed IPv6 address, and a port, then the
# end of the URL (a path, a query, a fragment, or the quote or bracket the URL is written in).
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]*\]|[A-Za-z0-9._~%-]*)(:[0-9]*)?(?=[/?#'\"),;\]]|\Z)")
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})


@dataclass(frozen=True)
class UserInfo:
    """The user info of one URL: the user slot, and the password when there is a `:`."""

    user: str
    password: str | None


def _split(rest: str) -> tuple[str | None, str]:
    """(user info or None, the rest after its `@`) of the text after `scheme://`."""
    at = rest.rfind("@")
    while at >= 0:
        if _HOST.match(rest, at + 1):
            return rest[:at], rest[at + 1 :]
        at = rest.rfind("@", 0, at)
    return None, rest


def _scheme_name(scheme: str) -> str:
    return scheme[: -len("://")].lower()


def user_info(url: str) -> UserInfo | None:
    """The user info of a `scheme://` URL, or None when it has none (or is no such URL)."""
    m = _URL.match(url.strip())
    if m is None:
        return None
    info, _ = _split(m.group("rest"))
    if info is None:
        return None
    user, colon, password = info.partition(":")
    return UserInfo(user, password if colon else None)


def credential_in(url: str) -> str | None:
    """What credential a URL carries, worded for a message (None: nothing secret).

    Any user info of an http(s), oci or other URL counts (a token is often the user name); for
    ssh:// only a password does.
    """
    info = user_info(url)
    if info is None:
        return None
    m = _URL.match(url.strip())
    scheme = _scheme_name(m.group("scheme")) if m else ""
    if info.password is not None:
        return "a user name and password"
    if scheme in _SSH_SCHEMES:
        return None
    return "a user name or token"


def _redact_one(m: re.Match[str]) -> str:
    q, scheme, rest = m.group("q") or "", m.group("scheme"), m.group("rest")
    # Written in quotes ('URL' in Git's messages), the URL most likely ends at the closing quote;
    # when no user info ends before it, the quote may be part of a password: look further.
    info, after = _split(rest.partition(q)[0]) if q else (None, rest)
    if info is not None:
        after += rest[len(info) + 1 + len(after) :]
    else:
        info, after = _split(rest)
    if info is None or (_scheme_name(scheme) in _SSH_SCHEMES and ":" not in info):
        return m.group(0)  # no user info, or ssh://git@host: a login name, never a credential
    return f"{q}{scheme}{REDACTED}@{after}"


def redact(text: str) -> str:
    """`text` with the user info of every `scheme://` URL in it replaced by `***`."""
    if "://" not in text:
        return text
    return _URL.sub(_redact_one, text)
