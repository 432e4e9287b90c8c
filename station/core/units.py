"""Human-readable numbers: sizes, rates and durations, as ddrescue prints them."""

from __future__ import annotations

import re

_SI_PREFIXES = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_BINARY_PREFIXES = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi")


def fmt_bytes(n: float, *, binary: bool = False, digits: int = 4, truncate: bool = False) -> str:
    """A byte count with ddrescue's prefixes: divided by 1000 (1024 with `binary`) while it has more
    than `digits` digits, then 'N kB', 'N MiB'...

    The one byte formatter.  The live views keep numbers short and rounded ('1235 kB' for 1234567);
    `station map` matches `ddrescuelog -t` to the letter, so it asks for ddrescue's own
    `format_num`: 6 digits, each division truncated as C does ('123456 kB', '1024 KiB').
    """
    factor, prefixes = (1024, _BINARY_PREFIXES) if binary else (1000, _SI_PREFIXES)
    value: float = int(n) if truncate else float(n)
    prefix = ""
    for p in prefixes:
        if abs(value) < 10**digits:
            break
        value = abs(value) // factor * (1 if value >= 0 else -1) if truncate else value / factor
        prefix = p
    return f"{value:.0f} {prefix}B" if not truncate else f"{value} {prefix}B"


def fmt_rate(n: float) -> str:
    """Bytes per second, as ddrescue prints rates."""
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
    """A share for the live views: four significant digits, 100% only when it is all."""
    if not whole:
        return "100%"
    p = 100.0 * part / whole
    return f"{p:.4g}%" if p < 100 or part == whole else "99.99%"


def format_percentage(num: int, den: int) -> str:
    """ddrescue's format_percentage(num, den, 3, -2): at most two decimals, only those needed, rounded."""
    if den <= 0:
        return "  0%"
    scaled = num * 100
    whole, rest = divmod(scaled, den)
    if rest == 0:
        return f"{whole:3d}%"
    if (scaled * 10) % den == 0:
        return f"{whole:3d}.{scaled * 10 // den % 10}%"
    hundredths, rest = divmod(scaled * 100, den)
    if rest * 2 >= den:
        hundredths += 1
    return f"{hundredths // 100:3d}.{hundredths % 100:02d}%"


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
