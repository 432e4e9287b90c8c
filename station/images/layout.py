"""Finding the chunks of a zst image: the index sidecar, the records themselves, the seek table.

Shared by the writer (which resumes from it) and the reader.  The working file is a log of
records (chunk header + zstd frame) after a file header; its index (chunk -> offset of its
latest record) is saved beside it at every sync and can always be rebuilt by walking the
records, since each header names its chunk and generation.
"""

from __future__ import annotations

import os
import struct
import zlib
from array import array
from dataclasses import dataclass, field

import zstandard

from station.core.safeopen import write_atomic
from station.images.frames import (
    CHUNK_ABSENT,
    CHUNK_COMPLETE,
    CHUNK_HEADER_SIZE,
    FILE_HEADER_SIZE,
    ChunkHeader,
    FileHeader,
    FormatError,
)

INDEX_SUFFIX = ".idx"
_IDX_MAGIC = b"STIDX001"
_IDX = struct.Struct("<8s16sQQQQBxxxxxxxQI")


def pread_exact(fd: int, size: int, pos: int) -> bytes:
    """`size` bytes at `pos`, fewer only at the end of the file."""
    out = os.pread(fd, size, pos)
    while len(out) < size:
        more = os.pread(fd, size - len(out), pos + len(out))
        if not more:
            break
        out += more
    return out


@dataclass
class ChunkIndex:
    """Where each chunk's current record is, and what the writer needs to know about it."""

    nchunks: int
    offsets: array = field(default_factory=lambda: array("Q"))  # 0: never written
    frame_lens: array = field(default_factory=lambda: array("I"))
    checksums: array = field(default_factory=lambda: array("I"))
    flags: bytearray = field(default_factory=bytearray)
    gens: array = field(default_factory=lambda: array("Q"))

    def __post_init__(self) -> None:
        if not self.offsets:
            n = self.nchunks
            self.offsets = array("Q", bytes(8 * n))
            self.frame_lens = array("I", bytes(4 * n))
            self.checksums = array("I", bytes(4 * n))
            self.flags = bytearray(n)
            self.gens = array("Q", bytes(8 * n))

    def set(self, off: int, h: ChunkHeader) -> None:
        k = h.chunk
        self.offsets[k] = off
        self.frame_lens[k] = h.frame_len
        self.checksums[k] = h.checksum
        self.flags[k] = h.flags
        self.gens[k] = h.gen

    def has_data(self, k: int) -> bool:
        """A frame holding written bytes (not a placeholder of zeros)."""
        return self.offsets[k] != 0 and not self.flags[k] & CHUNK_ABSENT

    def complete_bits(self) -> bytearray:
        return bytearray(1 if f & CHUNK_COMPLETE and not f & CHUNK_ABSENT else 0 for f in self.flags)

    def pack(self) -> bytes:
        return b"".join(
            [
                self.offsets.tobytes(),
                self.frame_lens.tobytes(),
                self.checksums.tobytes(),
                bytes(self.flags),
                self.gens.tobytes(),
            ]
        )

    @classmethod
    def unpack(cls, n: int, raw: bytes) -> ChunkIndex:
        if len(raw) != 25 * n:
            raise FormatError("index: wrong length")
        parts, pos = [], 0
        for code, width in (("Q", 8), ("I", 4), ("I", 4), ("B", 1), ("Q", 8)):
            a = array(code)
            a.frombytes(raw[pos : pos + width * n])
            parts.append(a)
            pos += width * n
        return cls(n, parts[0], parts[1], parts[2], bytearray(parts[3].tobytes()), parts[4])


@dataclass
class Layout:
    """What opening a zst image found."""

    header: FileHeader
    index: ChunkIndex
    end: int  # where the next record goes (the end of the last valid record)
    max_gen: int
    in_order: bool  # records are chunk 0, 1, 2, ... each once: sealing needs no copy
    records: int


def save_index(path: str, layout: Layout) -> None:
    """Replace PATH.idx atomically (temp file, fsync, rename, fsync of the directory)."""
    payload = zstandard.ZstdCompressor(level=1).compress(layout.index.pack())
    head = _IDX.pack(
        _IDX_MAGIC,
        layout.header.file_id,
        layout.end,
        layout.index.nchunks,
        layout.max_gen,
        layout.records,
        1 if layout.in_order else 0,
        len(payload),
        zlib.crc32(payload),
    )
    final = path + INDEX_SUFFIX
    write_atomic(final, head + payload)


def fsync_dir(path: str) -> None:
    dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def load_index(path: str, header: FileHeader, file_size: int) -> Layout | None:
    """The saved index if it belongs to this file and still fits it; None to rebuild."""
    try:
        with open(path + INDEX_SUFFIX, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if len(raw) < _IDX.size:
        return None
    magic, fid, end, n, max_gen, records, in_order, plen, crc = _IDX.unpack_from(raw)
    payload = raw[_IDX.size :]
    if magic != _IDX_MAGIC or fid != header.file_id or len(payload) != plen or zlib.crc32(payload) != crc:
        return None
    if n != -(-header.image_size // header.chunk_size):
        return None
    try:
        index = ChunkIndex.unpack(n, zstandard.ZstdDecompressor().decompress(payload))
    except (zstandard.ZstdError, FormatError):
        return None
    if end > file_size:
        raise FormatError(f"the file ends at {file_size} but its index says data was synced up to {end}")
    return Layout(header, index, end, max_gen, bool(in_order), records)


def scan_records(fd: int, layout: Layout, file_size: int, *, verify: bool) -> None:
    """Walk the records from layout.end, adding them to the index, up to the first that is not whole.

    `verify` decompresses each frame (a torn or half-written one fails its checksum).
    """
    dctx = zstandard.ZstdDecompressor() if verify else None
    algos = layout.header.algorithms
    idx = layout.index
    off = layout.end
    while off + CHUNK_HEADER_SIZE <= file_size:
        try:
            h = ChunkHeader.unpack(pread_exact(fd, CHUNK_HEADER_SIZE, off), algos)
        except FormatError:
            break
        if h.chunk >= idx.nchunks or off + CHUNK_HEADER_SIZE + h.frame_len > file_size:
            break
        if dctx is not None:
            frame = pread_exact(fd, h.frame_len, off + CHUNK_HEADER_SIZE)
            try:
                if len(dctx.decompress(frame, max_output_size=h.raw_len)) != h.raw_len:
                    break
            except zstandard.ZstdError:
                break
        if h.gen >= idx.gens[h.chunk]:
            idx.set(off, h)
        layout.in_order = layout.in_order and h.chunk == layout.records
        layout.records += 1
        layout.max_gen = max(layout.max_gen, h.gen)
        off += CHUNK_HEADER_SIZE + h.frame_len
    layout.end = off


def read_file_header(fd: int) -> FileHeader:
    return FileHeader.unpack(pread_exact(fd, FILE_HEADER_SIZE, 0))


def open_layout(fd: int, path: str, *, verify_tail: bool = True) -> Layout:
    """The chunk index of a working or sealed file: saved index + the records after it, or a full walk.

    A sealed file's walk stops at its tail (segments, mapfile, metadata, seek table), so
    `end` is where a reopened sealed file takes new records.
    """
    header = read_file_header(fd)
    size = os.fstat(fd).st_size
    layout = None if header.sealed else load_index(path, header, size)
    if layout is None:
        n = -(-header.image_size // header.chunk_size)
        layout = Layout(header, ChunkIndex(n), FILE_HEADER_SIZE, 0, True, 0)
        scan_records(fd, layout, size, verify=verify_tail and not header.sealed)
    else:
        scan_records(fd, layout, size, verify=verify_tail)
    return layout
