"""Watching a rescue as it runs, for any view: map snapshots, speed curves, following a session's log.

No Textual here.  The workstation draws what these produce; tests drive them directly.

* `MapProbe` takes snapshots of a running job's map *in the engine's own thread* (from the
  emit callback, at most a few times a second), so a view never reads a map while it changes.
* `SpeedSeries` (from station.core.speed, where the report reaches it too) is a rate-over-time
  curve from Progress events, with the read errors marked, thinned so that a day-long session
  stays small.
* `EventTail` reads new lines of a session's events.jsonl, for sessions of other processes.
* `session_figures` gives a finished or running session's comparison numbers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from station.core.events import Event, Finished, Progress, event_from_dict
from station.core.ranges import Range
from station.core.speed import SpeedSeries
from station.rescue.heads import Cell, HeadLayout, head_cells, head_layout
from station.rescue.knowledge import Knowledge
from station.rescue.rescuemap import RescueMap, Status
from station.views.mapview import cell_of, cell_statuses, slow_cells

# -- the sector map ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapSnapshot:
    """What a sector map shows: `cells` over [lo, hi) of a map of `size` bytes."""

    size: int
    lo: int
    hi: int
    cells: tuple[Status | None, ...]
    current: int | None  # index of the cell holding the current position, if in view
    bytes_per_cell: int
    slow: tuple[bool, ...] = ()  # per cell: holds a known slow area (engine knowledge, not a status)

    @classmethod
    def of(
        cls, m: RescueMap, cells: int, lo: int = 0, hi: int | None = None, slow: list[Range] | None = None
    ) -> MapSnapshot:
        hi = m.size if hi is None else min(hi, m.size)
        lo = max(0, min(lo, hi))
        statuses = tuple(cell_statuses(m, cells, lo, hi)) if cells > 0 else ()
        slowness = tuple(slow_cells(m.size, cells, slow, lo, hi)) if cells > 0 and slow else ()
        cur = cell_of(hi - lo, cells, m.current_pos - lo) if cells > 0 else None
        return cls(m.size, lo, hi, statuses, cur, -(-(hi - lo) // cells) if cells else 0, slowness)

    def is_slow(self, i: int) -> bool:
        return i < len(self.slow) and self.slow[i]

    def cell_range(self, i: int) -> tuple[int, int]:
        """The bytes [pos, end) that cell i covers."""
        n = len(self.cells)
        span = self.hi - self.lo
        used = min(n, span) or 1
        if i >= used:
            return self.hi, self.hi
        return self.lo + span * i // used, self.lo + span * (i + 1) // used


@dataclass
class Zoom:
    """Which region of the map a view shows; zooming halves or doubles it around a position."""

    size: int
    lo: int = 0
    hi: int | None = None
    min_span: int = 4096

    def __post_init__(self) -> None:
        if self.hi is None:
            self.hi = self.size

    @property
    def span(self) -> int:
        return (self.hi or 0) - self.lo

    @property
    def whole(self) -> bool:
        return self.lo == 0 and self.hi == self.size

    def zoom_in(self, around: int, factor: int = 4) -> None:
        span = max(self.span // factor, min(self.min_span, self.size))
        self._centre(around, span)

    def zoom_out(self, factor: int = 4) -> None:
        self._centre((self.lo + (self.hi or 0)) // 2, self.span * factor)

    def pan(self, fraction: float) -> None:
        """Move by a fraction of the span (negative: towards the start)."""
        self._centre((self.lo + (self.hi or 0)) // 2 + int(self.span * fraction), self.span)

    def reset(self) -> None:
        self.lo, self.hi = 0, self.size

    def _centre(self, around: int, span: int) -> None:
        span = min(max(span, 1), self.size)
        lo = min(max(around - span // 2, 0), self.size - span)
        self.lo, self.hi = lo, lo + span


class MapProbe:
    """Snapshots of a running job's map, taken in the engine thread at its Progress events.

    A view says which region and how many cells it wants (`want`, from any thread); the
    engine's emit wrapper calls `take()` with the map, which is only ever safe to read there
    (or when the job is paused or over).  The latest snapshot is kept in `latest`.
    """

    def __init__(
        self, rmap: RescueMap, cells: int = 0, slow: Callable[[], list[Range]] | None = None
    ) -> None:
        self.map = rmap
        self.slow = slow  # the job's known slow areas (read where the map is read)
        self._lock = threading.Lock()
        self._want: tuple[int, int, int | None] = (cells, 0, None)
        self.latest: MapSnapshot | None = None
        self._key: tuple | None = None

    def want(self, cells: int, lo: int = 0, hi: int | None = None) -> None:
        with self._lock:
            self._want = (cells, lo, hi)

    def take(self) -> MapSnapshot | None:
        """Snapshot the map as wanted now; call it where the map cannot change meanwhile.

        The last snapshot is reused while the view and the map's fingerprint (its block count,
        bytes per status and position, all O(1)) are unchanged: the engine emits progress at
        every phase change too, often with nothing new to draw.
        """
        with self._lock:
            want = self._want
        cells, lo, hi = want
        if cells <= 0:
            return None
        m = self.map
        slow = self.slow() if self.slow is not None else []
        key = (want, len(m), tuple(m.bytes_in(s) for s in Status), m.current_pos, len(slow))
        if self.latest is not None and key == self._key:
            return self.latest
        snap = MapSnapshot.of(m, cells, lo, hi, slow)
        self.latest, self._key = snap, key
        return snap


@dataclass(frozen=True)
class HeadSnapshot:
    """The head map as it stood: the layout and each head's cells (None: no head pattern yet)."""

    layout: HeadLayout | None
    cells: list[list[Cell]]


class HeadProbe:
    """The head map of a running job, taken in the engine thread (where its map and what it learned
    can be read) while a view shows it, at most every EVERY seconds: it walks every band."""

    EVERY = 2.0

    def __init__(self, rmap: RescueMap, knowledge: Callable[[], Knowledge | None] | None) -> None:
        self.map = rmap
        self.knowledge = knowledge
        self.wanted = False
        self.heads: int | None = None  # the technician's head count, if given
        self.latest: HeadSnapshot | None = None
        self._at = -1e9

    def want(self, on: bool, heads: int | None = None) -> None:
        self.wanted, self.heads = on, heads
        self._at = -1e9

    def take(self, now: float | None = None) -> HeadSnapshot | None:
        """Take one if a view wants it and the last is old enough; call it where the map cannot change."""
        now = time.monotonic() if now is None else now
        if not self.wanted or self.knowledge is None or now - self._at < self.EVERY:
            return self.latest
        self._at = now
        k = self.knowledge()
        if k is None:
            return self.latest
        self.latest = head_snapshot(self.map, k, self.heads)
        return self.latest


def head_snapshot(rmap: RescueMap, knowledge: Knowledge, heads: int | None = None) -> HeadSnapshot:
    """The head map of `rmap` from what its rescue learned (`heads`: the technician's count)."""
    layout = head_layout(knowledge.areas.patterns, knowledge.slow_areas.patterns, heads)
    cells = head_cells(layout, rmap, knowledge.slow.ranges) if layout is not None else []
    return HeadSnapshot(layout, cells)


def shows_heads(knowledge: Knowledge | None) -> bool:
    """Whether what a rescue learned is something a head map shows."""
    k = knowledge
    return k is not None and bool(k.areas.patterns or k.slow_areas.patterns or k.slow)


class KeptHeads:
    """The head map of a session another process runs (or ran): its map as last saved and what
    its rescue learned as kept beside it (station.rescue.learnedfile), handed over by whoever
    reads them (`update`); the snapshot is taken again when they or the head count change."""

    def __init__(self) -> None:
        self.map: RescueMap | None = None
        self.knowledge: Knowledge | None = None
        self.wanted = False
        self.heads: int | None = None
        self.latest: HeadSnapshot | None = None
        self._stale = True

    def update(self, rmap: RescueMap | None, knowledge: Knowledge | None) -> None:
        self.map, self.knowledge, self._stale = rmap, knowledge, True

    def want(self, on: bool, heads: int | None = None) -> None:
        self.wanted, self.heads, self._stale = on, heads, True

    def take(self) -> HeadSnapshot | None:
        if self.wanted and self._stale and self.map is not None and self.knowledge is not None:
            self.latest = head_snapshot(self.map, self.knowledge, self.heads)
            self._stale = False
        return self.latest


# -- the speed chart: station.core.speed.SpeedSeries (the report draws it too) --------------------------

# -- following a session of another process ---------------------------------------------------------


class EventTail:
    """New events from an events.jsonl as it grows (complete lines only; torn lines wait)."""

    BACK_CHUNK = 64 * 1024  # bytes read at a time by `skip_to_end`, from the end backwards
    BACK_LIMIT = 4 << 20  # and no more than this: a log whose last progress is further back has none

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self._partial = b""

    def skip_to_end(self) -> Progress | None:
        """Start following from the log's last complete line; returns its last Progress.

        A session list needs each session's latest counters, not its whole history: reading
        the last KiB of each log, not every line of every log, is what lets a list of hundreds
        of sessions show at once.
        """
        try:
            with open(self.path, "rb") as f:
                end = f.seek(0, 2)
                window = self.BACK_CHUNK
                found: Progress | None = None
                while True:
                    start = max(end - window, 0)
                    f.seek(start)
                    lines = f.read(end - start).split(b"\n")
                    complete = lines[:-1] if start == 0 else lines[1:-1]  # the first may be cut short
                    for line in reversed(complete):
                        if b'"progress"' in line:
                            found = _progress_of(line)
                            if found is not None:
                                break
                    if found is not None or start == 0 or window >= self.BACK_LIMIT:
                        break
                    window *= 4
        except FileNotFoundError:
            return None
        self.offset = end - len(lines[-1])  # a torn last line is read again once it is whole
        self._partial = b""
        return found

    def poll(self) -> list[Event]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" after a complete last line
        out: list[Event] = []
        for line in lines:
            try:
                out.append(event_from_dict(json.loads(line)))
            except (ValueError, TypeError):
                continue
        return out


def _progress_of(line: bytes) -> Progress | None:
    try:
        e = event_from_dict(json.loads(line))
    except (ValueError, TypeError):
        return None
    return e if isinstance(e, Progress) else None


# -- comparison ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionFigures:
    """What a comparison shows of one session."""

    id: str
    label: str
    method: str
    state: str
    size: int
    rescued: int
    bad: int
    read_errors: int
    elapsed: float
    average_rate: float
    series: SpeedSeries = field(compare=False, repr=False)


def session_figures(session, events: list[Event] | None = None) -> SessionFigures:
    """Figures of a session from its record and event log (the last progress snapshot wins)."""
    events = list(session.events()) if events is None else events
    last = next((e for e in reversed(events) if isinstance(e, Progress)), None)
    series = SpeedSeries().extend(events)
    r = session.record
    now = r.result_so_far(last)
    finished = next((e for e in reversed(events) if isinstance(e, Finished)), None)
    elapsed = last.elapsed if last else (finished.t if finished else 0.0)
    label = f"{r.source.model or r.source.path or '?'} → {Path(r.dest or '?').name}"
    return SessionFigures(
        id=session.id,
        label=label,
        method=r.method,
        state=session.state,
        size=now.size or 0,
        rescued=now.rescued or 0,
        bad=now.bad or 0,
        read_errors=now.read_errors or 0,
        elapsed=elapsed,
        average_rate=(last.average_rate if last else 0.0),
        series=series,
    )
