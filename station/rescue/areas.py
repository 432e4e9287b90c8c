"""What the copying pass learns about the bad areas it meets, to step over the next ones whole.

A dead or dying head does not leave scattered bad sectors: it leaves every track it reads
unreadable, and drives lay their tracks out so that one head's tracks form stretches of LBA
space (a band per head, serpentine order) or a comb of single tracks (forward order); a radial
scratch leaves a short stretch at the same angle of every track its heads read.  Either way the
bad areas along the disk come at a regular period, one or a few per period, each with its own
length (station.rescue.comb), and a rescue that has measured a few of them can

* approach the next one sector by sector where the period says it starts, so that the one read
  that fails is a single sector: the edge is then known exactly and nothing needs trimming;
* jump straight to where its length says it ends, instead of feeling its way through with a
  skip that starts small and doubles (a failed read, two seconds or more on a real drive, per
  step); once a tooth's length was measured alike twice, the far edge is trusted without the
  read back that would cost a second failed read.

The copying pass reports each area's edges (exact when found by sector reads) and asks for
predictions; nothing here reads or decides on its own.  Positions are edges between bytes,
measured in the pass's own direction, so one tracker serves a forward and a reverse pass alike.
Predictions that miss cost a few sector reads; a long run of misses, or areas off the pattern,
make the tracker learn afresh.  What was learned is kept (`patterns`): the head map draws it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from station.rescue.comb import Comb, Mark, Tooth, fit_comb, rescaled

KEEP = 12  # recent areas the pattern is fitted to
MISSES_TO_FORGET = 16  # predictions in a row that found nothing: the pattern has ended
JUMP_SKIPS = 4  # a learned length is jumped up to this many largest skips (a doubling skip
# would take that many failed reads more to cross it)


@dataclass(frozen=True)
class Area:
    start: int  # the edge where the bad area begins, in the pass's direction
    length: int  # bytes from there to its far edge
    exact: bool  # its start found to the sector (else within a cluster read of the truth)
    measured: bool = True  # its far edge too: the length is exact
    slack: int = 0  # a loose start: the size of the read that failed on it (0: a cluster)


@dataclass
class Pattern:
    """A comb as learned over one stretch of the disk, in absolute byte positions (for the head map
    and for the session's kept knowledge)."""

    lo: int  # the stretch of the disk where areas followed it
    hi: int
    period: int
    teeth: list[tuple[int, int]] = field(default_factory=list)  # (start of one occurrence, width)

    def to_dict(self) -> dict:
        return {"lo": self.lo, "hi": self.hi, "period": self.period, "teeth": [list(t) for t in self.teeth]}

    @classmethod
    def from_dict(cls, d: dict) -> Pattern:
        return cls(int(d["lo"]), int(d["hi"]), int(d["period"]), [(int(a), int(b)) for a, b in d["teeth"]])


class AreaTracker:
    """Recent bad areas, the pattern they follow, and what it predicts about the next one."""

    def __init__(self, sector: int, cluster: int, max_jump: int, keep: int = KEEP) -> None:
        self.sector = sector
        self.cluster = cluster
        self.max_jump = max_jump
        self.recent: deque[Area] = deque(maxlen=keep)
        self.jumps = 0  # areas crossed by a learned jump
        self.hits = 0  # areas found where the period said
        self.misses = 0
        self.missed_in_a_row = 0
        self.patterns: list[Pattern] = []  # what was learned, stretch by stretch
        self._comb: Comb | None = None
        self._prior: tuple[Comb, int] | None = None  # the last pattern that held, and its sign
        self._confirmed = False  # the current pattern predicted an area that was there
        self.fitted = False  # a pattern was fitted in this run, confirmed or not (see `relearn`)

    @property
    def relearn(self) -> bool:
        """Whether an area met next is learned from exact edges (fewer areas to fit a pattern
        again): once any pattern was fitted, confirmed or not, or one was kept from a run before.
        Only confirmed patterns are kept (`patterns`, the head map); gating relearning on them
        too left a dying drive's 99.9 % at 14,051 s of simulated time instead of 1,035 s."""
        return self.fitted or bool(self.patterns)

    # -- what the pass reports --------------------------------------------------------------------

    def record(
        self, start: int, length: int, exact: bool, measured: bool | None = None, slack: int = 0
    ) -> None:
        """An area crossed: where it began and how long it was; `exact`: its start is exact to the
        sector, `measured`: its length too (by default, as its start); `slack`: how far a loose
        start may be off (the read that failed on it; 0: a cluster)."""
        if length <= 0:
            return
        self.recent.append(Area(start, length, exact, exact if measured is None else measured, slack))
        self._refit()

    def correct(self, start: int, length: int) -> None:
        """The area that began at `start` was measured after all: it is `length` long."""
        for i, a in enumerate(self.recent):
            if a.start == start:
                self.recent[i] = Area(start, length, a.exact, True, a.slack)
                self._refit()
                return

    def hit(self) -> None:
        """A prediction found its area: the pattern holds (and is kept, `patterns`)."""
        self.hits += 1
        self.missed_in_a_row = 0
        self._confirmed = True
        if self._comb is not None:
            self._prior = (self._comb, 1 if self._forward() else -1)

    def miss(self) -> None:
        """A prediction found nothing: one tooth can be absent (a scratch on some heads only);
        a long run of misses means the pattern has ended."""
        self.misses += 1
        self.missed_in_a_row += 1
        if self.missed_in_a_row >= MISSES_TO_FORGET:
            self.forget()

    def forget(self) -> None:
        """The areas are not regular here (any more): learn afresh."""
        self.misses += 1
        self.missed_in_a_row = 0
        while len(self.recent) > 1:
            self.recent.popleft()
        self._comb = None
        self._prior = None  # (a pattern that stopped predicting is not scaled again)
        self._confirmed = False

    # -- what it predicts -------------------------------------------------------------------------

    def length(self) -> int | None:
        """The length to jump over a new area from its first bad byte, once two are known."""
        big = [a for a in self.recent if a.length >= 4 * self.cluster]  # scattered bad sectors
        # between the areas of a pattern say nothing about how long the next area of it is
        last = big[-3:] if len(big) >= 2 else list(self.recent)[-3:]
        if len(last) < 2:
            return None
        typical = max(a.length for a in last)  # the longest: landing past the far edge costs a
        # read back over good data, falling short a failed read (two dead heads: two lengths)
        if not all(a.measured for a in last):
            typical += self.cluster  # measured within a cluster: rather overshoot than fall short
        if typical > JUMP_SKIPS * self.max_jump or typical < 4 * self.cluster:
            return None  # areas this long are better crossed by the doubling skip, and small
            # ones (scattered bad sectors) by the first skip: no learning needed
        return typical

    def short_length(self, limit: int) -> int | None:
        """The longest of the areas measured lately, when two or more were and none is longer than
        `limit` (a scratch, scattered bad sectors); None otherwise (long areas: dead heads, or
        nothing measured lately: an area met then is measured, which the next pattern needs)."""
        measured = [a.length for a in self.recent if a.measured]
        if len(measured) < 2 or max(measured) > limit:
            return None
        return max(measured)

    def mixed(self) -> bool:
        """Whether short areas (a few bad sectors) come among the recent ones."""
        return any(a.length < 4 * self.cluster for a in self.recent)

    def period(self) -> int | None:
        """The period the recent areas follow (one or a few per period), if they follow one."""
        return self._comb.period if self._comb is not None else None

    def predict(self, pos: int, forward: bool) -> tuple[int, Tooth] | None:
        """Where the next area should begin, at or ahead of `pos`, and its tooth."""
        comb = self._comb
        if comb is None or forward != self._forward():
            return None
        t = pos if forward else -pos
        nxt = comb.next_start(t)
        if nxt is None:
            return None
        return (nxt[0] if forward else -nxt[0]), nxt[1]

    def next_start(self, pos: int, forward: bool) -> int | None:
        """Where the next area should begin, at or ahead of `pos`; None when not predictable."""
        p = self.predict(pos, forward)
        return p[0] if p is not None else None

    def trusted_length(self, tooth: Tooth) -> int | None:
        """The length to jump from a tooth's exact start without reading back to confirm the far
        edge: once two of its lengths were measured, within a few sectors of each other."""
        if tooth.measured < 2 or tooth.widest - tooth.width > 4 * self.sector:
            return None
        return tooth.widest

    def margin(self) -> int:
        """How far before (and past) a predicted start to read sector by sector."""
        p = self.period() or 0
        m = max(8 * self.sector, p // 100 + self._tolerance())
        return -(-m // self.sector) * self.sector

    # -- inside ------------------------------------------------------------------------------------

    def _tolerance(self) -> int:
        last = list(self.recent)[-4:]
        loose = [a.slack or self.cluster for a in last if not a.exact]
        return 2 * max(loose) if loose else self.sector

    def _forward(self) -> bool:
        return len(self.recent) < 2 or self.recent[-1].start >= self.recent[0].start

    def _refit(self) -> None:
        sign = 1 if self._forward() else -1
        marks = [Mark(sign * a.start, a.length, a.exact, a.measured, a.slack) for a in self.recent]
        before = self._comb
        self._comb = fit_comb(marks, self.sector, self.cluster)
        if self._comb is None and self._prior is not None and self._prior[1] == sign:
            self._comb = rescaled(self._prior[0], marks, self.sector)  # the next zone, maybe
        self.fitted = self.fitted or self._comb is not None
        if self._prior is None and self._comb is not None and _held(self._comb):
            # no pattern to scale (none confirmed yet, or the last one forgotten), and a zone
            # may end before its pattern predicts an area (wide bands: three to a zone): scale
            # this one into the next zone all the same
            self._prior = (self._comb, sign)
        if self._comb is None or before is None or not _alike(before.period, self._comb.period):
            self._confirmed = False  # another pattern (or none): kept once it predicts an area
        if self._comb is not None and self._confirmed:
            self._learned(self._comb, sign)

    def _learned(self, comb: Comb, sign: int) -> None:
        """Keep the pattern in absolute positions, extending the last one while it holds."""
        fitted = [a for a in list(self.recent)[-comb.marks :] if comb.tooth_at(sign * a.start) is not None]
        spans = [(a.start, a.start + a.length) if sign > 0 else (a.start - a.length, a.start) for a in fitted]
        lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
        teeth = sorted((t.last if sign > 0 else -t.last - t.width, t.width) for t in comb.teeth)
        last = self.patterns[-1] if self.patterns else None
        if (
            last is not None
            and _alike(last.period, comb.period)
            and last.hi >= lo - comb.period
            and last.lo <= hi + comb.period
        ):
            last.period = comb.period
            last.lo, last.hi, last.teeth = min(last.lo, lo), max(last.hi, hi), teeth
        else:
            self.patterns.append(Pattern(lo, hi, comb.period, teeth))


def _held(comb: Comb) -> bool:
    """A pattern every area it was fitted to lies on, three of them on one tooth."""
    return comb.share >= 1.0 and max(t.members for t in comb.teeth) >= 3


def _alike(a: int, b: int) -> bool:
    """Periods within a percent of each other: the same pattern, measured again."""
    return abs(a - b) * 100 <= max(a, b)
