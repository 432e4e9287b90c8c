"""The zst working file: any writes in any order read back as a bytearray model says; sealing."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station.images.formats import image_format, open_image
from station.images.frames import CHUNK_HEADER_SIZE, FILE_HEADER_SIZE
from station.images.layout import INDEX_SUFFIX
from station.images.reader import ImageReader
from station.images.zstreader import ZstImageReader
from station.images.zstsink import open_image_sink
from station.media.base import Refused, Sink, SourceIdentity
from station.rescue.rescuemap import RescueMap, Status

CS = 4096  # small chunks keep the examples quick and cross many chunk edges


def _read_all(path: str, m: RescueMap | None = None) -> bytes:
    with ZstImageReader(path, m) as r:
        return r.read(0, r.size)


writes = st.lists(
    st.tuples(st.integers(0, 40 * CS - 1), st.integers(1, 3 * CS), st.integers(0, 255), st.booleans()),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=writes, reopen_at=st.integers(0, 25))
def test_out_of_order_writes_read_back_as_the_model(tmp_path_factory, ops, reopen_at):
    path = str(tmp_path_factory.mktemp("z") / "x.zst")
    size = 40 * CS - 123
    model = bytearray(size)
    sink = open_image_sink(path, size, chunk_size=CS, memory=4 * CS)
    for i, (pos, n, byte, sync) in enumerate(ops):
        pos = min(pos, size - 1)
        n = min(n, size - pos)
        data = bytes([byte, (byte * 7) & 255]) * (n // 2) + bytes([byte]) * (n % 2)
        sink.write_at(pos, memoryview(data))
        model[pos : pos + n] = data
        if sync:
            sink.sync()
        if i == reopen_at:
            sink.close()
            sink = open_image_sink(path, size, chunk_size=CS, memory=4 * CS)
    sink.sync()
    assert _read_all(path) == model  # the working file, through its index
    os.unlink(path + INDEX_SUFFIX)
    assert _read_all(path) == model  # the index rebuilt from the records
    res = sink.seal()
    assert res.hashes["sha256"] == hashlib.sha256(model).hexdigest()
    assert _read_all(path) == model
    assert not os.path.exists(path + INDEX_SUFFIX)


def test_sink_protocol_and_sequential_writes_seal_in_place(tmp_path):
    path = str(tmp_path / "seq.zst")
    size = 10 * CS + 100
    data = os.urandom(size)
    ident = SourceIdentity(path="/dev/sdz", kind="block", size=size, model="M", serial="S1")
    sink = open_image_sink(path, size, ident, chunk_size=CS, algorithms=("md5", "sha256"))
    assert isinstance(sink, Sink)
    for pos in range(0, size, 1000):  # pieces that do not line up with chunks
        sink.write_at(pos, memoryview(data)[pos : pos + 1000])
    res = sink.seal()
    assert res.in_place
    assert res.hashes == {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
    with ZstImageReader(path) as r:
        assert isinstance(r, ImageReader)
        assert r.read(0, size) == data
        assert r.metadata["source"]["serial"] == "S1"
        assert r.metadata["hashes"] == res.hashes
        segs = r.segment_digests()
        assert segs["sha256"][3] == hashlib.sha256(data[3 * CS : 4 * CS]).digest()
        assert r.rescue_map is None


def test_unwritten_chunks_read_as_zeros_and_cost_a_few_bytes(tmp_path):
    path = str(tmp_path / "sparse.zst")
    size = 1000 * CS
    sink = open_image_sink(path, size, chunk_size=CS)
    sink.write_at(500 * CS, memoryview(b"\xaa" * CS))
    res = sink.seal()
    assert not res.in_place
    assert res.file_size < 200 * 1000  # under 200 bytes per unread chunk, headers included
    with ZstImageReader(path) as r:
        assert r.read(500 * CS - 2, 4) == b"\0\0\xaa\xaa"
        assert r.read(0, CS) == bytes(CS)


def test_map_zeroes_unfinished_bytes_and_is_embedded(tmp_path):
    path = str(tmp_path / "m.zst")
    size = 8 * CS
    data = bytes(range(256)) * (size // 256)
    m = RescueMap(size, Status.FINISHED)
    m.set_status(CS + 100, 3 * CS, Status.BAD_SECTOR)
    sink = open_image_sink(path, size, chunk_size=CS)
    sink.write_at(0, memoryview(data))  # a crash left data the map does not call finished
    res = sink.seal(m)
    expect = bytearray(data)
    expect[CS + 100 : 4 * CS + 100] = bytes(3 * CS)
    assert res.zeroed_chunks == 4
    assert res.hashes["sha256"] == hashlib.sha256(expect).hexdigest()
    with open_image(path) as r:
        assert r.rescue_map is not None and r.rescue_map.summary().rescued == size - 3 * CS
        assert r.unrescued(0, size) == [(CS + 100, 4 * CS + 100)]
        assert r.read(0, size) == expect
        assert r.metadata["unrescued_bytes"] == 3 * CS


def test_sealed_image_reopens_to_retry_and_seals_again(tmp_path):
    path = str(tmp_path / "r.zst")
    size = 6 * CS
    sink = open_image_sink(path, size, chunk_size=CS)
    sink.write_at(0, memoryview(b"\x01" * (2 * CS)))
    first = sink.seal()
    assert image_format(path) == "zst"
    sink = open_image_sink(path, size)  # one writer: the job's writer lock (station.media.locks)
    sink.write_at(4 * CS + 512, memoryview(b"\x02" * 512))
    second = sink.seal()
    model = bytearray(size)
    model[: 2 * CS] = b"\x01" * (2 * CS)
    model[4 * CS + 512 : 4 * CS + 1024] = b"\x02" * 512
    assert second.hashes["sha256"] == hashlib.sha256(model).hexdigest() != first.hashes["sha256"]
    assert _read_all(path) == model


def test_wrong_size_is_refused(tmp_path):
    path = str(tmp_path / "s.zst")
    open_image_sink(path, 4 * CS, chunk_size=CS).close()
    with pytest.raises(Refused, match="not the source's"):
        open_image_sink(path, 5 * CS)


def test_writes_outside_the_image_are_refused(tmp_path):
    sink = open_image_sink(str(tmp_path / "o.zst"), 4 * CS, chunk_size=CS)
    with pytest.raises(ValueError):
        sink.write_at(4 * CS - 1, memoryview(b"ab"))
    sink.close()


def test_a_torn_tail_is_cut_off_on_reopen(tmp_path):
    path = str(tmp_path / "t.zst")
    size = 4 * CS
    sink = open_image_sink(path, size, chunk_size=CS)
    sink.write_at(0, memoryview(os.urandom(CS)))
    sink.sync()
    synced = os.path.getsize(path)
    sink.close()
    with open(path, "ab") as f:  # half a record, as a crash in the middle of an append leaves it
        f.write(b"\x53\x2a\x4d\x18" + bytes(CHUNK_HEADER_SIZE // 2))
    sink = open_image_sink(path, size)
    assert os.path.getsize(path) == synced
    assert sink.layout.end == synced > FILE_HEADER_SIZE
    sink.close()


def test_hashes_when_the_frontier_must_catch_up_from_the_file(tmp_path):
    """Chunks written backwards: none is at the frontier when written, all are hashed at the end."""
    path = str(tmp_path / "b.zst")
    size = 300 * CS
    data = os.urandom(size)
    sink = open_image_sink(path, size, chunk_size=CS, memory=4 * CS)
    for k in reversed(range(300)):
        sink.write_at(k * CS, memoryview(data)[k * CS : (k + 1) * CS])
    assert sink.seal().hashes["sha256"] == hashlib.sha256(data).hexdigest()


def test_the_saved_index_is_used_on_reopen(tmp_path):
    from station.images.layout import load_index, read_file_header

    path = str(tmp_path / "i.zst")
    sink = open_image_sink(path, 4 * CS, chunk_size=CS)
    sink.write_at(CS, memoryview(os.urandom(CS)))
    sink.sync()
    fd = os.open(path, os.O_RDONLY)
    try:
        lay = load_index(path, read_file_header(fd), os.path.getsize(path))
    finally:
        os.close(fd)
    sink.close()
    assert lay is not None and lay.index.has_data(1) and not lay.index.has_data(0)


def test_in_order_writes_are_hashed_as_written_never_read_back(tmp_path):
    """Writes that straddle chunks (as the engine's do) complete the chunks in order: the hasher
    takes each as it is appended, and sealing reads nothing back (a race once made it rehash)."""
    path = str(tmp_path / "o.zst")
    size = 400 * CS
    data = os.urandom(size)
    sink = open_image_sink(path, size, chunk_size=CS)
    loads = []
    load = sink._load_for_hasher
    sink._hasher._load = lambda k: loads.append(k) or load(k)
    step = CS + CS // 2  # every write ends in the middle of a chunk
    for pos in range(0, size, step):
        sink.write_at(pos, memoryview(data)[pos : pos + step])
    assert sink.seal().hashes["sha256"] == hashlib.sha256(data).hexdigest()
    assert loads == []


def test_no_hashes_at_all(tmp_path):
    path = str(tmp_path / "n.zst")
    sink = open_image_sink(path, 3 * CS, chunk_size=CS, algorithms=())
    sink.write_at(0, memoryview(os.urandom(3 * CS)))
    r = sink.seal()
    assert r.hashes == {}
    with ZstImageReader(path) as z:
        assert z.metadata["hashes"] == {} and z.header.algorithms == ()
