"""What a restore writes and hashes: pieces, fills, the verified domain, digests at each target's end."""

from __future__ import annotations

import hashlib
import random

from station.images.reader import RawImageReader
from station.jobs.restore_stream import (
    PIECE,
    DomainHasher,
    Stream,
    marker_bytes,
    marker_sector,
    merge_domain,
    segments,
)
from station.media.fanwrite import Piece, Ring
from station.rescue.rescuemap import RescueMap, Status


def test_markers_name_their_sector_and_cut_to_the_range() -> None:
    s = marker_sector(1234)
    assert len(s) == 512 and s.startswith(b"STATION-NOT-RESCUED sector 00000000001234\n")
    assert marker_bytes(1234 * 512, 1235 * 512) == s
    assert marker_bytes(1234 * 512 + 100, 1236 * 512 - 7) == (s + marker_sector(1235))[100:-7]


def test_used_ranges_close_together_are_written_as_one() -> None:
    assert merge_domain([(0, 10), (100, 200), (5 << 20, 6 << 20), (13 << 19, 9 << 20)], 8 << 20) == [
        (0, 200), (5 << 20, 8 << 20),
    ]  # fmt: skip


def test_segments_leave_the_holes_out_with_skip_and_stop_at_the_target_end() -> None:
    p = Piece(0, 1000, None, ((100, 200), (900, 1000)), skip_holes=True)
    assert segments(p, 2000) == [(0, 100), (200, 900)]
    assert segments(p, 150) == [(0, 100)]
    assert segments(Piece(0, 1000), 600) == [(0, 600)]


def _image(tmp_path, size: int, hole: int = 4 * PIECE + 512) -> tuple[str, RescueMap, bytes]:
    data = bytearray(random.Random(3).randbytes(size))
    data[PIECE : 3 * PIECE] = bytes(2 * PIECE)  # zeros: no buffer, one piece
    path = tmp_path / "img"
    path.write_bytes(data)
    m = RescueMap(size, Status.FINISHED)
    m.set_status(hole, 2048, Status.BAD_SECTOR)
    view = bytearray(data)
    view[hole : hole + 2048] = bytes(2048)
    return str(path), m, bytes(view)


def test_the_stream_and_its_hash_over_the_domain_with_cuts(tmp_path) -> None:
    size = 6 * PIECE + 1000
    path, m, view = _image(tmp_path, size)
    ring = Ring(4, PIECE)
    reader = RawImageReader(path, m)
    stream = Stream(
        [reader, RawImageReader(path, m)], size, [(0, size)], "marker", lambda: ring.take(5), ring.give
    )
    cut = 2 * PIECE + 77
    h = DomainHasher("sha256", [cut, size])
    pieces = []
    for p in stream.pieces():
        h.consume(p)
        pieces.append((p.pos, p.size, p.slot is not None))
        if p.slot is not None:
            data = bytes(p.slot.buf[: p.size])
            for a, b in p.holes:
                assert data[a - p.pos : b - p.pos] == marker_bytes(a, b)
            ring.give(p.slot)
    stream.close()
    h.finish(size)
    assert pieces[1] == (PIECE, 2 * PIECE, False), "two pieces of zeros handed out as one"
    assert sum(s for _, s, _ in pieces) == size
    assert h.digests[size] == hashlib.sha256(view).hexdigest(), "holes hashed as zeros whatever the fill"
    assert h.digests[cut] == hashlib.sha256(view[:cut]).hexdigest()


def test_the_hash_covers_only_the_used_domain(tmp_path) -> None:
    size = 3 * PIECE
    path, m, view = _image(tmp_path, size, hole=500)
    ring = Ring(4, PIECE)
    domain = [(0, 1000), (2 * PIECE, 2 * PIECE + 5000)]
    stream = Stream([RawImageReader(path, m)], size, domain, "zero", lambda: ring.take(5), ring.give)
    h = DomainHasher("sha256", [size])
    for p in stream.pieces():
        h.consume(p)
        if p.slot is not None:
            ring.give(p.slot)
    stream.close()
    h.finish(size)
    assert h.digests[size] == hashlib.sha256(b"".join(view[a:b] for a, b in domain)).hexdigest()
