"""What a restore writes: the image cut into pieces, areas never read filled, the hash of it all.

The image is read once, in order, through its reader (unrescued bytes come back as zeros).
Each piece is zeros (no buffer: a target punches a hole or writes zeroes its own way), or the
image's bytes in a slot of the ring.  Areas the rescue never read ("holes") become what
`--fill` says: zeros, the target's own bytes (skip: they are not written), or a marker, a line of
text naming the sector, repeated over each unread 512-byte sector, so that a file a bad sector
hit is found on the restored drive by `grep -c STATION-NOT-RESCUED` (ddrescue's fill mode).

What a target is checked against is the image as its reader gives it (holes as zeros) over the
*verified domain*: the whole image, or with --used-only its used blocks.  `DomainHasher` is that
hash, computed from the same pieces by a lane of its own (with digests at every target's end, for
targets smaller than the image).  A sealed zst image records it already: then nothing is hashed
while writing.
"""

from __future__ import annotations

import hashlib
import queue
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from station.images.reader import ImageReader, read_into
from station.media.fanwrite import Piece, Slot

Range = tuple[int, int]
PIECE = 4 << 20  # bytes per piece (a multiple of every sector size)
RING_SLOTS = 16  # pieces in flight: the memory a restore uses for data, whatever the number of targets
ZERO_RUN = 256 << 20  # zeros handed over as one piece at most
GAP = 1 << 20  # --used-only: free gaps shorter than this are written with the rest (fewer, larger writes)
MARKER_SECTOR = 512
FILLS = ("zero", "skip", "marker")


def marker_sector(n: int) -> bytes:
    """The marker of 512-byte sector n: one line naming it, repeated over the sector."""
    line = f"STATION-NOT-RESCUED sector {n:014d}\n".encode()
    return (line * (MARKER_SECTOR // len(line) + 1))[:MARKER_SECTOR]


def marker_bytes(lo: int, hi: int) -> bytes:
    """What --fill marker puts at [lo, hi): each sector's marker, cut to the range."""
    first, last = lo // MARKER_SECTOR, -(-hi // MARKER_SECTOR)
    text = b"".join(marker_sector(n) for n in range(first, last))
    return text[lo - first * MARKER_SECTOR : hi - first * MARKER_SECTOR]


def merge_domain(ranges: list[Range], size: int, gap: int = GAP) -> list[Range]:
    """Sorted ranges inside [0, size), those closer than `gap` joined (as the restore writes them)."""
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        lo, hi = max(lo, 0), min(hi, size)
        if hi <= lo:
            continue
        if out and lo - out[-1][1] < gap:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def runs(domain: list[Range], size: int) -> Iterator[tuple[int, int, bool]]:
    """[0, size) as (lo, hi, inside the domain), in order."""
    pos = 0
    for lo, hi in domain:
        if lo > pos:
            yield pos, lo, False
        yield lo, hi, True
        pos = hi
    if pos < size:
        yield pos, size, False


class Stream:
    """The pieces of one restore, in order.

    `take` blocks for a free slot of the ring (`give` hands one back).  Pieces are read ahead by
    one thread per reader (zstd frames decompress outside the GIL, so a second reader of the same
    image keeps a second core busy while the first writes), and handed out in order.
    """

    def __init__(
        self,
        readers: list[ImageReader],
        size: int,
        domain: list[Range],
        fill: str,
        take: Callable[[], Slot],
        give: Callable[[Slot], None],
    ) -> None:
        self.reader, self.size, self.domain, self.fill = readers[0], size, domain, fill
        self.take, self.give = take, give
        self._zeros = bytes(PIECE)
        self._free: queue.SimpleQueue[ImageReader] = queue.SimpleQueue()
        for r in readers:
            self._free.put(r)
        self._ahead = 2 * len(readers)
        self._pool = ThreadPoolExecutor(len(readers), thread_name_prefix="image read")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def pieces(self) -> Iterator[Piece]:
        """Every piece in order; zeros that follow each other are handed out as one."""
        pending: Piece | None = None  # zeros, grown while more zeros follow
        for piece in self._ordered():
            if pending is not None and _joins(pending, piece):
                pending.size += piece.size
                continue
            if pending is not None:
                yield pending
                pending = None
            if piece.slot is None and not piece.holes:
                pending = piece
            else:
                yield piece
        if pending is not None:
            yield pending

    def _ordered(self) -> Iterator[Piece]:
        window: deque[Piece | Future[Piece]] = deque()
        for lo, hi, inside in runs(self.domain, self.size):
            for item in self._run(lo, hi) if inside else _zeros(lo, hi, verified=False):
                window.append(item)
                while len(window) > self._ahead or (window and _ready(window[0])):
                    yield _piece_of(window.popleft())
        while window:
            yield _piece_of(window.popleft())

    def _run(self, lo: int, hi: int) -> Iterator[Piece | Future[Piece]]:
        pos = lo
        while pos < hi:
            n = min(hi, (pos // PIECE + 1) * PIECE) - pos
            yield self._piece(pos, n)
            pos += n

    def _piece(self, pos: int, n: int) -> Piece | Future[Piece]:
        holes = tuple(self.reader.unrescued(pos, n))
        skip = self.fill == "skip"
        if self.fill == "zero":
            holes = ()  # zeros are zeros: the reader gives them, nothing to tell apart
        elif holes == ((pos, pos + n),) and skip:
            return Piece(pos, n, None, holes, skip_holes=True)
        slot = self.take()
        return self._pool.submit(self._fill, slot, pos, n, holes)

    def _fill(self, slot: Slot, pos: int, n: int, holes: tuple[Range, ...]) -> Piece:
        """The piece's bytes into its slot (in a reader's thread); zeros give the slot back."""
        skip = self.fill == "skip"
        reader = self._free.get()
        try:
            read_into(reader, pos, memoryview(slot.buf)[:n])
        finally:
            self._free.put(reader)
        if (not holes or skip) and slot.buf[:n] == (self._zeros if n == PIECE else bytes(n)):
            self.give(slot)  # zeros need no buffer: the targets make them their own way
            return Piece(pos, n, None, holes, skip_holes=skip)
        if self.fill == "marker":
            for a, b in holes:
                slot.buf[a - pos : b - pos] = marker_bytes(a, b)
        return Piece(pos, n, slot, holes, skip_holes=skip)


def _ready(item: Piece | Future[Piece]) -> bool:
    return not isinstance(item, Future) or item.done()


def _piece_of(item: Piece | Future[Piece]) -> Piece:
    return item.result() if isinstance(item, Future) else item


def _zeros(lo: int, hi: int, *, verified: bool) -> Iterator[Piece]:
    for pos in range(lo, hi, ZERO_RUN):
        yield Piece(pos, min(ZERO_RUN, hi - pos), None, verified=verified)


def _joins(pending: Piece, piece: Piece) -> bool:
    return (
        piece.slot is None
        and not piece.holes
        and piece.pos == pending.end
        and piece.verified == pending.verified
        and pending.size + piece.size <= ZERO_RUN
    )


def segments(piece: Piece, end: int) -> list[Range]:
    """The parts of a piece a target of `end` bytes gets written (holes left out with --fill skip)."""
    hi = min(piece.end, end)
    if piece.pos >= hi:
        return []
    if not piece.skip_holes:
        return [(piece.pos, hi)]
    out, pos = [], piece.pos
    for a, b in piece.holes:
        if a > pos:
            out.append((pos, min(a, hi)))
        pos = max(pos, b)
    if pos < hi:
        out.append((pos, hi))
    return [(a, b) for a, b in out if b > a]


class DomainHasher:
    """The image's hash over the verified domain, fed piece by piece; a digest at each `cuts` offset.

    Holes count as zeros (as the image's reader gives them), whatever the fill put on the targets.
    """

    def __init__(self, algorithm: str, cuts: list[int]) -> None:
        self.algorithm = algorithm
        self._h = hashlib.new(algorithm)
        self._cuts = sorted(set(cuts))
        self.digests: dict[int, str] = {}  # cut -> hex digest of the domain below it
        self._zeros = memoryview(bytes(PIECE))

    def consume(self, piece: Piece) -> None:
        if not piece.verified:
            self._cut_to(piece.end)
            return
        if piece.slot is None:
            self._feed(piece.pos, piece.end, None)
            return
        view = memoryview(piece.slot.buf)
        pos = piece.pos
        for a, b in piece.holes:
            self._feed(pos, a, view[pos - piece.pos : a - piece.pos])
            self._feed(a, b, None)
            pos = b
        self._feed(pos, piece.end, view[pos - piece.pos : piece.size])

    def _feed(self, lo: int, hi: int, data: memoryview | None) -> None:
        """Hash [lo, hi) (zeros when data is None), taking a digest at every cut crossed."""
        while lo < hi:
            stop = hi
            if self._cuts and self._cuts[0] < hi:
                stop = max(self._cuts[0], lo)
            while lo < stop:
                n = min(stop - lo, len(self._zeros))
                self._h.update(self._zeros[:n] if data is None else data[:n])
                if data is not None:
                    data = data[n:]
                lo += n
            self._cut_to(stop)

    def _cut_to(self, pos: int) -> None:
        while self._cuts and self._cuts[0] <= pos:
            self.digests[self._cuts.pop(0)] = self._h.copy().hexdigest()

    def finish(self, end: int) -> None:
        """Digests for every cut still open (the domain ended before them)."""
        self._cut_to(max([end, *self._cuts]) if self._cuts else end)
