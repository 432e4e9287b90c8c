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

from station.events import (
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
from station.rescue.control import RunControl
from station.rescue.options import GiB, KiB, RescueOptions
from station.rescue.reader import ReadOutcome, RunSpec, StreamReader
from station.rescue.rescuemap import Phase, RescueMap, Status, Summary

PROGRESS_INTERVAL = 0.25  # seconds between progress events (4 a second)
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_GONE = (errno.ENODEV, errno.ENXIO, errno.ENOMEDIUM)  # the device itself went away


class RecoveryFailed(Exception):
    """Raised by a `recover` hook that could not bring the source back; the message says why."""


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
        """Copy non-tried data in big reads, skipping ahead on errors and slow reads."""
        forward = self._forward(pass_)
        cursor = self._begin(Phase.COPYING, pass_, forward, cursor)
        if not self._has(Status.NON_TRIED):
            return
        skip = self.opts.skip_size
        while (found := self._find(Status.NON_TRIED, cursor, forward)) is not None:
            lo, hi = found
            trouble = None
            for out in self._stream(lo, hi, forward, self._read_size, self.max_read, slow=True):
                cursor = out.pos + out.size if forward else out.pos
                if out.ok:
                    self._good(out)
                    if out.slow:
                        trouble = "slow"
                    else:
                        skip = self.opts.skip_size
                        self._read_size = min(max(self._read_size, len(out.data)) * 2, self.max_read)
                else:
                    self._failed(out, Status.NON_TRIMMED)
                    trouble = "error"
                self.map.current_pos = cursor
            if trouble:
                self._read_size = self.cluster
                cursor = self._skip(cursor, skip, forward)
                skip = min(skip * 2, self.max_skip)

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
        while (found := self._find(Status.NON_TRIMMED, cursor, forward)) is not None:
            lo, hi = self._whole_block(found, Status.NON_TRIMMED)
            cursor = hi if forward else lo
            self.map.current_pos = lo
            lead = all_edges or self._neighbour_is(lo - 1, Status.FINISHED)
            trail = all_edges or self._neighbour_is(hi, Status.FINISHED)
            if not (lead or trail):
                continue
            if lead:
                lo = self._trim_edge(lo, hi, forward=True)
            if trail and hi > lo:
                hi = self._trim_edge(lo, hi, forward=False)
            if hi > lo:
                self.map.set_status(lo, hi - lo, Status.NON_SCRAPED)
        if all_edges:  # untrimmable leftovers go on to scraping
            for b in list(self._blocks_in_domain(Status.NON_TRIMMED)):
                self.map.set_status(b[0], b[1] - b[0], Status.NON_SCRAPED)

    def _trim_edge(self, lo: int, hi: int, forward: bool) -> int:
        """Read sectors inward from one edge; returns the new edge of the untrimmed middle."""
        edge = lo if forward else hi
        for out in self._stream(lo, hi, forward, self.sector, self.sector):
            if out.ok:
                self._good(out)
                edge = out.pos + out.size if forward else out.pos
            else:
                self._failed(out, Status.BAD_SECTOR)
                edge = out.pos + out.size if forward else out.pos
                self._after_read()  # leaving the run early skips _stream's own check
                break
        return edge

    def _sweep_pass(self, cursor: int | None) -> None:
        """Read every non-tried byte left, without skipping."""
        forward = not self.opts.reverse
        cursor = self._begin(Phase.SWEEPING, 1, forward, cursor)
        while (found := self._find(Status.NON_TRIED, cursor, forward)) is not None:
            lo, hi = found
            for out in self._stream(lo, hi, forward, self._read_size, self.max_read):
                cursor = out.pos + out.size if forward else out.pos
                if out.ok:
                    self._good(out)
                    self._read_size = min(max(self._read_size, len(out.data)) * 2, self.max_read)
                else:
                    self._failed(out, Status.NON_TRIMMED)
                    self._read_size = self.cluster
                self.map.current_pos = cursor

    def _scrape_pass(self, cursor: int | None) -> None:
        """Read non-scraped blocks sector by sector; failures become bad sectors."""
        forward = not self.opts.reverse
        cursor = self._begin(Phase.SCRAPING, 1, forward, cursor)
        self._sector_sweep(Status.NON_SCRAPED, cursor, forward)

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
        if bad_size > 0:
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
        """A hung read, or a device gone: bring the source back, then read the range again,
        since its failure said nothing about the medium there."""
        if out.good:
            self._good(ReadOutcome(out.pos, out.good, out.data, copied=out.copied))
        if out.hung:
            self.read_errors += 1
            self.emit(ReadHung(self._t(), out.pos, out.size, self.opts.read_timeout))
            self._recover(f"read at {out.pos:#x} hung for {self.opts.read_timeout:g} s")
        else:
            self._recover(f"source gone ({out.error.strerror if out.error else 'no device'})")
        lo, hi = out.pos + out.good, out.pos + out.size
        if hi > lo:
            for again in self._stream(lo, hi, True, hi - lo, hi - lo):
                if again.ok:
                    self._good(again)
                else:
                    self._failed(again, status)

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
