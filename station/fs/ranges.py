"""Byte ranges on an image, and the one fast question asked of them: which extents meet which areas.

A `Range` is `(start, end)` in image bytes, end exclusive.  `Areas` holds sorted, disjoint ranges
(the unrescued areas of a map, a domain) and answers "which parts of [start, end) are inside"
with two bisections, so intersecting every extent of every file with a map of a million
fragments costs O(extents * log fragments), never a scan of the map per file.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from station.core.ranges import subtract as subtract  # (one implementation, in the core)
from station.rescue.rescuemap import RescueMap, Status

Range = tuple[int, int]  # [start, end) in bytes


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, disjoint ranges covering the same bytes (touching ranges joined, empty ones dropped)."""
    return join(sorted(r for r in ranges if r[1] > r[0]))


def join(ranges: Iterable[Range]) -> list[Range]:
    """The ranges in their order, each joined to the one before where they touch or overlap
    (a file's runs keep their file order; sorted input gives `merge`)."""
    out: list[Range] = []
    for lo, hi in ranges:
        if out and out[-1][0] <= lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def total(ranges: Iterable[Range]) -> int:
    """Bytes covered by disjoint ranges."""
    return sum(hi - lo for lo, hi in ranges)


def clip(ranges: Iterable[Range], lo: int, hi: int) -> list[Range]:
    """The parts of `ranges` inside [lo, hi)."""
    out = []
    for a, b in ranges:
        a, b = max(a, lo), min(b, hi)
        if b > a:
            out.append((a, b))
    return out


class Areas:
    """Sorted disjoint byte ranges with fast overlap queries."""

    __slots__ = ("_starts", "_ends", "_total")

    def __init__(self, ranges: Iterable[Range] = ()) -> None:
        merged = merge(ranges)
        self._starts = [lo for lo, _ in merged]
        self._ends = [hi for _, hi in merged]
        self._total = total(merged)

    @classmethod
    def from_sorted(cls, starts: list[int], ends: list[int]) -> Areas:
        """Adopt already sorted, disjoint starts and ends (no copy, no check)."""
        a = cls.__new__(cls)
        a._starts, a._ends = starts, ends
        a._total = sum(ends) - sum(starts)
        return a

    def __len__(self) -> int:
        return len(self._starts)

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __iter__(self):
        return zip(self._starts, self._ends, strict=True)

    @property
    def bytes(self) -> int:
        return self._total

    def hits(self, lo: int, hi: int) -> bool:
        """Whether any byte of [lo, hi) is in an area."""
        if hi <= lo:  # an empty range holds no byte
            return False
        i = bisect_right(self._ends, lo)
        return i < len(self._starts) and self._starts[i] < hi

    def within(self, lo: int, hi: int) -> list[Range]:
        """The parts of [lo, hi) that lie in areas, in order."""
        out: list[Range] = []
        if hi <= lo:
            return out
        starts, ends = self._starts, self._ends
        i = bisect_right(ends, lo)
        n = len(starts)
        while i < n and starts[i] < hi:
            out.append((max(starts[i], lo), min(ends[i], hi)))
            i += 1
        return out

    def count_in(self, lo: int, hi: int) -> int:
        """How many areas meet [lo, hi)."""
        return max(0, bisect_left(self._starts, hi) - bisect_right(self._ends, lo))


def unrescued_areas(m: RescueMap | None) -> Areas:
    """Every byte the rescue has not finished: bad, non-tried, non-trimmed, non-scraped."""
    if m is None:
        return Areas()
    starts: list[int] = []
    ends: list[int] = []
    for b in m:
        if b.status == Status.FINISHED:
            continue
        if ends and ends[-1] == b.pos:
            ends[-1] = b.end
        else:
            starts.append(b.pos)
            ends.append(b.end)
    return Areas.from_sorted(starts, ends)


def finished_areas(m: RescueMap) -> Areas:
    """Every byte the rescue has finished."""
    starts, ends = [], []
    for b in m:
        if b.status == Status.FINISHED:
            starts.append(b.pos)
            ends.append(b.end)
    return Areas.from_sorted(starts, ends)
