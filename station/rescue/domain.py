"""The rescue domain: the part of the source a run works on, and the map seen through it.

GNU ddrescue keeps its `Domain` apart from the map and the algorithm; so do we.  A domain is a
list of sorted, disjoint byte ranges (`--domain`, or the whole source), clipped to the map.
Every question a phase asks of the map ("the next non-tried range from here", "is anything
left to do") goes through it, so no phase can read outside the domain by forgetting to clip.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from station.rescue.rescuemap import RescueMap, Status

Range = tuple[int, int]  # [lo, hi) in bytes

_PENDING = (Status.NON_TRIED, Status.NON_TRIMMED, Status.NON_SCRAPED)


class Domain:
    """Ranges of `rmap` a rescue may read, and the map's blocks clipped to them."""

    def __init__(self, rmap: RescueMap, ranges: list[Range] | None = None) -> None:
        self.map = rmap
        size = rmap.size
        wanted = ranges or [(0, size)]
        self.ranges: list[Range] = [(max(a, 0), min(b, size)) for a, b in sorted(wanted) if min(b, size) > a]
        self._ends = [b for _, b in self.ranges]

    @property
    def size(self) -> int:
        """Bytes in the domain."""
        return sum(b - a for a, b in self.ranges)

    @property
    def start(self) -> int:
        """Where a forward pass begins."""
        return self.ranges[0][0] if self.ranges else 0

    @property
    def end(self) -> int:
        """Where a reverse pass begins."""
        return self.ranges[-1][1] if self.ranges else 0

    def find(self, status: Status, cursor: int, forward: bool) -> Range | None:
        """The next range of `status` inside the domain, from cursor in the given direction."""
        m = self.map
        while True:
            b = m.next_block(status, cursor) if forward else m.prev_block(status, cursor)
            if b is None:
                return None
            if forward:
                i = bisect.bisect_right(self._ends, b.pos)
                if i == len(self.ranges):
                    return None
                d_lo, d_hi = self.ranges[i]
                if d_lo >= b.end:
                    cursor = d_lo
                    continue
                return max(b.pos, d_lo), min(b.end, d_hi)
            i = bisect.bisect_right(self._ends, b.end - 1)
            if i == len(self.ranges) or self.ranges[i][0] >= b.end:
                i -= 1
            if i < 0:
                return None
            d_lo, d_hi = self.ranges[i]
            if d_hi <= b.pos:
                cursor = d_hi
                continue
            return max(b.pos, d_lo), min(b.end, d_hi)

    def whole_block(self, found: Range) -> Range:
        """The full map block (clipped to the domain) holding a range `find` returned."""
        lo = found[0]
        b = self.map.block_at(lo)
        d = self.ranges[bisect.bisect_right(self._ends, lo)]
        return max(b.pos, d[0]), min(b.end, d[1])

    def block_at(self, pos: int) -> tuple[Status, int, int] | None:
        """The map block at pos, clipped to the domain range holding pos (None outside it)."""
        if not 0 <= pos < self.map.size:
            return None
        i = bisect.bisect_right(self._ends, pos)
        if i == len(self.ranges) or self.ranges[i][0] > pos:
            return None
        d_lo, d_hi = self.ranges[i]
        b = self.map.block_at(pos)
        return b.status, max(b.pos, d_lo), min(b.end, d_hi)

    def blocks(self, status: Status) -> Iterator[Range]:
        """Every range of `status` in the domain, in order (the map may not change meanwhile)."""
        cursor = self.start
        while (found := self.find(status, cursor, True)) is not None:
            yield found
            cursor = found[1]

    def has(self, status: Status) -> bool:
        """Whether any byte of the domain has `status`."""
        return self.find(status, self.start, True) is not None

    def pending(self) -> bool:
        """Whether the domain still holds work: non-tried, non-trimmed or non-scraped bytes."""
        return any(self.has(s) for s in _PENDING)

    def neighbour_is(self, pos: int, status: Status) -> bool:
        """Whether the byte at pos (the one just outside a block) exists and has `status`."""
        return 0 <= pos < self.map.size and self.map.status_at(pos) == status
