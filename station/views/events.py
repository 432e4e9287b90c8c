"""Events in words: the one line each event is worth, for every view that lists them.

The workstation's event log, a followed session's log and the notes under `station image`'s
progress panel all read the same events; saying them here keeps them saying the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from station.core import events as ev
from station.core.units import fmt_bytes

_STAGES = {
    "priority": "the ranges asked for first",
    "metadata": "partition tables and filesystem metadata",
    "files": "the chosen files",
    "used": "the used blocks",
    "rest": "the rest",
}


def _stage(e: ev.StageStarted) -> str:
    what = _STAGES.get(e.stage, e.stage)
    rnd = f" (round {e.round})" if e.stage in ("metadata", "files") else ""
    return f"stage: {what}{rnd}: {fmt_bytes(e.size)} in {e.ranges} range(s), {fmt_bytes(e.pending)} to read"


_LINES: dict[type[ev.Event], Callable[[Any], str]] = {
    ev.StageStarted: _stage,
    ev.PhaseStarted: lambda e: f"{e.phase} pass {e.pass_} ({e.direction})",
    ev.ReadFailed: lambda e: f"read error at {e.pos:#x} ({fmt_bytes(e.size)}): {e.error}",
    ev.ReadHung: lambda e: f"read at {e.pos:#x} hung for {e.timeout:g} s; source reopened",
    ev.SourceReopened: lambda e: f"source reopened {e.reason}",
    ev.PowerCycled: lambda e: f"power cycle {e.cycles} ({e.reason}): {e.detail}",
    ev.MapSaved: lambda e: f"map saved ({e.fragments} fragments)",
    ev.Paused: lambda e: "paused: " + (", ".join(e.reasons) or "on request"),
    ev.Resumed: lambda e: "resumed",
    ev.Notice: lambda e: e.message,
    ev.TargetState: lambda e: f"{e.target}: {e.state}" + (f" ({e.detail})" if e.detail else ""),
    ev.Finished: lambda e: f"{e.outcome}: {e.reason}",
}


def describe(e: ev.Event) -> str | None:
    """A line for an event log, or None for events not worth one (progress, SMART polls)."""
    line = _LINES.get(type(e))
    return line(e) if line is not None else None


def clock_text(t: float) -> str:
    """Seconds since the job started as HH:MM:SS, the time column of an event log."""
    m, s = divmod(int(t), 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"
