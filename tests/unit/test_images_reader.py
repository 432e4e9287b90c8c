"""The raw image reader: finished bytes as on disk, everything else zeros and named."""

import os

import pytest

from station.images.reader import ImageReader, RawImageReader
from station.rescue.rescuemap import RescueMap, Status


@pytest.fixture
def image(tmp_path):
    p = tmp_path / "x.img"
    p.write_bytes(bytes(range(256)) * 64)  # 16 KiB, no zero runs
    return p


def test_no_map_reads_the_file_and_nothing_is_unrescued(image):
    with RawImageReader(str(image)) as r:
        assert isinstance(r, ImageReader)
        assert r.size == 16384
        assert r.read(250, 10) == bytes([250, 251, 252, 253, 254, 255, 0, 1, 2, 3])
        assert r.unrescued(0, r.size) == []
        assert r.read(16380, 100) == bytes([252, 253, 254, 255])  # short only at the end
        assert r.read(20000, 10) == b""


def test_unrescued_bytes_read_as_zeros_and_are_named(image):
    m = RescueMap(16384, Status.FINISHED)
    m.set_status(1000, 24, Status.BAD_SECTOR)
    m.set_status(1024, 1000, Status.NON_TRIED)
    m.set_status(4096, 512, Status.NON_SCRAPED)
    with RawImageReader(str(image), m) as r:
        data = r.read(990, 40)
        assert data[:10] == bytes(range(222, 232))
        assert data[10:] == bytes(30)
        assert r.unrescued(990, 40) == [(1000, 1030)]
        assert r.unrescued(0, r.size) == [(1000, 2024), (4096, 4608)]
        assert r.unrescued(2024, 2072) == []


def test_a_map_longer_than_the_file_reads_zeros_past_its_end(tmp_path):
    p = tmp_path / "short.img"
    p.write_bytes(b"\xff" * 100)
    m = RescueMap(300, Status.FINISHED)
    with RawImageReader(str(p), m) as r:
        assert r.size == 300
        assert r.read(90, 20) == b"\xff" * 10 + bytes(10)
    os.unlink(p)
