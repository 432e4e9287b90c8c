"""Events in words: the one line each event is worth, for every view that lists them.

The workstation's event log, a followed session's log and the notes under `station image`'s
progress panel all read the same events; saying them here keeps them saying the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from station.core.events import (
    Event,
    Finished,
    MapSaved,
    Notice,
    Paused,
    PhaseStarted,
    PowerCycled,
    ReadFailed,
    ReadHung,
    Resumed,
    SourceReopened,
)
from station.core.units import fmt_bytes

_LINES: dict[type[Event], Callable[[Any], str]] = {
    PhaseStarted: lambda e: f"{e.phase} pass {e.pass_} ({e.direction})",
    ReadFailed: lambda e: f"read error at {e.pos:#x} ({fmt_bytes(e.size)}): {e.error}",
    ReadHung: lambda e: f"read at {e.pos:#x} hung for {e.timeout:g} s; source reopened",
    SourceReopened: lambda e: f"source reopened {e.reason}",
    PowerCycled: lambda e: f"power cycle {e.cycles} ({e.reason}): {e.detail}",
    MapSaved: lambda e: f"map saved ({e.fragments} fragments)",
    Paused: lambda e: "paused: " + (", ".join(e.reasons) or "on request"),
    Resumed: lambda e: "resumed",
    Notice: lambda e: e.message,
    Finished: lambda e: f"{e.outcome}: {e.reason}",
}


def describe(e: Event) -> str | None:
    """A line for an event log, or None for events not worth one (progress, SMART polls)."""
    line = _LINES.get(type(e))
    return line(e) if line is not None else None


def clock_text(t: float) -> str:
    """Seconds since the job started as HH:MM:SS, the time column of an event log."""
    m, s = divmod(int(t), 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"
