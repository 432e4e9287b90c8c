"""What the copying pass learns about the bad areas it meets, to step over the next ones whole.

A dead or dying head does not leave scattered bad sectors: it leaves every track it reads
unreadable, and drives lay their tracks out so that one head's tracks form stretches of LBA
space (a band per head, serpentine order) or a comb of single tracks (forward order).  Either
way the bad areas along the disk have about the same length and come at a regular period, and
a rescue that has measured a few of them exactly can

* approach the next one sector by sector where the period says it starts, so that the one read
  that fails is a single sector: the edge is then known exactly and nothing needs trimming;
* jump straight to where the length says it ends, and confirm the end with one sector read back,
  instead of feeling its way through with a skip that starts small and doubles (a failed read,
  two seconds or more on a real drive, per step).

The copying pass reports each area's exact edges (found by sector reads in the pass itself)
and asks for predictions; nothing here reads or decides on its own.  Positions are edges
between bytes, measured in the pass's own direction, so one tracker serves a forward and a
reverse pass alike.  Predictions that miss cost little (a few sector reads, or one failed read
after which the doubling skip takes over) and turn learning off until areas are regular again.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    start: int  # the edge where the bad area begins, in the pass's direction
    length: int  # bytes from there to its far edge
    exact: bool  # both edges found by sector reads (else within a cluster read of the truth)


class AreaTracker:
    """Recent bad areas with exact edges, and what they predict about the next one."""

    def __init__(self, sector: int, cluster: int, max_jump: int, keep: int = 5) -> None:
        self.sector = sector
        self.cluster = cluster
        self.max_jump = max_jump
        self.recent: deque[Area] = deque(maxlen=keep)
        self.jumps = 0  # areas crossed by a learned jump
        self.hits = 0  # areas found where the period said
        self.misses = 0

    def record(self, start: int, length: int, exact: bool) -> None:
        """An area crossed: where it began and how long it was (exactly, or within a cluster)."""
        if length > 0:
            self.recent.append(Area(start, length, exact))

    def forget(self) -> None:
        """A prediction failed: the areas are not regular here; learn afresh."""
        self.misses += 1
        while len(self.recent) > 1:
            self.recent.popleft()

    def length(self) -> int | None:
        """The length to jump over a new area from its first bad byte, once two are known."""
        if len(self.recent) < 2:
            return None
        last = list(self.recent)[-3:]
        typical = int(statistics.median(a.length for a in last))
        if not all(a.exact for a in last):
            typical += self.cluster  # measured within a cluster: rather overshoot than fall short
        if typical > self.max_jump or typical < 4 * self.cluster:
            return None  # areas this long are better crossed by the doubling skip, and small
            # ones (scattered bad sectors) by the first skip: no learning needed
        return typical

    def _tolerance(self) -> int:
        exact = all(a.exact for a in list(self.recent)[-4:])
        return self.sector if exact else 2 * self.cluster

    def period(self) -> int | None:
        """The distance between area starts, when the last three gaps agree (to within the
        precision of the starts, and 1%)."""
        starts = [a.start for a in self.recent]
        gaps = [abs(b - a) for a, b in zip(starts, starts[1:], strict=False)][-3:]
        if len(gaps) < 2:
            return None
        lo, hi = min(gaps), max(gaps)
        if lo <= 0 or hi - lo > max(self._tolerance(), hi // 100) or hi < 4 * self._tolerance():
            return None
        return gaps[-1]

    def next_start(self, pos: int, forward: bool) -> int | None:
        """Where the next area should begin, at or ahead of `pos`; None when not predictable."""
        p = self.period()
        if p is None:
            return None
        last = self.recent[-1].start
        nxt = last + p if forward else last - p
        while (nxt < pos) if forward else (nxt > pos):  # one or more periods already read past
            nxt = nxt + p if forward else nxt - p
            if abs(nxt - last) > 3 * p:
                return None
        return nxt

    def margin(self) -> int:
        """How far before (and past) a predicted start to read sector by sector."""
        p = self.period() or 0
        m = max(8 * self.sector, p // 100 + self._tolerance())
        return -(-m // self.sector) * self.sector
