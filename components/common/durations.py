"""Durations written the way Go prints them (`time.Duration.String`).

Where flux writes a duration into a file (the `flux-system` GitRepository and Kustomization of
gotk-sync.yaml), it writes Go's form: `1m0s`, `10m0s`, `1h30m0s`, `1.5s`, `500ms`. The API server
stores the string as given, so writing `1m` where flux wrote `1m0s` would change the object (and
bump its generation) on every takeover: these files use Go's form too.
"""

from __future__ import annotations

import re
from decimal import Decimal

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def nanoseconds(text: str) -> int:
    """A duration in Flux's syntax (`1h30m`, `1.5s`, `500ms`) in nanoseconds."""
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration")
    return int(sum(Decimal(n) * _NS[u] for n, u in parts))


def _fraction(value: int, unit: int) -> str:
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def go_duration(text: str) -> str:
    """`text` as Go's `time.Duration.String()` writes it."""
    ns = nanoseconds(text)
    if ns == 0:
        return "0s"
    if ns < 1000:
        return f"{ns}ns"
    if ns < 10**6:
        return _fraction(ns, 1000) + "µs"
    if ns < 10**9:
        return _fraction(ns, 10**6) + "ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    out = f"{hours}h" if hours else ""
    if hours or minutes:
        out += f"{minutes}m"
    return out + _fraction(rest, 10**9) + "s"
