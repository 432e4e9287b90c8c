"""Ranges of bytes as sorted lists of disjoint (start, end) pairs, as domains and maps give them."""

from __future__ import annotations

import bisect

Range = tuple[int, int]


def intersect(a: list[Range], b: list[Range]) -> list[Range]:
    """Intersection of two sorted lists of disjoint ranges."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: list[Range], b: list[Range]) -> list[Range]:
    """The parts of sorted disjoint ranges `a` outside sorted disjoint ranges `b`."""
    out: list[Range] = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] <= lo:
            j += 1
        k = j
        while k < len(b) and b[k][0] < hi:
            if b[k][0] > lo:
                out.append((lo, b[k][0]))
            lo = max(lo, b[k][1])
            k += 1
        if hi > lo:
            out.append((lo, hi))
    return out


class RangeSet:
    """A set of bytes kept as sorted, disjoint, merged ranges: what a rescue learns about areas."""

    def __init__(self, ranges: list[Range] | None = None) -> None:
        self._lo: list[int] = []
        self._hi: list[int] = []
        for lo, hi in ranges or []:
            self.add(lo, hi)

    def __bool__(self) -> bool:
        return bool(self._lo)

    def __len__(self) -> int:
        return len(self._lo)

    @property
    def ranges(self) -> list[Range]:
        return list(zip(self._lo, self._hi, strict=True))

    @property
    def total(self) -> int:
        return sum(h - lo for lo, h in zip(self._lo, self._hi, strict=True))

    def add(self, lo: int, hi: int) -> None:
        """Add [lo, hi), merging with what it touches."""
        if hi <= lo:
            return
        i = bisect.bisect_left(self._hi, lo)  # first range ending at or after lo
        j = bisect.bisect_right(self._lo, hi)  # ranges starting after hi stay
        if i < j:
            lo, hi = min(lo, self._lo[i]), max(hi, self._hi[j - 1])
        self._lo[i:j] = [lo]
        self._hi[i:j] = [hi]

    def remove(self, lo: int, hi: int) -> None:
        """Take [lo, hi) out."""
        if hi <= lo:
            return
        kept = subtract(self.ranges, [(lo, hi)])
        self._lo = [a for a, _ in kept]
        self._hi = [b for _, b in kept]

    def overlapping(self, lo: int, hi: int) -> list[Range]:
        """The parts of the set inside [lo, hi)."""
        i = bisect.bisect_right(self._hi, lo)
        out = []
        while i < len(self._lo) and self._lo[i] < hi:
            out.append((max(lo, self._lo[i]), min(hi, self._hi[i])))
            i += 1
        return out

    def covers(self, pos: int) -> bool:
        i = bisect.bisect_right(self._lo, pos) - 1
        return i >= 0 and self._hi[i] > pos
