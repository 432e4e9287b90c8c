"""Rates of a running rescue and the Progress event that carries them.

One meter, so that every job (the engine, a hardware imager followed through its driver) shows
the same figures by the same rules:

* the current rate: bytes rescued since the last report or within the last second
  (RATE_WINDOW), whichever is longer, over that time (but never over less than
  PROGRESS_INTERVAL).  A burst of good reads followed by a read that takes seconds (a failing
  drive's error) is reported when that read ends, never lost between two reports;
* the average rate: bytes rescued by this run over the time it has run;
* the remaining time, as ddrescue gives it: non-tried bytes at the average rate while any are
  left, unknown (None, not zero) once only finer work is left, zero when nothing is pending.

Paused time (`pause`/`resume`) is no time at all to the meter: it is left out of the elapsed
time, the average, the current rate's window and "since the last good read"; while paused the
current rate is zero.  Event times (`Progress.t`) stay the clock's, like every other event's.

A meter is fed either read by read (`add`, the engine) or with the map's running total of
rescued bytes (`reached`, a follower that only sees totals).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from station.core.events import Progress
from station.rescue.rescuemap import RescueMap, Status, Summary

PROGRESS_INTERVAL = 0.25  # seconds between progress events (4 a second)
RATE_WINDOW = 1.0  # seconds of good reads the current rate is taken over


def remaining_time(summary: Summary, average: float) -> float | None:
    """Seconds still to go, as ddrescue estimates them (see the module's docstring)."""
    non_tried = summary.bytes[Status.NON_TRIED]
    remaining = non_tried / average if average > 0 and non_tried else None
    if not summary.pending:
        remaining = 0.0
    return remaining


class RateMeter:
    """The rates of one run since `start`, and its Progress events at most every `interval`.

    Times inside the meter are *running* seconds since the start (`running()`): the clock's
    seconds less the time spent paused.
    """

    def __init__(self, clock: Callable[[], float], *, interval: float = PROGRESS_INTERVAL) -> None:
        self.clock = clock
        self.interval = interval
        self.t0 = 0.0  # 0.0 until started
        self.rescued = 0  # bytes rescued since the start
        self.last_good: float | None = None  # when the last good bytes came (the clock's reading)
        self._last_good_run: float | None = None  # the same in running seconds
        self._base = 0  # rescued bytes the map held at the start (for `reached`)
        self._window: deque[tuple[float, int]] = deque()  # (running seconds, bytes) of good reads
        self._last_progress = -1e9  # the clock's reading at the last Progress
        self._last_report = 0.0  # running seconds at the last Progress
        self._paused_total = 0.0  # seconds spent paused before the current pause
        self._paused_at: float | None = None  # the clock's reading when the current pause began

    def start(self, rescued: int = 0, at: float | None = None) -> float:
        """Start the clock (now, or at `at` on the same clock); `rescued` is what the map already
        holds (for `reached`)."""
        self.t0 = self.clock() if at is None else at
        self._base = rescued
        return self.t0

    def running(self, now: float | None = None) -> float:
        """Seconds the run has run by `now` (the clock's reading), paused time left out."""
        if now is None:
            now = self.clock()
        paused = self._paused_total + (now - self._paused_at if self._paused_at is not None else 0.0)
        return max(now - self.t0 - paused, 0.0)

    def elapsed(self) -> float:
        """Seconds the run has run (paused time left out)."""
        return self.running()

    @property
    def is_paused(self) -> bool:
        return self._paused_at is not None

    def pause(self, at: float | None = None) -> None:
        """The run holds from now (or `at`) until `resume`: none of it counts as running time."""
        if self._paused_at is None:
            self._paused_at = self.clock() if at is None else at

    def resume(self, at: float | None = None) -> float:
        """The run goes on; returns how long the pause lasted."""
        if self._paused_at is None:
            return 0.0
        now = self.clock() if at is None else at
        held = max(now - self._paused_at, 0.0)
        self._paused_total += held
        self._paused_at = None
        return held

    def add(self, nbytes: int, now: float | None = None) -> None:
        """`nbytes` (> 0) more were just rescued: a good read."""
        if now is None:
            now = self.clock()
        self.rescued += nbytes
        self.last_good = now
        self._last_good_run = self.running(now)
        self._window.append((self._last_good_run, nbytes))

    def reached(self, total: int, now: float | None = None) -> None:
        """The map now holds `total` rescued bytes: for a follower that sees totals, not reads."""
        more = total - self._base - self.rescued
        if more > 0:
            self.add(more, now)

    def since_last_good(self, now: float) -> float:
        """Running seconds without a good read (since the start if none came yet)."""
        return self.running(now) - (self._last_good_run or 0.0)

    def slow_threshold(self, min_read_rate: float | None, delay: float) -> float | None:
        """Reads slower than this (bytes/s) count as slow: ddrescue's --min-read-rate, where 0
        means a tenth of the average so far (known only after `delay` seconds of reading)."""
        if min_read_rate is None:
            return None
        if min_read_rate > 0:
            return min_read_rate
        elapsed = self.running()
        if elapsed < delay or not self.rescued:
            return None
        return self.rescued / elapsed / 10

    def current_rate(self, run_now: float) -> float:
        """Bytes/s over what came since the last report or in the last second, whichever is longer.

        Reports come after reads: a burst of good reads and then a read that takes seconds (a
        failing drive's error, a slow zone) is reported when that read ends, over the whole
        time since the report before, so the burst is counted rather than aged out unseen.
        """
        since = max(min(run_now - RATE_WINDOW, self._last_report), 0.0)
        win = self._window
        while win and win[0][0] <= since:
            win.popleft()
        if not win or self._paused_at is not None:
            return 0.0
        return sum(n for _, n in win) / max(run_now - since, PROGRESS_INTERVAL)

    def progress(self, rmap: RescueMap, read_errors: int, force: bool = False) -> Progress | None:
        """The Progress event of `rmap` now, or None if the last one is under `interval` old."""
        now = self.clock()
        if not force and now - self._last_progress < self.interval:
            return None
        self._last_progress = now
        run_now = self.running(now)
        current = self.current_rate(run_now)
        self._last_report = run_now
        average = self.rescued / run_now if run_now > 0 else 0.0
        s = rmap.summary()
        return Progress(
            t=now - self.t0,
            phase=rmap.phase.label,
            pass_=rmap.pass_,
            pos=rmap.current_pos,
            size=s.size,
            rescued=s.rescued,
            non_tried=s.bytes[Status.NON_TRIED],
            non_trimmed=s.bytes[Status.NON_TRIMMED],
            non_scraped=s.bytes[Status.NON_SCRAPED],
            bad=s.bytes[Status.BAD_SECTOR],
            bad_areas=rmap.bad_areas(),
            read_errors=read_errors,
            current_rate=current,
            average_rate=average,
            elapsed=run_now,
            since_last_good=(run_now - self._last_good_run) if self._last_good_run is not None else None,
            remaining=remaining_time(s, average),
        )
