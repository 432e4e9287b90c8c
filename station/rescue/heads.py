"""Heads, as the patterns of bad and slow areas reveal them: the head map and head selection.

A drive lays its LBAs out head by head in bands (serpentine order: each head reads a stretch of
cylinders, then the next head; forward order: a track each), so a dead or slow head shows as one
stretch per band at a regular period (station.rescue.areas).  From a learned pattern whose teeth
are head-sized (at least a 16th of the period), each tooth is one head's stretch, exactly, and
the heads between two teeth share the gap between them evenly (drives format each head to its
own width: the count in a gap is how many of the widest tooth it holds; or the technician gives
the count).  Each pattern holds over a stretch of the disk: a zone of the head map.  In the first
zone the band is taken to begin where LBA 0 does (head 0 first, as drives number them); later
zones keep the heads of the teeth they share with it.

What this gives is an estimate: the heads between two teeth may be a little wider or narrower
than their share of the gap, and where the first learned zone is not the disk's first, head
numbers count from a band that may not begin at LBA 0.  Nothing is known where no pattern was
learned: those parts of the disk are not in the map.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from station.core.ranges import Range, RangeSet, intersect
from station.rescue.areas import Pattern
from station.rescue.rescuemap import RescueMap, Status

HEAD_SHARE = 16  # a tooth at least this fraction of its period is a head's stretch
MAX_HEADS = 32


@dataclass(frozen=True)
class Zone:
    """One stretch of the disk where a head pattern held."""

    lo: int
    hi: int
    period: int  # bytes per band (every head once)
    origin: int  # where a band (head 0's stretch) begins
    heads: int
    bad_heads: tuple[int, ...] = ()  # heads whose stretches were bad here
    slow_heads: tuple[int, ...] = ()
    # each head's stretch in a band, (offset from origin, width), when the teeth told them (a
    # head formatted narrower or wider than the others); empty: equal shares
    spans: tuple[tuple[int, int], ...] = ()

    def span(self, head: int) -> tuple[int, int]:
        """Head `head`'s stretch in a band: its offset from `origin` and its width."""
        if self.spans:
            return self.spans[head]
        share = self.period / self.heads
        a = round(head * share)
        return a, round((head + 1) * share) - a

    def stretches(self, head: int) -> Iterator[Range]:
        """Head `head`'s stretches of LBA space inside the zone."""
        off, width = self.span(head)
        k = (self.lo - self.origin - off - width) // self.period
        while True:
            a = self.origin + k * self.period + off
            b = a + width
            if a >= self.hi:
                return
            if b > self.lo:
                yield max(a, self.lo), min(b, self.hi)
            k += 1


@dataclass
class HeadLayout:
    """Heads over the learned zones of a disk."""

    heads: int
    zones: list[Zone] = field(default_factory=list)
    estimated: bool = True  # the head count came from the patterns, not the technician

    def ranges(self, heads: set[int]) -> list[Range]:
        """Sorted, merged byte ranges of these heads over every learned zone."""
        rs = RangeSet()
        for z in self.zones:
            for h in heads:
                if h < z.heads:
                    for a, b in z.stretches(h):
                        rs.add(a, b)
        return rs.ranges

    def to_dict(self) -> dict:
        return {
            "heads": self.heads,
            "estimated": self.estimated,
            "zones": [
                {"lo": z.lo, "hi": z.hi, "period": z.period, "origin": z.origin, "heads": z.heads,
                 "bad_heads": list(z.bad_heads), "slow_heads": list(z.slow_heads),
                 "spans": [list(s) for s in z.spans]}
                for z in self.zones
            ],
        }  # fmt: skip


def head_layout(bad: list[Pattern], slow: list[Pattern], heads: int | None = None) -> HeadLayout | None:
    """The heads the learned patterns show (None when none is head-sized); `heads`: the count,
    when the technician knows it."""
    found = [(p, False) for p in bad if _headlike(p)] + [(p, True) for p in slow if _headlike(p)]
    if not found:
        return None
    found.sort(key=lambda ps: ps[0].lo)
    count = heads or _estimate(found)
    layout = HeadLayout(count, estimated=heads is None)
    named: list[int] = []  # head index of each tooth of the previous zone, in band order
    for p, is_slow in found:
        zone, named = _zone(p, count, named, is_slow, first=not layout.zones)
        layout.zones.append(zone)
    return _merged(layout)


def _headlike(p: Pattern) -> bool:
    return bool(p.teeth) and all(w * HEAD_SHARE >= p.period for _, w in p.teeth)


def _estimate(found: list[tuple[Pattern, bool]]) -> int:
    """Heads per band: each tooth a head (a dead head's stretch is one head's), and between two
    teeth as many heads as the widest tooth fits in the gap (heads are formatted to their own
    widths, a little wider or narrower), as most of the disk says it; from bad patterns when
    there are any (a slow area's edges are found more loosely than a bad one's)."""
    weights: dict[int, int] = {}
    bad = [(p, s) for p, s in found if not s] or found
    counts = {id(p): _count(p) for p, _ in bad}
    for p, _ in bad:
        weights[counts[id(p)]] = weights.get(counts[id(p)], 0) + (p.hi - p.lo)
    best = max(weights, key=lambda n: weights[n])
    most_teeth = max(len(p.teeth) for p, _ in bad if counts[id(p)] == best)
    return max(2, min(MAX_HEADS, max(best, most_teeth + 1)))


def _count(p: Pattern) -> int:
    widest = max(w for _, w in p.teeth)
    gaps = _gaps(sorted((a % p.period, w) for a, w in p.teeth), p.period)
    return len(p.teeth) + sum(max(0, round((hi - lo) / widest)) for lo, hi in gaps)


def _gaps(phased: list[tuple[int, int]], period: int) -> list[tuple[int, int]]:
    """After each tooth (phase, width; sorted by phase), the stretch up to the next one around
    the band."""
    ends = [a for a, _ in phased[1:]] + [phased[0][0] + period]
    return [(a + w, end) for (a, w), end in zip(phased, ends, strict=True)]


def _zone(p: Pattern, heads: int, named: list[int], is_slow: bool, first: bool) -> tuple[Zone, list[int]]:
    """A pattern's zone: heads numbered from LBA 0 in the first zone, else so that its first tooth
    keeps the head the previous zone's first tooth had."""
    share = p.period / heads
    teeth = sorted(p.teeth)
    a0 = teeth[0][0]

    def numbered(head0: int) -> tuple[int, list[int]]:
        origin = a0 - round(head0 * share)
        origin -= ((origin - p.lo) // p.period + 1) * p.period  # the band start at or before lo
        return origin, [int(((a - origin) % p.period) / share + 0.5) % heads for a, _ in teeth]

    if first:
        origin, index = numbered(int((a0 % p.period) / share + 0.5) % heads)
    else:  # the numbering that keeps most of the previous zone's heads
        origin, index = max((numbered(h) for h in named), key=lambda oi: len(set(oi[1]) & set(named)))
    hit = tuple(sorted(set(index)))
    bad, slow = ((), hit) if is_slow else (hit, ())
    spans = _spans(p.period, heads, origin, teeth, index)
    return Zone(p.lo, p.hi, p.period, origin, heads, bad, slow, spans), index


def _spans(
    period: int, heads: int, origin: int, teeth: list[tuple[int, int]], index: list[int]
) -> tuple[tuple[int, int], ...]:
    """Each head's stretch in a band: a tooth's head exactly where its tooth lies, the heads
    between two teeth sharing the gap evenly; () (equal shares) when the teeth do not tell."""
    placed = sorted(((a - origin) % period, w, h) for (a, w), h in zip(teeth, index, strict=True))
    if len({h for *_, h in placed}) != len(placed):
        return ()
    spans: dict[int, tuple[int, int]] = {}
    gaps = _gaps([(off, w) for off, w, _ in placed], period)
    for i, ((off, w, h), (lo, hi)) in enumerate(zip(placed, gaps, strict=True)):
        spans[h] = (off, w)
        nh = placed[(i + 1) % len(placed)][2]
        between = [(h + j) % heads for j in range(1, (nh - h) % heads or heads)]
        if between and hi <= lo:
            return ()
        for j, g in enumerate(between):
            a = lo + round(j * (hi - lo) / len(between))
            spans[g] = (a, lo + round((j + 1) * (hi - lo) / len(between)) - a)
    if sorted(spans) != list(range(heads)):
        return ()
    return tuple(spans[h] for h in range(heads))


def _merged(layout: HeadLayout) -> HeadLayout:
    """Zones that overlap (a slow and a bad pattern over the same stretch: one zone; a pattern
    learned across a zone change: the simpler one keeps the stretch) leave disjoint zones."""
    out: list[Zone] = []
    for z in layout.zones:  # a slow and a bad pattern of one period over one stretch: one zone
        last = out[-1] if out else None
        if (
            last is not None
            and z.lo < last.hi
            and abs(z.period - last.period) * 100 <= max(z.period, last.period)
        ):
            out[-1] = Zone(
                min(last.lo, z.lo), max(last.hi, z.hi), last.period, last.origin, last.heads,
                tuple(sorted(set(last.bad_heads) | set(z.bad_heads))),
                tuple(sorted(set(last.slow_heads) | set(z.slow_heads))), last.spans or z.spans,
            )  # fmt: skip
        else:
            out.append(z)
    taken = RangeSet()
    kept: list[Zone] = []
    for z in sorted(out, key=lambda z: (len(z.bad_heads) + len(z.slow_heads), z.lo - z.hi)):
        free = [(a, b) for a, b in _free(taken, z.lo, z.hi) if b - a >= z.period]
        if free:
            a, b = max(free, key=lambda r: r[1] - r[0])
            kept.append(replace(z, lo=a, hi=b))
            taken.add(a, b)
    layout.zones = sorted(kept, key=lambda z: z.lo)
    return layout


def _free(taken: RangeSet, lo: int, hi: int) -> list[Range]:
    out, pos = [], lo
    for a, b in taken.overlapping(lo, hi):
        if a > pos:
            out.append((pos, a))
        pos = max(pos, b)
    if hi > pos:
        out.append((pos, hi))
    return out


# -- the head map: heads x zones -----------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One head in one zone: bytes by what the rescue found there."""

    good: int = 0
    bad: int = 0  # unreadable, or failed and not yet trimmed or scraped
    slow: int = 0  # read (or not yet) in an area known to be slow
    untried: int = 0

    @property
    def total(self) -> int:
        return self.good + self.bad + self.slow + self.untried

    def worst(self) -> str:
        """What the cell shows: bad if any of it is, then slow, then untried, else good."""
        for name in ("bad", "slow", "untried"):
            if getattr(self, name) * 100 >= self.total and getattr(self, name):
                return name
        return "good"


_BAD = (Status.BAD_SECTOR, Status.NON_TRIMMED, Status.NON_SCRAPED)


def head_cells(layout: HeadLayout, rmap: RescueMap, slow: list[Range]) -> list[list[Cell]]:
    """cells[head][zone] for the map as it stands (slow: the areas known to be slow)."""
    grid: list[list[Cell]] = []
    for h in range(layout.heads):
        row = []
        for z in layout.zones:
            good = bad = slow_b = untried = 0
            for a, b in z.stretches(h) if h < z.heads else ():
                for blk in rmap.blocks(a, b):
                    n = blk.size
                    if blk.status in _BAD:
                        bad += n
                    elif blk.status == Status.NON_TRIED:
                        untried += n
                    else:
                        good += n
                s = sum(y - x for x, y in intersect([(a, b)], slow))
                moved = min(s, good + untried)
                slow_b += moved
                from_untried = min(moved, untried)
                untried -= from_untried
                good -= moved - from_untried
            row.append(Cell(good, bad, slow_b, untried))
        grid.append(row)
    return grid
