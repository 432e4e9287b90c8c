"""Sessions in words: what the CLI's and the workstation's session lists say of a record."""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterable

from station.core.events import Event, Progress
from station.core.record import SessionRecord
from station.core.units import fmt_bytes, fmt_duration, fmt_percent
from station.rescue.option_flags import option_words
from station.rescue.options import RescueOptions
from station.views.events import clock_text, describe


def method_text(record: SessionRecord) -> str:
    """The method and the options that differ from the defaults, briefly."""
    bits = option_words(RescueOptions.from_dict(record.options))
    if record.options.get("image_format") == "zst":
        bits.append("zst")
    if record.options.get("files_first"):
        bits.append("files first: " + " ".join(record.options["files_first"]))
    method = record.method or "engine"
    return method + (f" ({', '.join(bits)})" if bits else "")


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def record_lines(record: SessionRecord, state: str) -> list[str]:
    """One session's record, a field a line (`station sessions ID`): what ran, where, how it ended."""
    r = record
    src = r.source
    source = " ".join(x for x in (src.path, src.model, src.serial and f"serial {src.serial}") if x)
    lines = [
        f"session   {r.id}  ({r.kind})",
        f"state     {state}" + (f": {r.reason}" if r.reason else ""),
        f"started   {_when(r.started)}" + (f"   ended {_when(r.ended)}" if r.ended else ""),
        f"method    {method_text(r)}",
        f"source    {source}" + (f", {fmt_bytes(src.size)}" if src.size else ""),
    ]
    lines += [f"dest      {d}" for d in r.destinations]
    lines += [
        f"mapfile   {r.mapfile or '-'}",
        f"command   {shlex.join(r.command) if r.command else '-'}",
        f"host      {r.host or '-'}, pid {r.pid if r.pid is not None else '-'}",
        f"resumed   {'yes: it went on from an earlier run' if r.resumed else 'no'}",
    ]
    res = r.result
    if res is not None and res.rescued is not None:
        size = res.size or src.size or 0
        rescued = f"{fmt_bytes(res.rescued)} of {fmt_bytes(size)} ({fmt_percent(res.rescued, size)})"
        lines.append(
            f"result    rescued {rescued}, bad {fmt_bytes(res.bad or 0)}, {res.read_errors or 0} read errors"
        )
        lines += [f"hash      {a} {h}" for a, h in sorted((res.hashes or {}).items())]
    return lines


def event_lines(events: Iterable[Event]) -> list[str]:
    """A session's log in words, one line an event, and its last counters (progress is not a line)."""
    lines: list[str] = []
    last: Progress | None = None
    for e in events:
        if isinstance(e, Progress):
            last = e
            continue
        said = describe(e)
        if said:
            lines.append(f"{clock_text(e.t)} {said}")
    if last is not None:
        lines.append(
            f"last counters: {last.phase} pass {last.pass_}, rescued {fmt_bytes(last.rescued)}"
            f" ({fmt_percent(last.rescued, last.size)}), {last.read_errors} read errors,"
            f" {fmt_duration(last.elapsed)} of work"
        )
    return lines
