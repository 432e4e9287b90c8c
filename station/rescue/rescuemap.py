"""The rescue map: which bytes of the source are in which state.

The map covers [0, size) with contiguous blocks, each with one of GNU ddrescue's five block
statuses.  Adjacent blocks never share a status (they are merged), so the block count is the
fragment count ddrescue would write.

Blocks live in a sorted list of start offsets plus one sorted list per status, so that every
update and every "next block of status S after pos" costs O(log n), never O(map size): a
map of a million fragments stays as quick to update as a map of ten.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from sortedcontainers import SortedList


class Status(StrEnum):
    """Block status, with ddrescue's mapfile character as the value."""

    NON_TRIED = "?"
    NON_TRIMMED = "*"
    NON_SCRAPED = "/"
    BAD_SECTOR = "-"
    FINISHED = "+"


class Phase(StrEnum):
    """What the rescue is doing: the mapfile's current-status character."""

    COPYING = "?"
    TRIMMING = "*"
    SCRAPING = "/"
    RETRYING = "-"
    FILLING = "F"
    GENERATING = "G"
    FINISHED = "+"
    SWEEPING = "%"  # added in ddrescue 1.30

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Block:
    pos: int
    size: int
    status: Status

    @property
    def end(self) -> int:
        return self.pos + self.size


@dataclass(frozen=True, slots=True)
class Summary:
    """Totals in bytes and areas, as `ddrescuelog -t` reports them."""

    size: int
    bytes: dict[Status, int]
    areas: dict[Status, int]
    fragments: int

    @property
    def rescued(self) -> int:
        return self.bytes[Status.FINISHED]

    @property
    def pending(self) -> int:
        """Bytes still to be tried, trimmed or scraped."""
        return self.bytes[Status.NON_TRIED] + self.bytes[Status.NON_TRIMMED] + self.bytes[Status.NON_SCRAPED]

    @property
    def finished(self) -> bool:
        """True when nothing is left but rescued data and bad sectors."""
        return self.pending == 0


class RescueMap:
    """Intervals over [0, size), each with a Status, plus the rescue's current position."""

    def __init__(self, size: int, status: Status = Status.NON_TRIED) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        self.size = size
        self.current_pos = 0
        self.phase = Phase.COPYING
        self.pass_ = 1
        self._starts: SortedList = SortedList()
        self._info: dict[int, tuple[int, Status]] = {}
        self._by_status: dict[Status, SortedList] = {s: SortedList() for s in Status}
        self._bytes: dict[Status, int] = dict.fromkeys(Status, 0)
        if size:
            self._add(0, size, status)

    # -- construction from a list of blocks (mapfile loading) --------------------------------

    @classmethod
    def from_blocks(cls, size: int, blocks: list[tuple[int, int, Status]]) -> RescueMap:
        """Build from contiguous (pos, end, status) triples covering [0, size); merges equals."""
        # One pass, building plain lists first: mapfile loading spends its time here.
        starts: list[int] = []
        info: dict[int, tuple[int, Status]] = {}
        per_status: dict[Status, list[int]] = {s: [] for s in Status}
        nbytes: dict[Status, int] = dict.fromkeys(Status, 0)
        expected = 0
        last_start, last_st = 0, None
        for pos, end, st in blocks:
            if pos != expected or end <= pos:
                raise ValueError(f"blocks are not contiguous at {pos:#x}")
            expected = end
            nbytes[st] += end - pos
            if st == last_st:
                info[last_start] = (end, st)
            else:
                starts.append(pos)
                info[pos] = (end, st)
                per_status[st].append(pos)
                last_start, last_st = pos, st
        if expected != size:
            raise ValueError(f"blocks end at {expected:#x}, not at size {size:#x}")
        m = cls(0)
        m.size = size
        m._info = info
        m._bytes = nbytes
        m._starts = SortedList(starts)
        m._by_status = {s: SortedList(per_status[s]) for s in Status}
        return m

    # -- primitive add/remove keeping every index in step ---------------------------------

    def _add(self, pos: int, end: int, st: Status) -> None:
        self._starts.add(pos)
        self._info[pos] = (end, st)
        self._by_status[st].add(pos)
        self._bytes[st] += end - pos

    def _remove(self, pos: int) -> tuple[int, Status]:
        end, st = self._info.pop(pos)
        self._starts.remove(pos)
        self._by_status[st].remove(pos)
        self._bytes[st] -= end - pos
        return end, st

    def _index_of(self, pos: int) -> int:
        return self._starts.bisect_right(pos) - 1

    def _split(self, at: int) -> None:
        """Make `at` a block boundary (no-op at 0, size or an existing boundary)."""
        if at <= 0 or at >= self.size or at in self._info:
            return
        start = self._starts[self._index_of(at)]
        end, st = self._info[start]
        self._bytes[st] -= end - start
        self._info[start] = (at, st)
        self._bytes[st] += at - start
        self._add(at, end, st)

    # -- queries ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._starts)

    def __iter__(self) -> Iterator[Block]:
        info = self._info
        for start in self._starts:
            end, st = info[start]
            yield Block(start, end - start, st)

    def blocks(self, pos: int = 0, end: int | None = None) -> Iterator[Block]:
        """Blocks overlapping [pos, end), clipped to it."""
        end = self.size if end is None else min(end, self.size)
        if pos >= end:
            return
        first = max(self._index_of(pos), 0)
        for start in self._starts.islice(first):
            if start >= end:
                break
            b_end, st = self._info[start]
            lo, hi = max(start, pos), min(b_end, end)
            if hi > lo:
                yield Block(lo, hi - lo, st)

    def block_at(self, pos: int) -> Block:
        if not 0 <= pos < self.size:
            raise IndexError(f"position {pos:#x} outside map of size {self.size:#x}")
        start = self._starts[self._index_of(pos)]
        end, st = self._info[start]
        return Block(start, end - start, st)

    def status_at(self, pos: int) -> Status:
        return self.block_at(pos).status

    def next_block(self, status: Status, pos: int) -> Block | None:
        """The first block of `status` holding a byte at or after `pos`, clipped to start at pos."""
        idx = self._by_status[status]
        i = idx.bisect_right(pos) - 1
        if i >= 0:
            start = idx[i]
            end, _ = self._info[start]
            if end > pos:
                return Block(pos, end - pos, status)
        i += 1
        if i < len(idx):
            start = idx[i]
            end, _ = self._info[start]
            return Block(start, end - start, status)
        return None

    def prev_block(self, status: Status, end: int) -> Block | None:
        """The last block of `status` holding a byte before `end`, clipped to finish at end."""
        idx = self._by_status[status]
        i = idx.bisect_left(end) - 1
        if i < 0:
            return None
        start = idx[i]
        b_end, _ = self._info[start]
        return Block(start, min(b_end, end) - start, status)

    def count(self, status: Status) -> int:
        """Number of separate blocks of `status`."""
        return len(self._by_status[status])

    def bytes_in(self, status: Status) -> int:
        return self._bytes[status]

    def bad_areas(self) -> int:
        """ddrescue's count of bad areas: blocks whose reads failed (non-trimmed, non-scraped, bad)."""
        return self.count(Status.NON_TRIMMED) + self.count(Status.NON_SCRAPED) + self.count(Status.BAD_SECTOR)

    def summary(self) -> Summary:
        return Summary(
            size=self.size,
            bytes=dict(self._bytes),
            areas={s: len(self._by_status[s]) for s in Status},
            fragments=len(self._starts),
        )

    # -- updates ----------------------------------------------------------------------------

    def set_status(self, pos: int, size: int, status: Status) -> None:
        """Mark [pos, pos+size) as `status`, merging with equal neighbours."""
        end = pos + size
        if size <= 0:
            return
        if pos < 0 or end > self.size:
            raise IndexError(f"block {pos:#x}+{size:#x} outside map of size {self.size:#x}")
        # Fast path: the range lies inside one block already of this status.
        start = self._starts[self._index_of(pos)]
        b_end, b_st = self._info[start]
        if b_st == status and b_end >= end:
            return
        self._split(pos)
        self._split(end)
        for start in list(self._starts.irange(pos, end, inclusive=(True, False))):
            self._remove(start)
        new_pos, new_end = pos, end
        if pos > 0:
            left = self._starts[self._index_of(pos - 1)]
            l_end, l_st = self._info[left]
            if l_st == status:
                self._remove(left)
                new_pos = left
        if end < self.size:
            r_end, r_st = self._info[end]
            if r_st == status:
                self._remove(end)
                new_end = r_end
        self._add(new_pos, new_end, status)

    def replace_status(self, old: Status, new: Status) -> None:
        """Turn every block of `old` into `new` (e.g. ddrescue's --try-again, --retrim)."""
        for start in list(self._by_status[old]):
            if start in self._info and self._info[start][1] == old:
                end, _ = self._info[start]
                self.set_status(start, end - start, new)

    def resize(self, size: int) -> None:
        """Extend with non-tried space, or cut unfinished space beyond a smaller size."""
        if size < 0:
            raise ValueError("size must be >= 0")
        if size == self.size:
            return
        if size > self.size:
            old = self.size
            self.size = size
            if old and self._info[self._starts[-1]][1] == Status.NON_TRIED:
                last = self._starts[-1]
                self._remove(last)
                self._add(last, size, Status.NON_TRIED)
            else:
                self._add(old, size, Status.NON_TRIED)
            return
        # Check before changing anything, so a refused shrink leaves the map intact.
        if self.next_block(Status.FINISHED, size) is not None:
            raise ValueError("resize would drop finished data")
        self._split(size)
        for start in list(self._starts.irange(size, None)):
            self._remove(start)
        self.size = size
        self.current_pos = min(self.current_pos, size)

    def copy(self) -> RescueMap:
        m = RescueMap.from_blocks(self.size, [(b.pos, b.end, b.status) for b in self])
        m.current_pos, m.phase, m.pass_ = self.current_pos, self.phase, self.pass_
        return m
