"""Every kind of damage to a zst image is one ImageCorrupt naming where: never zeros, never a zstd error."""

from __future__ import annotations

import os

import pytest

from station.images.errors import ImageCorrupt
from station.images.frames import CHUNK_HEADER_SIZE, FILE_HEADER_SIZE
from station.images.layout import INDEX_SUFFIX
from station.images.verify import verify_image
from station.images.zstreader import ZstImageReader
from station.images.zstsink import open_image_sink

CS = 4096
N = 8


@pytest.fixture
def sealed(tmp_path):
    path = str(tmp_path / "s.zst")
    sink = open_image_sink(path, N * CS, chunk_size=CS)
    sink.write_at(0, memoryview(os.urandom(N * CS)))
    sink.seal()
    return path


def _flip(path: str, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x40]))


def _chunk_offset(path: str, k: int) -> int:
    """Where chunk k's data frame starts in a sealed file written in order."""
    off = FILE_HEADER_SIZE
    with ZstImageReader(path) as r:
        assert r._table is not None
        return r._table.entry(2 + 2 * k)[0]
    return off


def test_a_flipped_byte_in_a_frame_names_its_chunk(sealed):
    at = _chunk_offset(sealed, 3) + 200
    _flip(sealed, at)
    with ZstImageReader(sealed) as r:
        assert r.read(0, 3 * CS)  # the chunks before it still read
        with pytest.raises(ImageCorrupt) as e:
            r.read(3 * CS + 10, 10)
        assert (e.value.chunk, e.value.start, e.value.end) == (3, 3 * CS, 4 * CS)
        assert isinstance(e.value, ValueError)
    res = verify_image(sealed)
    assert not res.ok and res.bad_ranges == [(3 * CS, 4 * CS)]


def test_a_flipped_checksum_is_caught_by_the_frame_or_the_seek_table(sealed):
    end = _chunk_offset(sealed, 5)
    with ZstImageReader(sealed) as r:
        frame_len = r._table.entry(2 + 2 * 5)[1]  # type: ignore[union-attr]
    _flip(sealed, end + frame_len - 1)
    with ZstImageReader(sealed) as r, pytest.raises(ImageCorrupt, match="chunk 5"):
        r.read(5 * CS, 1)


def test_a_truncated_file_is_named_at_open(sealed):
    size = os.path.getsize(sealed)
    os.truncate(sealed, size - 100)
    with pytest.raises(ImageCorrupt, match="cut short"):
        ZstImageReader(sealed)


def test_a_damaged_seek_table_is_named_at_open(sealed):
    size = os.path.getsize(sealed)
    _flip(sealed, size - 9 - 12 * 3 + 1)  # the compressed size of the third entry from the end
    with pytest.raises(ImageCorrupt, match="seek table"):
        ZstImageReader(sealed)


def test_a_damaged_seek_table_checksum_names_its_chunk(sealed):
    size = os.path.getsize(sealed)
    _flip(sealed, size - 9 - 12 * 3 - 2)  # the checksum of the last data frame's entry
    with ZstImageReader(sealed) as r, pytest.raises(ImageCorrupt, match=f"chunk {N - 1}"):
        r.read(0, N * CS)


def test_a_damaged_footer_is_named_at_open(sealed):
    _flip(sealed, os.path.getsize(sealed) - 1)
    with pytest.raises(ImageCorrupt, match="seek table"):
        ZstImageReader(sealed)


def test_a_damaged_file_header_is_named_at_open(sealed):
    _flip(sealed, 20)
    with pytest.raises(ImageCorrupt, match="file header"):
        ZstImageReader(sealed)


def test_damaged_metadata_is_named(sealed):
    with ZstImageReader(sealed) as r:
        off, clen, _, _ = r._table.entry(r._table.count - 1)  # type: ignore[union-attr]
    _flip(sealed, off + clen - 3)
    with ZstImageReader(sealed) as r, pytest.raises(ImageCorrupt, match="STMD"):
        r.metadata  # noqa: B018


def test_a_working_file_with_a_damaged_record_names_the_chunk(tmp_path):
    path = str(tmp_path / "w.zst")
    sink = open_image_sink(path, N * CS, chunk_size=CS)
    sink.write_at(0, memoryview(os.urandom(N * CS)))
    sink.close()
    with ZstImageReader(path) as r:
        off = r._layout.index.offsets[2]  # type: ignore[union-attr]
    _flip(path, off + CHUNK_HEADER_SIZE + 100)
    with ZstImageReader(path) as r:
        with pytest.raises(ImageCorrupt) as e:
            r.read(2 * CS, CS)
        assert e.value.chunk == 2
    _flip(path, off + 12)  # now its header too
    with ZstImageReader(path) as r, pytest.raises(ImageCorrupt, match="chunk record damaged"):
        r.read(2 * CS, CS)


def test_a_working_file_shorter_than_its_index_is_corrupt_not_silently_rebuilt(tmp_path):
    path = str(tmp_path / "w.zst")
    sink = open_image_sink(path, N * CS, chunk_size=CS)
    sink.write_at(0, memoryview(os.urandom(N * CS)))
    sink.close()
    assert os.path.exists(path + INDEX_SUFFIX)
    os.truncate(path, os.path.getsize(path) - 10)
    with pytest.raises(ImageCorrupt, match="synced up to"):
        ZstImageReader(path)
    with pytest.raises(ImageCorrupt, match="synced up to"):
        open_image_sink(path, N * CS)
