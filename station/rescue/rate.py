"""Rates of a running rescue and the Progress event that carries them.

One meter, so that every job (the engine, a hardware imager followed through its driver) shows
the same figures by the same rules:

* the current rate: bytes rescued within the last second (RATE_WINDOW), over the time since the
  oldest of them, but never over less than PROGRESS_INTERVAL;
* the average rate: bytes rescued by this run over the time since it started;
* the remaining time, as ddrescue gives it: non-tried bytes at the average rate while any are
  left, unknown (None, not zero) once only finer work is left, zero when nothing is pending.

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
    """The rates of one run since `start`, and its Progress events at most every `interval`."""

    def __init__(self, clock: Callable[[], float], *, interval: float = PROGRESS_INTERVAL) -> None:
        self.clock = clock
        self.interval = interval
        self.t0 = 0.0  # 0.0 until started
        self.rescued = 0  # bytes rescued since the start
        self.last_good: float | None = None  # when the last good bytes came
        self._base = 0  # rescued bytes the map held at the start (for `reached`)
        self._window: deque[tuple[float, int]] = deque()
        self._last_progress = -1e9

    def start(self, rescued: int = 0, at: float | None = None) -> float:
        """Start the clock (now, or at `at` on the same clock); `rescued` is what the map already
        holds (for `reached`)."""
        self.t0 = self.clock() if at is None else at
        self._base = rescued
        return self.t0

    def elapsed(self) -> float:
        """Seconds since the start."""
        return self.clock() - self.t0

    def add(self, nbytes: int, now: float | None = None) -> None:
        """`nbytes` (> 0) more were just rescued: a good read."""
        if now is None:
            now = self.clock()
        self.rescued += nbytes
        self.last_good = now
        self._window.append((now, nbytes))

    def reached(self, total: int, now: float | None = None) -> None:
        """The map now holds `total` rescued bytes: for a follower that sees totals, not reads."""
        more = total - self._base - self.rescued
        if more > 0:
            self.add(more, now)

    def paused(self, seconds: float) -> None:
        """The run was paused this long: paused time is not time without a good read."""
        if self.last_good is not None:
            self.last_good += seconds

    def since_last_good(self, now: float) -> float:
        """Seconds without a good read (since the start if none came yet)."""
        return now - (self.last_good or self.t0)

    def slow_threshold(self, min_read_rate: float | None, delay: float) -> float | None:
        """Reads slower than this (bytes/s) count as slow: ddrescue's --min-read-rate, where 0
        means a tenth of the average so far (known only after `delay` seconds of reading)."""
        if min_read_rate is None:
            return None
        if min_read_rate > 0:
            return min_read_rate
        elapsed = self.clock() - self.t0
        if elapsed < delay or not self.rescued:
            return None
        return self.rescued / elapsed / 10

    def progress(self, rmap: RescueMap, read_errors: int, force: bool = False) -> Progress | None:
        """The Progress event of `rmap` now, or None if the last one is under `interval` old."""
        now = self.clock()
        if not force and now - self._last_progress < self.interval:
            return None
        self._last_progress = now
        win = self._window
        while win and now - win[0][0] > RATE_WINDOW:
            win.popleft()
        elapsed = now - self.t0
        span = (now - win[0][0]) if win else 0.0
        current = sum(n for _, n in win) / max(span, PROGRESS_INTERVAL) if win else 0.0
        average = self.rescued / elapsed if elapsed > 0 else 0.0
        s = rmap.summary()
        return Progress(
            t=elapsed,
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
            elapsed=elapsed,
            since_last_good=(now - self.last_good) if self.last_good is not None else None,
            remaining=remaining_time(s, average),
        )
