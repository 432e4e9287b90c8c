"""Human-readable numbers: sizes, rates and durations, as ddrescue prints them."""

from __future__ import annotations

import re

_SI = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]


def fmt_bytes(n: float) -> str:
    """1234567 -> '1234 kB' (ddrescue style: SI, at most 4 digits before the unit)."""
    n = float(n)
    i = 0
    while abs(n) >= 10000 and i < len(_SI) - 1:
        n /= 1000
        i += 1
    return f"{n:.0f} {_SI[i]}"


def fmt_rate(n: float) -> str:
    return f"{fmt_bytes(n)}/s"


def fmt_duration(seconds: float | None) -> str:
    """Seconds -> '1d 2h', '3h 4m', '5m 6s', '7s'; 'n/a' when unknown."""
    if seconds is None:
        return "n/a"
    s = int(round(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    if m:
        return f"{m}m {s}s"
    return f"{s}s"


def fmt_percent(part: float, whole: float) -> str:
    if not whole:
        return "100%"
    p = 100.0 * part / whole
    return f"{p:.4g}%" if p < 100 or part == whole else "99.99%"


_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")


def parse_c_int(text: str) -> int:
    """Parse an integer the way C's strtoll with base 0 does (whole token only)."""
    if not _INT.match(text):
        raise ValueError(f"not a number: {text!r}")
    sign = -1 if text[0] == "-" else 1
    body = text.lstrip("+-")
    if body[:2] in ("0x", "0X"):
        return sign * int(body[2:], 16)
    if len(body) > 1 and body[0] == "0":
        return sign * int(body[1:], 8)
    return sign * int(body)


def parse_size(text: str) -> int:
    """'64Ki', '1M', '2048', '0x1000', '4s' (sectors of 512) -> bytes, like ddrescue's numbers."""
    t = text.strip()
    mult = 1
    suffixes = {
        "s": 512, "k": 1000, "Ki": 1024, "M": 10**6, "Mi": 2**20, "G": 10**9, "Gi": 2**30,
        "T": 10**12, "Ti": 2**40,
    }  # fmt: skip
    for suf in sorted(suffixes, key=len, reverse=True):
        if t.endswith(suf) and not t.lower().startswith("0x"):
            mult, t = suffixes[suf], t[: -len(suf)]
            break
        if t.endswith(suf + "B") and not t.lower().startswith("0x"):
            mult, t = suffixes[suf], t[: -len(suf) - 1]
            break
    value = parse_c_int(t)
    if value < 0:
        raise ValueError(f"negative size: {text!r}")
    return value * mult
