"""The speed over time of a job, from its Progress events: for live views, comparisons and reports.

It lives in the core, beside the events it reads, because the workstation (station.views) and
the report (station.report, a lower layer) both draw it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from station.core.events import Event, Progress, ReadFailed, ReadHung


@dataclass
class SpeedSeries:
    """Rate over time (seconds since the start, bytes/s) and when read errors happened.

    At most `limit` samples are kept: past that, neighbouring pairs are averaged, so the curve
    keeps its shape however long the session runs.
    """

    limit: int = 2048
    times: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)  # times of read errors (also thinned)
    average: float = 0.0
    current: float = 0.0
    last_t: float = 0.0

    def add(self, e: Event) -> None:
        if isinstance(e, Progress):
            if self.times and e.t < self.times[-1]:  # a resumed run restarts its clock: continue the curve
                return
            self.times.append(e.t)
            self.rates.append(e.current_rate)
            self.current, self.average, self.last_t = e.current_rate, e.average_rate, e.t
            if len(self.times) > self.limit:
                self._thin()
        elif isinstance(e, ReadFailed | ReadHung):
            self.errors.append(e.t)
            if len(self.errors) > self.limit:
                self.errors = self.errors[::2]

    def extend(self, events: Iterable[Event]) -> SpeedSeries:
        for e in events:
            self.add(e)
        return self

    def _thin(self) -> None:
        t, r = self.times, self.rates
        n = len(t) // 2 * 2
        self.times = [(t[i] + t[i + 1]) / 2 for i in range(0, n, 2)] + t[n:]
        self.rates = [(r[i] + r[i + 1]) / 2 for i in range(0, n, 2)] + r[n:]

    @property
    def peak(self) -> float:
        return max(self.rates, default=0.0)

    def buckets(self, width: int, t_end: float | None = None) -> list[float | None]:
        """The mean rate in each of `width` equal time buckets over [0, t_end].

        A bucket without a sample carries the one before it (the curve is a step between
        samples); buckets before the first sample are None.
        """
        end = t_end if t_end is not None else self.last_t
        if width <= 0:
            return []
        sums = [0.0] * width
        counts = [0] * width
        for t, r in zip(self.times, self.rates, strict=True):
            i = min(int(t / end * width), width - 1) if end > 0 else 0
            sums[i] += r
            counts[i] += 1
        out: list[float | None] = []
        last: float | None = None
        for s, c in zip(sums, counts, strict=True):
            if c:
                last = s / c
            out.append(last)  # between samples the rate stays what it was last seen to be
        return out

    def error_buckets(self, width: int, t_end: float | None = None) -> list[int]:
        end = t_end if t_end is not None else self.last_t
        counts = [0] * max(width, 0)
        for t in self.errors:
            if width > 0:
                counts[min(int(t / end * width), width - 1) if end > 0 else 0] += 1
        return counts
