"""verify: recorded hashes and segments; against the source; raw images; conversion both ways."""

from __future__ import annotations

import hashlib
import os

import pytest

from station.images.convert import raw_to_zst, zst_to_raw
from station.images.hashing import hash_raw_image
from station.images.reader import RawImageReader
from station.images.verify import record_raw_hashes, verify_against_source, verify_image
from station.images.zstsink import open_image_sink
from station.media.base import Refused, SourceIdentity
from station.rescue.mapfile import read_mapfile, write_mapfile
from station.rescue.rescuemap import RescueMap, Status

CS = 4096


class FileSource:
    """The smallest Source: a file read with pread (the engine's LocalSource is not ours to import)."""

    def __init__(self, path: str, bad: tuple[int, int] | None = None) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)
        self.identity = SourceIdentity(path=path, kind="file", size=os.path.getsize(path))
        self.bad = bad

    @property
    def size(self) -> int:
        return self.identity.size

    sector_size = 512
    alignment = 1

    def read_into(self, pos: int, buf: memoryview) -> int:
        if self.bad and pos < self.bad[1] and pos + len(buf) > self.bad[0]:
            raise OSError(5, "Input/output error")
        return os.preadv(self._fd, [buf], pos)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        os.close(self._fd)


@pytest.fixture
def raw(tmp_path):
    size = 20 * CS
    data = bytearray(os.urandom(size))
    p = tmp_path / "d.img"
    p.write_bytes(data)
    m = RescueMap(size, Status.FINISHED)
    m.set_status(5 * CS, 2 * CS, Status.BAD_SECTOR)
    write_mapfile(str(p) + ".map", m)
    data[5 * CS : 7 * CS] = bytes(2 * CS)
    return str(p), bytes(data), m


def test_sealed_image_verifies_and_a_changed_chunk_is_named(tmp_path):
    path = str(tmp_path / "v.zst")
    data = os.urandom(10 * CS)
    sink = open_image_sink(path, len(data), chunk_size=CS)
    sink.write_at(0, memoryview(data))
    sink.seal()
    res = verify_image(path)
    assert res.ok and res.actual == res.expected
    sink = open_image_sink(path, len(data))  # reopened, changed, sealed again: the new content is recorded
    sink.write_at(4 * CS + 10, memoryview(b"XX"))
    sink.seal()
    assert verify_image(path).ok


def test_working_image_cannot_be_verified(tmp_path):
    path = str(tmp_path / "w.zst")
    open_image_sink(path, 4 * CS, chunk_size=CS).close()
    with pytest.raises(ValueError, match="not sealed"):
        verify_image(path)


def test_raw_image_hashes_and_verify(raw):
    path, expect, m = raw
    h = hash_raw_image(path, m, ("sha256", "md5"), segment_size=CS)
    assert h.whole == {"sha256": hashlib.sha256(expect).hexdigest(), "md5": hashlib.md5(expect).hexdigest()}
    record_raw_hashes(path, h)
    assert verify_image(path).ok
    with open(path, "r+b") as f:
        f.seek(12 * CS + 5)
        f.write(bytes([expect[12 * CS + 5] ^ 0xFF]))
    res = verify_image(path)
    assert not res.ok and res.bad_ranges == [(12 * CS, 13 * CS)]


def test_against_source_names_differences_and_unreadable_areas(raw, tmp_path):
    path, expect, m = raw
    src_path = str(tmp_path / "drive")
    with open(src_path, "wb") as f, open(path, "rb") as g:
        f.write(g.read())
    with open(path, "r+b") as f:
        f.seek(15 * CS + 100)
        f.write(bytes([expect[15 * CS + 100] ^ 0xFF]))  # a changed byte, whatever it was
    src = FileSource(src_path, bad=(18 * CS, 18 * CS + 512))
    seen = []
    with RawImageReader(path, m) as r:
        res = verify_against_source(
            r, src, progress=lambda d, t: seen.append((d, t)), step=CS, compare_unit=512
        )
    src.close()
    assert not res.ok
    assert res.bad_ranges == [(15 * CS, 15 * CS + 512)]
    assert res.unreadable_ranges == [(18 * CS, 19 * CS)]
    assert seen[-1] == (18 * CS, 18 * CS)  # the finished bytes only


def test_raw_to_zst_and_back(raw, tmp_path):
    path, expect, m = raw
    out = str(tmp_path / "c.zst")
    res = raw_to_zst(path, out, chunk_size=CS)
    assert res.hashes["sha256"] == hashlib.sha256(expect).hexdigest()
    assert verify_image(out).ok
    with pytest.raises(Refused, match="exists"):
        raw_to_zst(path, out)
    back = str(tmp_path / "back.img")
    assert zst_to_raw(out, back) == back + ".map"
    with open(back, "rb") as f:
        assert f.read() == expect
    assert read_mapfile(back + ".map").summary().rescued == m.summary().rescued
