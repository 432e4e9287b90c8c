"""The phased rescue: good data first, then ever finer work on what failed.

    copying pass 1   forward (or reverse), growing reads over healthy data, skipping ahead on
                     errors and slow reads (the skip doubles on consecutive trouble, resets
                     after a good read, and is capped)
    copying pass 2   the other direction over what pass 1 skipped, skipping likewise, so the
                     good data between bad areas is reached from its far side
    trimming         failed blocks read sector by sector from their edges next to rescued data
    sweeping         whatever is still non-tried, no skipping
    trimming         again, for blocks the sweep found (all edges now)
    scraping         non-scraped blocks sector by sector
    retrying         N passes over bad sectors, alternating direction

The engine only decides; the map (station.rescue.rescuemap) holds state, the reader does the
I/O with timeouts, and the caller's `save_map` writes the mapfile.  Every decision depends on
read results and the injected clock only, so scripted sources give deterministic runs.
Rule: bytes are written to the sink before the map calls them finished, and the map is only
saved after the sink is synced.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import errno
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from station.core.control import RunControl
from station.core.events import (
    Event,
    Finished,
    MapSaved,
    Notice,
    Paused,
    PhaseStarted,
    PowerCycled,
    Progress,
    ReadFailed,
    ReadHung,
    Resumed,
    SourceReopened,
)
from station.media.base import Sink, Source
from station.rescue.areas import AreaTracker
from station.rescue.options import GiB, KiB, RescueOptions
from station.rescue.reader import ReadOutcome, RunSpec, StreamReader
from station.rescue.rescuemap import Phase, RescueMap, Status, Summary

PROGRESS_INTERVAL = 0.25  # seconds between progress events (4 a second)
SCRAPE_AGAIN = 3  # more scraping tries for sectors a failing drive (not the sector) left unread
_DEVICE_ERRNOS = frozenset({errno.ENODEV, errno.ENXIO, errno.ETIMEDOUT, errno.ENOMEDIUM, errno.ESHUTDOWN})
CALM_DISTANCE = 64 * 1024 * 1024  # after trouble, read in clusters for this far before growing again
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_GONE = (errno.ENODEV, errno.ENXIO, errno.ENOMEDIUM)  # the device itself went away


class RecoveryFailed(Exception):
    """Raised by a `recover` hook that could not bring the source back; the message says why."""


def device_failure(out: ReadOutcome) -> bool:
    """A read that failed because the drive did (reset, powered off, timed out), not the medium.

    A read that hung until our own timeout is not one of these: a sector that keeps a drive
    busy that long is treated as bad, as GNU ddrescue does.
    """
    return not out.hung and out.error is not None and out.error.errno in _DEVICE_ERRNOS


def _span(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a <= b else (b, a)


class _Stop(Exception):
    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


@dataclass(frozen=True)
class RunResult:
    """How a run ended: finished (nothing left to try), stopped (early, resumable) or failed."""

    outcome: str
    reason: str
    summary: Summary
    read_errors: int

    @property
    def exit_status(self) -> int:
        return 0 if self.outcome == "finished" else 1


# The plan: (phase, pass).  A resumed map restarts at its recorded step.
PLAN: list[tuple[Phase, int]] = [
    (Phase.COPYING, 1),
    (Phase.COPYING, 2),
    (Phase.TRIMMING, 1),
    (Phase.SWEEPING, 1),
    (Phase.TRIMMING, 2),
    (Phase.SCRAPING, 1),
]


class Engine:
    """Runs the phased rescue of `source` into `sink`, updating `rmap`."""

    def __init__(
        self,
        source: Source,
        sink: Sink,
        rmap: RescueMap,
        options: RescueOptions | None = None,
        *,
        emit: Callable[[Event], None] = lambda e: None,
        save_map: Callable[[RescueMap], None] | None = None,
        map_path: str = "",
        clock: Callable[[], float] = time.monotonic,
        cancel: threading.Event | None = None,
        control: RunControl | None = None,
        recover: Callable[[str], str] | None = None,
    ) -> None:
        """`recover(reason)`, if given, is called when the source stops answering (a hung read)
        or vanishes: it brings the source back (power cycle, find, reopen) and returns a line
        saying how, or raises RecoveryFailed; the run then goes on where it was."""
        self.source = source
        self.sink = sink
        self.map = rmap
        self.opts = options or RescueOptions()
        self.opts.validate()
        self.emit = emit
        self.save_map = save_map
        self.map_path = map_path
        self.clock = clock
        self.control = control or RunControl(cancel)
        self.cancel = self.control.cancel
        self.sector = self.opts.sector_size or source.sector_size or 512
        align = max(self.sector, source.alignment)
        self.cluster = max(align, self.opts.cluster_size // align * align)
        self.max_read = max(self.cluster, self.opts.max_read_size // align * align)
        self.align = align
        dom = self.opts.domain or [(0, rmap.size)]
        self.domain = [(max(a, 0), min(b, rmap.size)) for a, b in sorted(dom) if min(b, rmap.size) > a]
        self._dom_ends = [b for _, b in self.domain]
        dom_size = sum(b - a for a, b in self.domain)
        self.max_skip = self.opts.max_skip_size or min(max(dom_size // 100, 64 * KiB), GiB)
        self.max_skip = max(self.max_skip, self.opts.skip_size)
        if self.opts.reopen_on_error is None:
            self.reopen_on_error = source.identity.kind == "block"
        else:
            self.reopen_on_error = self.opts.reopen_on_error
        # Reads of more than a sector may be copied by the kernel straight to an image file.
        self.copy_fd: int | None = getattr(sink, "fd", None) if hasattr(source, "copy_to") else None
        # counters
        self.read_errors = 0
        self._save_error = ""
        self.hung_in_a_row = 0
        self.t0 = 0.0
        self.rescued_this_run = 0
        self.last_good: float | None = None
        self._rate_window: deque[tuple[float, int]] = deque()
        self._last_progress = -1e9
        self._last_save = 0.0
        self._read_size = self.cluster
        self._trouble_at: int | None = None  # where the copying pass last met an error or slow read
        self.areas = AreaTracker(self.sector, self.cluster, self.max_skip)
        self._spared: set[int] = set()  # sectors a device failure left unjudged once already
        self._edge_done: set[int] = set()  # edges of non-trimmed blocks already trimmed to a bad sector
        self._dirty = False
        self.reader: StreamReader | None = None
        self.recover = recover
        self.power_cycles = 0

    # -- the run -------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Rescue until finished, stopped or failed; always leaves a saved, consistent map."""
        self.t0 = self._last_save = self.clock()
        o = self.opts
        self.reader = StreamReader(self.source, self.max_read, o.read_timeout, self.cancel, self.clock)
        outcome, reason = "finished", "rescue finished"
        try:
            self._progress(force=True)
            resumed_at = self._run_plan(resume=True)
            if resumed_at > 0 and self._pending_in_domain():
                self._run_plan(resume=False)  # a resumed map had work left for earlier phases
            n = 1
            while self._has(Status.BAD_SECTOR):
                self._apply_option_changes()
                if self.opts.retry_passes != -1 and n > self.opts.retry_passes:
                    break
                self._retry_pass(n)
                n += 1
            if self._pending_in_domain():
                outcome, reason = "stopped", "work left that this run could not do"
        except _Stop as s:
            outcome, reason = s.outcome, s.reason
        finally:
            self.reader.close()
        if outcome == "finished":
            self.map.phase = Phase.FINISHED
            self.map.current_pos = 0
        saved = self._save(final=True)
        if not saved:  # say so in the result itself: a view may show nothing but this line
            note = f"{self._save_error}; the mapfile was not updated"
            if outcome == "finished":
                outcome, reason = "failed", note
            else:
                reason = f"{reason}; {note}"
        self._progress(force=True)
        self.emit(Finished(self._t(), outcome, reason))
        return RunResult(outcome, reason, self.map.summary(), self.read_errors)

    def read_outstanding(self) -> float:
        """Seconds the oldest source read still in flight has taken (0.0 if none), from any
        thread: a SMART poll waits while the drive is stuck on a read (station.health.monitor)."""
        reader = self.reader
        return reader.outstanding() if reader is not None else 0.0

    def _run_plan(self, resume: bool) -> int:
        """Run the plan from the map's recorded step (resume) or from the start; returns the step."""
        start = 0
        cursor: int | None = None
        if resume:
            step = (self.map.phase, self.map.pass_)
            if self.map.phase == Phase.FINISHED:
                return len(PLAN)
            fresh = self.map.bytes_in(Status.NON_TRIED) == self.map.size
            if fresh:  # nothing done yet: its position means nothing (pos 0 ends a reverse pass)
                start = 0
            elif step in PLAN:
                start = PLAN.index(step)
                cursor = self.map.current_pos
            elif self.map.phase == Phase.COPYING:  # ddrescue's copying pass 3 and beyond
                start = PLAN.index((Phase.SWEEPING, 1))
            elif self.map.phase == Phase.RETRYING:
                start = len(PLAN)
        for phase, pass_ in PLAN[start:]:
            if phase == Phase.COPYING:
                self._copy_pass(pass_, cursor)
            elif phase == Phase.TRIMMING and not self.opts.no_trim:
                self._trim_pass(pass_, cursor, all_edges=pass_ > 1)
            elif phase == Phase.SWEEPING and not self.opts.no_sweep:
                self._sweep_pass(cursor)
            elif phase == Phase.SCRAPING and not self.opts.no_scrape:
                self._scrape_pass(cursor)
            cursor = None
        return start

    # -- phases ----------------------------------------------------------------------------

    def _forward(self, pass_: int) -> bool:
        return (pass_ % 2 == 1) != self.opts.reverse

    def _begin(self, phase: Phase, pass_: int, forward: bool, cursor: int | None) -> int:
        self._apply_option_changes()
        self.map.phase, self.map.pass_ = phase, pass_
        if cursor is None:
            cursor = self._domain_start() if forward else self._domain_end()
        self.map.current_pos = cursor
        self.emit(PhaseStarted(self._t(), phase.label, pass_, "forward" if forward else "reverse"))
        self._progress(force=True)
        return cursor

    def _copy_pass(self, pass_: int, cursor: int | None) -> None:
        """Copy non-tried data in big reads, stepping over bad and slow areas.

        Pass 1 reads the whole domain, jumping over trouble: by the learned length of the bad
        areas met so far (station.rescue.areas) or else by a skip that doubles.  After each
        jump it reads back from the landing point towards the area until the first error, so
        the far edge of every area is known at once (and measured for the next jump).  Pass 2
        goes the other way, only into non-tried blocks that touch rescued data, as far as the
        first error: the far edges pass 1 could not reach.  The middles of bad areas are left
        to the sweep, after trimming.
        """
        forward = self._forward(pass_)
        cursor = self._begin(Phase.COPYING, pass_, forward, cursor)
        if not self._has(Status.NON_TRIED):
            return
        if pass_ > 1:
            self._edge_pass(forward, cursor)
            return
        self._copy_pass1(forward, cursor)

    def _copy_pass1(self, forward: bool, cursor: int) -> None:
        """The first pass over everything: big reads on healthy stretches, bad areas crossed whole.

        A read that fails is trimmed at once from the side it was entered (sector reads up to
        the first bad one), so the area's first bad byte is known exactly; the area is then
        crossed (_cross) and its far edge found the same way.  Once areas come at a regular
        period, the next one is approached sector by sector where it should begin, so that the
        only read that fails there is a single sector.
        """
        skip = self.opts.skip_size
        while (found := self._find(Status.NON_TRIED, cursor, forward)) is not None:
            lo, hi = found
            calm = self._calm(lo, hi, forward)
            run_lo, run_hi = calm if calm else (lo, hi)
            window = self._window(run_lo, run_hi, forward)
            if window is not None:
                stop_at = window[0]
                run_lo, run_hi = (run_lo, stop_at) if forward else (stop_at, run_hi)
            trouble, failed = None, None
            cursor = run_lo if forward else run_hi
            max_size = self.max_read if calm is None else self.cluster
            size = min(self._read_size, max_size)
            for out in self._stream(run_lo, run_hi, forward, size, max_size, slow=True):
                cursor = out.pos + out.size if forward else out.pos
                self.map.current_pos = cursor
                if out.ok:
                    self._good(out)
                    if out.slow:
                        trouble = "slow"
                    else:
                        skip = self.opts.skip_size
                        self._read_size = min(max(self._read_size, len(out.data)) * 2, self.max_read)
                elif out.size > self.cluster and not out.hung:
                    # a big read failed somewhere inside: read it again in clusters rather than
                    # leave up to max_read_size of good data to sector-by-sector trimming
                    self._failed(out, Status.NON_TRIED)
                    cursor = out.pos if forward else out.pos + out.size
                    trouble = "split"
                else:
                    self._failed(out, Status.NON_TRIMMED)
                    trouble, failed = "error", out
            if trouble is None and window is not None:
                start = self._sector_edge(*_span(window[0], window[1]), forward)
                if start is None:  # not where the period said: go on reading normally
                    self.areas.forget()
                    cursor = window[1]
                    continue
                self.areas.hits += 1
                cursor = self._cross(start, forward, exact=True)
                continue
            if trouble is None:
                continue
            self._read_size = self.cluster
            self._trouble_at = cursor
            if trouble == "split":
                continue
            if trouble == "error" and failed is not None and not failed.hung:
                # where the area begins, to within this failed read; its edge is trimmed later,
                # after the readable bulk (scattered damage makes exactness now not worth it)
                near = failed.pos if forward else failed.pos + failed.size
                cursor = self._cross(near, forward, exact=False)
                continue
            cursor = self._skip(cursor, skip, forward)  # a slow area, a hung read
            skip = min(skip * 2, self.max_skip)

    def _window(self, lo: int, hi: int, forward: bool) -> tuple[int, int] | None:
        """(from, to) around the predicted start of the next bad area, if it lies in [lo, hi)."""
        if self.opts.no_trim:  # finding edges sector by sector is trimming
            return None
        pred = self.areas.next_start(lo if forward else hi, forward)
        if pred is None:
            return None
        m = self.areas.margin()
        if forward:
            a, b = max(lo, pred - m), min(hi, pred + m)
        else:
            a, b = min(hi, pred + m), max(lo, pred - m)
        if (b - a if forward else a - b) <= 0:
            return None
        return a, b

    def _cross(self, start: int, forward: bool, exact: bool) -> int:
        """Cross the bad area that begins at `start` (exactly, or where a read failed).

        Jump by the learned length, or skip doubling until a read succeeds; then read back
        towards the area to find its far edge (exactly when `exact`).  Returns where the pass
        goes on.
        """
        length = self.areas.length()
        skip = self.opts.skip_size
        if length is not None:
            target = start + length if forward else start - length
            if not self.areas.jumps:
                self.emit(Notice(self._t(), f"bad areas repeat: stepping over them {length} bytes at a time"))
            self.areas.jumps += 1
        else:
            target = self._skip(self._past_known_bad(start, forward), skip, forward)
            skip = min(skip * 2, self.max_skip)
        while True:
            target = self._skip(target, 0, forward)
            found = self._find(Status.NON_TRIED, target, forward)
            if found is None:
                return target
            out = self._probe(*found, forward)
            after = out.pos + out.size if forward else out.pos
            self.map.current_pos = after
            self._trouble_at = after
            if out.ok and not out.slow:
                self._good(out)
                landing = out.pos if forward else out.pos + out.size
                end, end_exact = self._read_back(landing, forward, exact)
                if end is not None:
                    self.areas.record(start, abs(end - start), exact and end_exact)
                return after
            if out.ok:
                self._good(out)
            else:
                self._failed(out, Status.NON_TRIMMED)
            if length is not None:  # longer than the areas before it
                self.areas.forget()
                length = None
            target = self._skip(after, skip, forward)
            skip = min(skip * 2, self.max_skip)

    def _domain_block(self, pos: int) -> tuple[Status, int, int] | None:
        """The map block at pos, clipped to the domain range holding pos (None outside it)."""
        if not 0 <= pos < self.map.size:
            return None
        i = bisect.bisect_right(self._dom_ends, pos)
        if i == len(self.domain) or self.domain[i][0] > pos:
            return None
        d_lo, d_hi = self.domain[i]
        b = self.map.block_at(pos)
        return b.status, max(b.pos, d_lo), min(b.end, d_hi)

    def _past_known_bad(self, start: int, forward: bool) -> int:
        """The first position past the bad sector at `start` and the failed read it was in."""
        pos = start
        for _ in range(2):
            if not 0 <= (pos if forward else pos - 1) < self.map.size:
                break
            b = self.map.block_at(pos if forward else pos - 1)
            if b.status not in (Status.BAD_SECTOR, Status.NON_TRIMMED):
                break
            pos = b.end if forward else b.pos
        return pos

    def _read_back(self, landing: int, forward: bool, exact: bool) -> tuple[int | None, bool]:
        """From a landing point, read back towards the area just crossed until its far edge.

        With `exact`: sector reads near the landing point (where a learned jump puts the
        edge), cluster reads further back, and a failed cluster trimmed at once, so the edge
        comes out exact.  Otherwise cluster reads, the failed one left for trimming.  Returns
        (the edge or None if nothing bad was found behind, whether it is exact).
        """
        back = not forward
        exact = exact and not self.opts.no_trim
        pos = landing
        near = 2 * self.cluster
        while (b := self._domain_block(pos - 1 if forward else pos)) is not None:
            status, lo, hi = b
            if status in (Status.BAD_SECTOR, Status.NON_TRIMMED):
                return pos, status == Status.BAD_SECTOR
            if status != Status.NON_TRIED:
                return None, False
            if not exact:
                edge = self._cluster_edge(lo, hi, back, trim=False)
                if edge is not None:
                    return edge, False
            else:
                part = (max(lo, hi - near), hi) if forward else (lo, min(hi, lo + near))
                edge = self._sector_edge(*part, back)
                if edge is None and hi - lo > near:
                    rest = (lo, hi - near) if forward else (lo + near, hi)
                    edge = self._cluster_edge(*rest, back, trim=True)
                if edge is not None:
                    return edge, True
            pos = lo if forward else hi
        return None, False

    def _cluster_edge(self, lo: int, hi: int, forward: bool, trim: bool) -> int | None:
        """Cluster reads over [lo, hi) in a direction until one fails; where it failed.

        With `trim`, the failed cluster is read sector by sector at once and the edge is the
        first bad sector's; otherwise it is the near side of the failed read.
        """
        failed = None
        for out in self._stream(lo, hi, forward, self.cluster, self.cluster):
            if out.ok:
                self._good(out)
            else:
                self._failed(out, Status.NON_TRIMMED)
                failed = out  # the run ends here by itself (and must, before another starts)
        if failed is None or failed.hung:
            return None
        if not trim or self.opts.no_trim:
            return failed.pos + failed.size if forward else failed.pos
        return self._sector_edge(failed.pos, failed.pos + failed.size, forward)

    def _sector_edge(self, lo: int, hi: int, forward: bool) -> int | None:
        """Sector reads over [lo, hi) in a direction up to the first bad sector; its near edge.

        The bad sector is marked bad; the rest of the range keeps its status, with the side
        next to the bad sector noted as trimmed.  None when every sector read (or the drive,
        not the sector, failed).
        """
        for out in self._stream(lo, hi, forward, self.sector, self.sector):
            self.map.current_pos = out.pos
            if out.ok:
                self._good(out)
                continue
            spared = self._spare(out, peek=True)
            self._failed(out, Status.BAD_SECTOR)
            self._after_read()  # leaving the run early skips _stream's own check
            if spared or out.hung:
                return None
            self._edge_done.add(out.pos + out.size if forward else out.pos)
            return out.pos if forward else out.pos + out.size
        return None

    def _calm(self, lo: int, hi: int, forward: bool) -> tuple[int, int] | None:
        """The part of [lo, hi) still near recent trouble (read in clusters), or None if none is."""
        t = self._trouble_at
        if t is None:
            return None
        if forward:
            near = min(hi, t + CALM_DISTANCE)
            return (lo, near) if near > lo else None
        near = max(lo, t - CALM_DISTANCE)
        return (near, hi) if near < hi else None

    def _probe(self, lo: int, hi: int, forward: bool) -> ReadOutcome:
        """One cluster-sized read at the near end of [lo, hi) in the pass's direction."""
        a, b = (lo, min(hi, lo + self.cluster)) if forward else (max(lo, hi - self.cluster), hi)
        outs = list(self._stream(a, b, forward, self.cluster, self.cluster, slow=True))
        return outs[0]  # the run is one read long (a cancelled run raised _Stop instead)

    def _edge_pass(self, forward: bool, cursor: int) -> None:
        """Copying pass 2: into non-tried blocks from their rescued side, up to the first error.

        Slow reads do not stop it: what pass 1 stepped over for being slow is read here, in
        growing reads (a slow area's cost is mostly per command).
        """
        while (found := self._find(Status.NON_TRIED, cursor, forward)) is not None:
            lo, hi = self._whole_block(found, Status.NON_TRIED)
            cursor = hi if forward else lo
            self.map.current_pos = lo if forward else hi
            entry = lo - 1 if forward else hi
            if self._neighbour_is(entry, Status.FINISHED):
                self._expand(lo, hi, forward)

    def _skip(self, cursor: int, skip: int, forward: bool) -> int:
        """Move past `skip` bytes, on sector boundaries, leaving them non-tried for later."""
        a = self.align
        if forward:
            return min(-(-(cursor + skip) // a) * a, self.map.size)
        return max((cursor - skip) // a * a, 0)

    def _trim_pass(self, pass_: int, cursor: int | None, all_edges: bool) -> None:
        """Read failed blocks sector by sector from their edges until the first error."""
        forward = not self.opts.reverse
        cursor = self._begin(Phase.TRIMMING, pass_, forward, cursor)
        self._trim_blocks(cursor, forward, all_edges)

    def _trim_blocks(self, cursor: int, forward: bool, all_edges: bool) -> None:
        """Trim the leading edges of non-trimmed blocks, then their trailing edges.

        Only edges that touch rescued data, unless `all_edges`.  Leading edges are read
        upwards, sector after sector as the platter turns; trailing edges downwards, each
        sector a new command that waits for the disk to come round: the cheap half first
        brings as much good data for the same errors, sooner.
        """
        for lead_side in (True, False):
            c = cursor
            while (found := self._find(Status.NON_TRIMMED, c, forward)) is not None:
                lo, hi = self._whole_block(found, Status.NON_TRIMMED)
                c = hi if forward else lo
                self.map.current_pos = lo
                edge = lo if lead_side else hi
                if edge in self._edge_done:
                    continue
                if not (all_edges or self._neighbour_is(lo - 1 if lead_side else hi, Status.FINISHED)):
                    continue
                new = self._trim_edge(lo, hi, forward=lead_side)
                lo, hi = (new, hi) if lead_side else (lo, new)
                if hi <= lo:
                    continue
                if (hi if lead_side else lo) in self._edge_done:
                    self.map.set_status(lo, hi - lo, Status.NON_SCRAPED)
                else:
                    # the other side may still face non-tried data, which the sweep may rescue:
                    # trim it then, not scrape across good data now
                    self._edge_done.add(lo if lead_side else hi)
        if all_edges:  # untrimmable leftovers go on to scraping
            for b in list(self._blocks_in_domain(Status.NON_TRIMMED)):
                self.map.set_status(b[0], b[1] - b[0], Status.NON_SCRAPED)

    def _trim_edge(self, lo: int, hi: int, forward: bool) -> int:
        """Read sectors inward from one edge; returns the new edge of the untrimmed middle.

        A read the drive (not the sector) failed is tried once more, after the drive was
        reset or power-cycled, rather than ending the edge there.
        """
        edge = lo if forward else hi
        while (hi > edge) if forward else (edge > lo):
            spared = False
            run = (edge, hi) if forward else (lo, edge)
            for out in self._stream(*run, forward, self.sector, self.sector):
                if out.ok:
                    self._good(out)
                    edge = out.pos + out.size if forward else out.pos
                    continue
                spared = self._spare(out, peek=True)
                self._failed(out, Status.BAD_SECTOR)
                if not spared:
                    edge = out.pos + out.size if forward else out.pos
                self._after_read()  # leaving the run early skips _stream's own check
                break
            if not spared:
                break
        return edge

    def _sweep_pass(self, cursor: int | None) -> None:
        """Read every non-tried byte left, without skipping; islands of good data first.

        Non-tried blocks (what the copying passes stepped over), largest first, are sampled
        at their ends and middle (large ones at their quarters too): a sample that reads starts
        an island, read outward up to the first error on each side.  Then everything still non-tried is read
        in order, a failed big read being read again in clusters.
        """
        forward = not self.opts.reverse
        fresh = cursor is None
        cursor = self._begin(Phase.SWEEPING, 1, forward, cursor)
        if fresh:  # every cluster read here is one the sweep would read anyway, only sooner
            blocks = sorted(self._blocks_in_domain(Status.NON_TRIED), key=lambda b: b[0] - b[1])
            for lo, hi in blocks:
                self._probe_for_island(lo, hi)
            # the edges of what the probes failed on, where they touch rescued data
            if not self.opts.no_trim:
                self._trim_blocks(self._domain_start() if forward else self._domain_end(), forward, False)
        while (found := self._find(Status.NON_TRIED, cursor, forward)) is not None:
            lo, hi = found
            for out in self._stream(lo, hi, forward, self._read_size, self.max_read):
                cursor = out.pos + out.size if forward else out.pos
                if out.ok:
                    self._good(out)
                    self._read_size = min(max(self._read_size, len(out.data)) * 2, self.max_read)
                elif out.size > self.cluster and not out.hung:
                    self._failed(out, Status.NON_TRIED)  # read it again in clusters
                    cursor = out.pos if forward else out.pos + out.size
                    self._read_size = self.cluster
                else:
                    self._failed(out, Status.NON_TRIMMED)
                    self._read_size = self.cluster
                self.map.current_pos = cursor

    def _probe_for_island(self, lo: int, hi: int) -> None:
        """Sample a non-tried stretch at its ends and middle (quarters too when large); a sample
        that reads is an island, read outward in clusters to its edges, trimmed at once."""
        a = self.align
        spots = [lo] if hi - lo <= self.cluster else [lo, hi - self.cluster, lo + (hi - lo) // 2]
        if hi - lo >= 16 * self.cluster:
            spots += [lo + (hi - lo) // 4, lo + 3 * (hi - lo) // 4]
        for spot in spots:
            spot = max(lo, spot // a * a)
            b = self._domain_block(spot)
            if b is None or b[0] != Status.NON_TRIED:
                continue
            out = self._probe(spot, min(b[2], spot + self.cluster), True)
            self.map.current_pos = out.pos
            if not out.ok:
                self._failed(out, Status.NON_TRIMMED)
                continue
            self._good(out)
            after = out.pos + out.size
            ahead = self._find(Status.NON_TRIED, after, True)
            if ahead is not None and ahead[0] == after:
                self._expand(*ahead, True)
            behind = self._find(Status.NON_TRIED, out.pos, False)
            if behind is not None and behind[1] == out.pos:
                self._expand(*behind, False)

    def _expand(self, lo: int, hi: int, forward: bool) -> None:
        """Read an island outwards in growing reads up to its edge, found exactly."""
        failed = None
        for out in self._stream(lo, hi, forward, self.cluster, self.max_read):
            if out.ok:
                self._good(out)
            else:
                self._failed(out, Status.NON_TRIED if out.size > self.cluster else Status.NON_TRIMMED)
                failed = out
        if failed is None or failed.hung:
            return
        if self.opts.no_trim:
            if failed.size > self.cluster:
                self._cluster_edge(failed.pos, failed.pos + failed.size, forward, trim=False)
            return
        if failed.size > self.cluster:  # a big read failed: find the bad cluster in it, then the edge
            self._cluster_edge(failed.pos, failed.pos + failed.size, forward, trim=True)
        else:
            self._sector_edge(failed.pos, failed.pos + failed.size, forward)

    def _scrape_pass(self, cursor: int | None) -> None:
        """Read non-scraped blocks sector by sector; failures become bad sectors.

        Sectors whose read failed because the drive did (hung, reset, gone) stay non-scraped;
        they get up to SCRAPE_AGAIN more tries, as long as each try rescues or settles some.
        """
        forward = not self.opts.reverse
        cursor = self._begin(Phase.SCRAPING, 1, forward, cursor)
        self._sector_sweep(Status.NON_SCRAPED, cursor, forward)
        for _ in range(SCRAPE_AGAIN):
            left = self.map.bytes_in(Status.NON_SCRAPED)
            if not left:
                return
            start = self._domain_start() if forward else self._domain_end()
            self._sector_sweep(Status.NON_SCRAPED, start, forward)
            if self.map.bytes_in(Status.NON_SCRAPED) == left:
                return

    def _retry_pass(self, n: int) -> None:
        """Read bad sectors again, one at a time; odd passes go against the main direction."""
        forward = n % 2 == 0
        if self.opts.reverse:
            forward = not forward
        cursor = self._begin(Phase.RETRYING, n, forward, None)
        self._sector_sweep(Status.BAD_SECTOR, cursor, forward)

    def _sector_sweep(self, status: Status, cursor: int, forward: bool) -> None:
        while (found := self._find(status, cursor, forward)) is not None:
            lo, hi = found
            for out in self._stream(lo, hi, forward, self.sector, self.sector):
                cursor = out.pos + out.size if forward else out.pos
                if out.ok:
                    self._good(out)
                else:
                    self._failed(out, Status.BAD_SECTOR)
                self.map.current_pos = cursor

    # -- reads and their bookkeeping ------------------------------------------------------------

    def _stream(self, lo: int, hi: int, forward: bool, size: int, max_size: int, slow: bool = False):
        """Reads over [lo, hi), each checked against the stop conditions before it is used."""
        assert self.reader is not None
        spec = RunSpec(
            lo, hi, reverse=not forward, size=size, max_size=max_size, align=self.align,
            slow_below=self._slow_threshold() if slow else None,
            copy_fd=self.copy_fd if size > self.sector else None,
        )  # fmt: skip
        with contextlib.closing(self.reader.run(spec)) as outcomes:
            for out in outcomes:
                if out.cancelled:
                    raise _Stop("stopped", "interrupted")
                yield out
                self._after_read()

    def _good(self, out: ReadOutcome) -> None:
        """Write good bytes to the sink, then mark them finished (data before map)."""
        n = out.good
        if n:
            if not out.copied:
                try:
                    self.sink.write_at(out.pos, out.data[:n])
                except OSError as e:
                    self._write_failed(e)
            self.map.set_status(out.pos, n, Status.FINISHED)
            self.rescued_this_run += n
            self._dirty = True
            now = self.clock()
            self.last_good = now
            self._rate_window.append((now, n))
        self.hung_in_a_row = 0

    def _write_failed(self, e: OSError) -> None:
        if e.errno in _FULL:
            raise _Stop("failed", f"destination full: {e.strerror}; free space and rerun to resume") from None
        raise _Stop("failed", f"write error on destination: {e.strerror}") from None

    def _failed(self, out: ReadOutcome, status: Status) -> None:
        """Record a failed (or hung) read: good leading bytes kept, the rest marked `status`."""
        gone = out.error is not None and out.error.errno in _GONE
        if self.recover is not None and (out.hung or gone):
            self._recover_and_reread(out, status)
            return
        good = out.good
        if good:
            self._good(ReadOutcome(out.pos, good, out.data, copied=out.copied))
        if out.copied and out.error is not None and out.error.errno in _FULL:
            self._write_failed(out.error)  # a kernel copy fails on the sink's side too
        bad_pos, bad_size = out.pos + good, out.size - good
        if status == Status.BAD_SECTOR and self._spare(out):
            pass  # the drive failed, not necessarily this sector: leave it to be read again
        elif bad_size > 0:
            self.map.set_status(bad_pos, bad_size, status)
            self._dirty = True
        self.read_errors += 1
        if out.hung:
            self.hung_in_a_row += 1
            self.emit(ReadHung(self._t(), out.pos, out.size, self.opts.read_timeout))
            self._reopen(f"read at {out.pos:#x} hung for {self.opts.read_timeout:g} s")
            if self.hung_in_a_row >= self.opts.max_hung_reads:
                raise _Stop("failed", f"source not responding ({self.hung_in_a_row} hung reads in a row)")
        else:
            err = out.error
            why = str(err.strerror or err)
            self.emit(ReadFailed(self._t(), bad_pos, bad_size, why, self.map.phase.label))
            if self.reopen_on_error:
                self._reopen("after a read error")

    def _spare(self, out: ReadOutcome, peek: bool = False) -> bool:
        """Whether a failed sector read is left unjudged: the drive failed, and only once there."""
        if not device_failure(out) or out.pos in self._spared:
            return False
        if not peek:
            self._spared.add(out.pos)
        return True

    def _reopen(self, reason: str) -> None:
        try:
            self.source.reopen()
        except OSError as e:
            if self.recover is not None:
                self._recover(f"source vanished: cannot reopen it ({e.strerror})")
                return
            raise _Stop("failed", f"source vanished: cannot reopen it ({e.strerror})") from None
        self.emit(SourceReopened(self._t(), reason))

    def _recover_and_reread(self, out: ReadOutcome, status: Status) -> None:
        """A hung read, or a device gone: bring the source back and leave the range as it was,
        since its failure said nothing about the medium there; the pass (or a later one)
        reads it again.  (Not re-read from here: this runs inside the failed read's run.)"""
        if out.good:
            self._good(ReadOutcome(out.pos, out.good, out.data, copied=out.copied))
        self.read_errors += 1
        if out.hung:
            self.emit(ReadHung(self._t(), out.pos, out.size, self.opts.read_timeout))
            self._recover(f"read at {out.pos:#x} hung for {self.opts.read_timeout:g} s")
        else:
            self._recover(f"source gone ({out.error.strerror if out.error else 'no device'})")

    def _recover(self, reason: str) -> None:
        """Bring a source that stopped answering back through the recover hook, or stop."""
        assert self.recover is not None
        self.emit(Notice(self._t(), f"{reason}: power-cycling the source"))
        try:
            detail = self.recover(reason)
        except RecoveryFailed as e:
            raise _Stop("failed", f"source not responding: {e}") from None
        self.power_cycles += 1
        self.hung_in_a_row = 0
        self.emit(PowerCycled(self._t(), reason, self.power_cycles, detail))

    def _apply_option_changes(self) -> None:
        """Options changed while running take effect here, between phases and passes."""
        changes = self.control.take_options()
        if not changes:
            return
        new = dataclasses.replace(self.opts, **changes)
        try:
            new.validate()
        except ValueError as e:
            self.emit(Notice(self._t(), f"option change refused: {e}"))
            return
        self.opts = new
        if self.reader is not None:
            self.reader.timeout = new.read_timeout
        if "max_skip_size" in changes or "skip_size" in changes:
            dom_size = sum(b - a for a, b in self.domain)
            self.max_skip = new.max_skip_size or min(max(dom_size // 100, 64 * KiB), GiB)
            self.max_skip = max(self.max_skip, new.skip_size)
        said = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(changes.items()))
        self.emit(Notice(self._t(), f"options changed: {said}"))

    def _hold(self) -> None:
        """Wait while paused: the map is saved first, and paused time is not 'time without a good read'."""
        self._save()
        reasons = self.control.reasons()
        self.emit(Paused(self._t(), reasons))
        self._progress(force=True)
        started = self.clock()
        while not self.control.wait_while_paused(0.25):
            pass
        if self.last_good is not None:
            self.last_good += self.clock() - started
        if self.cancel.is_set():
            raise _Stop("stopped", "interrupted")
        self.emit(Resumed(self._t()))

    def _after_read(self) -> None:
        """Stop conditions, pauses, progress and periodic saves, checked after every read."""
        if self.control.paused and not self.cancel.is_set():
            self._hold()
        now = self.clock()
        if self.cancel.is_set():
            raise _Stop("stopped", "interrupted")
        o = self.opts
        if o.max_read_errors is not None and self.read_errors > o.max_read_errors:
            raise _Stop("stopped", f"more than {o.max_read_errors} read errors")
        if o.max_bad_areas is not None and self._bad_areas() > o.max_bad_areas:
            raise _Stop("stopped", f"more than {o.max_bad_areas} bad areas")
        if o.timeout is not None and now - (self.last_good or self.t0) > o.timeout:
            raise _Stop("stopped", f"no good read for {o.timeout:g} s")
        self._progress()
        if now - self._last_save >= o.save_interval:
            self._save()

    def _slow_threshold(self) -> float | None:
        """Reads slower than this count as a slow area (ddrescue's --min-read-rate)."""
        rate = self.opts.min_read_rate
        if rate is None:
            return None
        if rate > 0:
            return rate
        elapsed = self.clock() - self.t0
        if elapsed < self.opts.delay_slow or not self.rescued_this_run:
            return None
        return self.rescued_this_run / elapsed / 10

    # -- map queries within the domain ---------------------------------------------------------

    def _find(self, status: Status, cursor: int, forward: bool) -> tuple[int, int] | None:
        """The next range of `status` inside the domain, from cursor in the given direction."""
        m = self.map
        while True:
            b = m.next_block(status, cursor) if forward else m.prev_block(status, cursor)
            if b is None:
                return None
            if forward:
                i = bisect.bisect_right(self._dom_ends, b.pos)
                if i == len(self.domain):
                    return None
                d_lo, d_hi = self.domain[i]
                if d_lo >= b.end:
                    cursor = d_lo
                    continue
                return max(b.pos, d_lo), min(b.end, d_hi)
            i = bisect.bisect_right(self._dom_ends, b.end - 1)
            if i == len(self.domain) or self.domain[i][0] >= b.end:
                i -= 1
            if i < 0:
                return None
            d_lo, d_hi = self.domain[i]
            if d_hi <= b.pos:
                cursor = d_hi
                continue
            return max(b.pos, d_lo), min(b.end, d_hi)

    def _whole_block(self, found: tuple[int, int], status: Status) -> tuple[int, int]:
        """The full block (clipped to the domain) holding a found range."""
        lo, hi = found
        b = self.map.block_at(lo)
        d = self.domain[bisect.bisect_right(self._dom_ends, lo)]
        return max(b.pos, d[0]), min(b.end, d[1])

    def _neighbour_is(self, pos: int, status: Status) -> bool:
        return 0 <= pos < self.map.size and self.map.status_at(pos) == status

    def _blocks_in_domain(self, status: Status):
        cursor = self._domain_start()
        while (found := self._find(status, cursor, True)) is not None:
            yield found
            cursor = found[1]

    def _has(self, status: Status) -> bool:
        return self._find(status, self._domain_start(), True) is not None

    def _pending_in_domain(self) -> bool:
        return any(self._has(s) for s in (Status.NON_TRIED, Status.NON_TRIMMED, Status.NON_SCRAPED))

    def _domain_start(self) -> int:
        return self.domain[0][0] if self.domain else 0

    def _domain_end(self) -> int:
        return self.domain[-1][1] if self.domain else 0

    def _bad_areas(self) -> int:
        m = self.map
        return m.count(Status.NON_TRIMMED) + m.count(Status.NON_SCRAPED) + m.count(Status.BAD_SECTOR)

    # -- saving and progress ----------------------------------------------------------------------

    def _save(self, final: bool = False) -> bool:
        """Sync the sink, then save the map.  Returns False if the sink could not be synced."""
        self._last_save = self.clock()
        try:
            self.sink.sync()
        except OSError as e:
            self._save_error = f"could not sync the destination ({e.strerror})"
            self.emit(Notice(self._t(), f"destination sync failed ({e.strerror}); map left as it was"))
            if final:
                return False
            raise _Stop("failed", f"destination sync failed: {e.strerror}") from None
        if self.save_map is None:
            return True
        try:
            self.save_map(self.map)
        except OSError as e:
            self._save_error = f"could not save the mapfile ({e.strerror})"
            self.emit(Notice(self._t(), f"could not save the mapfile: {e.strerror}"))
            if final:
                return False
            raise _Stop("failed", f"could not save the mapfile: {e.strerror}") from None
        self._dirty = False
        self.emit(MapSaved(self._t(), self.map_path, len(self.map)))
        return True

    def _t(self) -> float:
        return self.clock() - self.t0

    def _progress(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        win = self._rate_window
        while win and now - win[0][0] > 1.0:
            win.popleft()
        elapsed = now - self.t0
        span = (now - win[0][0]) if win else 0.0
        current = sum(n for _, n in win) / max(span, PROGRESS_INTERVAL) if win else 0.0
        average = self.rescued_this_run / elapsed if elapsed > 0 else 0.0
        s = self.map.summary()
        # Like ddrescue: an estimate while copying; unknown (not zero) once only finer work is left.
        remaining = s.bytes[Status.NON_TRIED] / average if average > 0 and s.bytes[Status.NON_TRIED] else None
        if not s.pending:
            remaining = 0.0
        self.emit(
            Progress(
                t=elapsed,
                phase=self.map.phase.label,
                pass_=self.map.pass_,
                pos=self.map.current_pos,
                size=s.size,
                rescued=s.rescued,
                non_tried=s.bytes[Status.NON_TRIED],
                non_trimmed=s.bytes[Status.NON_TRIMMED],
                non_scraped=s.bytes[Status.NON_SCRAPED],
                bad=s.bytes[Status.BAD_SECTOR],
                bad_areas=self._bad_areas(),
                read_errors=self.read_errors,
                current_rate=current,
                average_rate=average,
                elapsed=elapsed,
                since_last_good=(now - self.last_good) if self.last_good is not None else None,
                remaining=remaining,
            )
        )
