"""Which good reads are slow: the drive retrying internally, seconds per request, kB/s.

A failing drive's degraded areas often read without an error, slowly, because its firmware
retries every sector before it answers.  Hours of good data elsewhere should come first, so the
copying passes step over such areas as they step over bad ones and read them after everything
fast (station.rescue.phases).  A slow sector is never called bad.

Two rules, on the clock the reads are charged to (the drive's simulated clock in a bench, so a
bench stays deterministic):

* one read: slower than `slow_read_time` (time a drive needs to seek and settle, whatever the
  read's size) plus its size at the minimum rate;
* a window of the last reads of a run (at least WINDOW_BYTES): slower than one `slow_read_time`
  plus their size at the minimum rate, which catches an area where each read is only a little
  slow.

The minimum rate is `--min-read-rate` when given (then, as ddrescue's `-a`, only the rate
counts), else a tenth of the typical rate of healthy reads of a cluster or more (their 80th
percentile over the last few dozen), FALLBACK_RATE until a few are known.
"""

from __future__ import annotations

from collections import deque

FALLBACK_RATE = 1e6  # bytes/s, before the drive's typical rate is known
WINDOW_BYTES = 4 << 20  # reads judged together
SAMPLES = 48  # healthy reads the typical rate is taken over
MIN_SAMPLES = 8


class SlowReads:
    """Judges each good read of a run (in the reader's worker thread, in order)."""

    def __init__(self, min_read_rate: float | None, slow_read_time: float, cluster: int) -> None:
        self.min_read_rate = min_read_rate  # None: off; 0: auto; else bytes/s (ddrescue's -a)
        self.slow_read_time = slow_read_time
        self.cluster = cluster
        self._rates: deque[float] = deque(maxlen=SAMPLES)
        self._window: deque[tuple[int, float]] = deque()
        self._typical: float | None = None
        self.slow_reads = 0

    @property
    def on(self) -> bool:
        return self.min_read_rate is not None

    def typical(self) -> float | None:
        """The drive's typical rate for healthy reads (bytes/s), once known."""
        return self._typical

    def min_rate(self) -> float:
        """Bytes/s below which reads are slow."""
        if self.min_read_rate:
            return self.min_read_rate
        return self._typical / 10 if self._typical else FALLBACK_RATE

    def start_run(self) -> None:
        """A new run begins (elsewhere on the disk): the window starts empty."""
        self._window.clear()

    def judge(self, nbytes: int, seconds: float) -> bool:
        """Whether a good read of `nbytes` that took `seconds` was slow."""
        if self.min_read_rate is None or seconds <= 0:
            return False
        if self.min_read_rate > 0:  # as ddrescue: the rate alone
            slow = nbytes / seconds < self.min_read_rate
        else:
            slow = self._auto(nbytes, seconds)
        if slow:
            self.slow_reads += 1
            self._window.clear()
        elif nbytes >= self.cluster:
            self._learn(nbytes / seconds)
        return slow

    def _auto(self, nbytes: int, seconds: float) -> bool:
        rate = self.min_rate()
        if seconds > self.slow_read_time + nbytes / rate:
            return True
        if nbytes < self.cluster:
            return False
        w = self._window
        w.append((nbytes, seconds))
        total = sum(n for n, _ in w)
        while w and total - w[0][0] >= WINDOW_BYTES:
            total -= w.popleft()[0]
        if total < WINDOW_BYTES:
            return False
        return sum(s for _, s in w) > self.slow_read_time + total / rate

    def _learn(self, rate: float) -> None:
        self._rates.append(rate)
        if len(self._rates) >= MIN_SAMPLES:
            ordered = sorted(self._rates)
            self._typical = ordered[int(0.8 * (len(ordered) - 1))]
