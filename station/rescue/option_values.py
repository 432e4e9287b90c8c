"""The values rescue options take as text: how each is typed, which are accepted, how it prints back.

A `Kind` is what a flag's value is (a size, a count, seconds...): `parse` refuses what it does not
accept with a sentence that says what it does accept, and `text` writes a value so that `parse`
reads it back.  The option table (`option_flags.py`) gives each flag its kind; the CLI and the
workstation's forms parse through it, so a value is judged the same way wherever it is typed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from station.core.units import parse_c_int, parse_size

_BINARY = (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def size_text(n: int) -> str:
    """A size as `parse_size` reads it, exactly: '64Ki' for 65536, '1000' for 1000."""
    for suffix, unit in _BINARY:
        if n and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def _seconds(text: str) -> float:
    return float(text)


def _seconds_text(v: float) -> str:
    short = f"{v:g}"
    return short if float(short) == v else repr(float(v))


def _rate(text: str) -> float:
    return float(parse_size(text))


def _skip(text: str) -> tuple[int | None, int | None]:
    first, comma, most = text.partition(",")
    if not first and not most:
        raise ValueError(text)
    return (parse_size(first) if first else None, parse_size(most) if most else None)


def _skip_text(v: tuple[int | None, int | None]) -> str:
    first, most = v
    return (size_text(first) if first else "") + (f",{size_text(most)}" if most else "")


@dataclass(frozen=True)
class Kind:
    """What a flag's value is: `accepts` says it in words (the refusals quote it)."""

    accepts: str
    read: Callable[[str], Any]  # the text as typed -> a value; ValueError when it is not one
    valid: Callable[[Any], bool]  # whether the value is in range
    write: Callable[[Any], str] = str  # the value as text that `read` gives back

    def parse(self, text: str) -> Any:
        """The value `text` stands for; ValueError naming the text and what is accepted."""
        try:
            value = self.read(text.strip())
            ok = self.valid(value)
        except (ValueError, OverflowError):
            ok = False
        if not ok:
            raise ValueError(f"{text!r} is not {self.accepts}")
        return value

    def text(self, value: Any) -> str:
        return self.write(value)


def _finite(low: float, *, above: bool) -> Callable[[Any], bool]:
    return lambda v: math.isfinite(v) and (v > low if above else v >= low)


SIZE = Kind("a size in bytes, more than 0 (e.g. 4096, 64Ki, 1M)", parse_size, lambda v: v > 0, size_text)
POSITION = Kind(
    "a position in bytes, 0 or more (e.g. 0, 1Gi, 0x10000)", parse_size, lambda v: v >= 0, size_text
)
SECTOR_SIZE = Kind(
    "a power of two in bytes (e.g. 512, 4096)", parse_size, lambda v: v > 0 and not v & (v - 1), size_text
)
SECTORS = Kind("a whole number of sectors, 1 or more (e.g. 128)", parse_c_int, lambda v: v >= 1)
COUNT = Kind("a whole number, 0 or more", parse_c_int, lambda v: v >= 0)
PASSES = Kind(
    "a whole number of passes, 0 or more, or -1 (until no bad sector is left)", parse_c_int, lambda v: v >= -1
)
SECONDS = Kind(
    "a number of seconds, more than 0 (e.g. 30, 0.5)", _seconds, _finite(0, above=True), _seconds_text
)
SECONDS_OR_ZERO = Kind("a number of seconds, 0 or more", _seconds, _finite(0, above=False), _seconds_text)
RATE = Kind(
    "a rate in bytes per second, 0 (a tenth of the average) or more (e.g. 1M)",
    _rate,
    _finite(0, above=False),
    lambda v: size_text(round(v)),  # whole bytes per second: what `parse_size` reads
)
SKIP = Kind(
    "one or two sizes in bytes, INITIAL[,MAX], more than 0 (e.g. 64Ki or 64Ki,1Gi)",
    _skip,
    lambda v: all(x is None or x > 0 for x in v),
    _skip_text,
)


def _heads(text: str) -> list[int]:
    return sorted({int(h) for h in text.split(",")})


HEADS = Kind(
    "head numbers from 0, separated by commas (e.g. 2 or 1,3)",
    _heads,
    lambda v: bool(v) and all(0 <= h < 32 for h in v),
    lambda v: ",".join(map(str, v)),
)
HEAD_COUNT = Kind("a number of heads from 1 to 32", parse_c_int, lambda v: 1 <= v <= 32)
