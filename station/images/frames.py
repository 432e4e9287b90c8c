"""The bytes of a Station zst image: our skippable frames and the zstd seekable seek table.

Everything here is pure packing and unpacking, no I/O, so the layout (docs/formats/zst.md) is
in one place and each piece is tested on its own.  Every frame Station adds is a zstd
*skippable* frame, so `zstd -d` ignores them and yields the raw image.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SKIPPABLE_MAGIC = 0x184D2A53  # our frames (any of 0x184D2A50..5F is skippable)
SEEK_TABLE_MAGIC = 0x184D2A5E  # the seekable format's seek table frame
SEEKABLE_FOOTER_MAGIC = 0x8F92EAB1
ZSTD_FRAME_MAGIC = 0xFD2FB528
XXH64_EMPTY_LOW32 = 0x51D8E999  # low 32 bits of XXH64(b""): checksum of a frame with no content

SKIP_HEAD = struct.Struct("<II")  # magic, payload size

TAG_FILE = b"STWF"  # file header, the first frame
TAG_CHUNK = b"STCH"  # chunk header, right before the chunk's data frame
TAG_SEGMENTS = b"STSG"  # per-chunk digests of the sealed image
TAG_MAPFILE = b"STMF"  # the rescue's mapfile text
TAG_META = b"STMD"  # the JSON metadata record

ALGORITHMS = ("sha256", "md5")  # what a chunk header has room for, in this order
DIGEST_SIZE = {"sha256": 32, "md5": 16}

FLAG_SEALED = 1  # file header: the file ends with a seek table

CHUNK_COMPLETE = 1  # every byte of the chunk was written while it was in memory
CHUNK_ABSENT = 2  # a placeholder frame of zeros for a chunk never written (sealed files only)


class FormatError(ValueError):
    """Bytes that are not what the layout says (a bad CRC, magic or size)."""


def skippable(payload: bytes) -> bytes:
    """One skippable frame around `payload`."""
    return SKIP_HEAD.pack(SKIPPABLE_MAGIC, len(payload)) + payload


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _check_crc(payload: bytes, what: str) -> bytes:
    body, (crc,) = payload[:-4], struct.unpack_from("<I", payload, len(payload) - 4)
    if zlib.crc32(body) != crc:
        raise FormatError(f"{what}: CRC mismatch")
    return body


# -- file header ---------------------------------------------------------------------------

_FILE = struct.Struct("<4sHHIQ16sBxxxQ12x")  # + crc32 -> 64 bytes of payload
FILE_HEADER_SIZE = SKIP_HEAD.size + _FILE.size + 4
VERSION = 1


@dataclass(frozen=True)
class FileHeader:
    chunk_size: int
    image_size: int
    file_id: bytes
    algorithms: tuple[str, ...]
    flags: int = 0
    sealed_size: int = 0  # the whole file's size when sealed: a shorter file was truncated

    @property
    def sealed(self) -> bool:
        return bool(self.flags & FLAG_SEALED)

    def pack(self) -> bytes:
        mask = sum(1 << ALGORITHMS.index(a) for a in self.algorithms)
        body = _FILE.pack(
            TAG_FILE,
            VERSION,
            self.flags,
            self.chunk_size,
            self.image_size,
            self.file_id,
            mask,
            self.sealed_size,
        )
        return skippable(_with_crc(body))

    @classmethod
    def unpack(cls, raw: bytes) -> FileHeader:
        if len(raw) < FILE_HEADER_SIZE:
            raise FormatError("file header: too short")
        magic, size = SKIP_HEAD.unpack_from(raw)
        if magic != SKIPPABLE_MAGIC or size != FILE_HEADER_SIZE - SKIP_HEAD.size:
            raise FormatError("not a Station zst image (no file header)")
        body = _check_crc(raw[SKIP_HEAD.size : FILE_HEADER_SIZE], "file header")
        tag, version, flags, chunk, image, fid, mask, sealed_size = _FILE.unpack(body)
        if tag != TAG_FILE:
            raise FormatError("not a Station zst image (no file header)")
        if version != VERSION:
            raise FormatError(f"file header: unknown version {version}")
        algos = tuple(a for i, a in enumerate(ALGORITHMS) if mask & (1 << i))
        return cls(chunk, image, fid, algos, flags, sealed_size)


# -- chunk header --------------------------------------------------------------------------

_CHUNK = struct.Struct("<4sQQIIBxxx32s16sI")  # + crc32 -> 88 bytes of payload
CHUNK_HEADER_SIZE = SKIP_HEAD.size + _CHUNK.size + 4


@dataclass(frozen=True)
class ChunkHeader:
    chunk: int
    gen: int  # a file-wide counter: the highest generation of a chunk is its current frame
    raw_len: int
    frame_len: int
    flags: int
    digests: dict[str, bytes]
    checksum: int  # the data frame's own content checksum (low 32 bits of XXH64)

    def pack(self) -> bytes:
        sha = self.digests.get("sha256", bytes(32))
        md5 = self.digests.get("md5", bytes(16))
        body = _CHUNK.pack(
            TAG_CHUNK, self.chunk, self.gen, self.raw_len, self.frame_len, self.flags, sha, md5, self.checksum
        )
        return skippable(_with_crc(body))

    @classmethod
    def unpack(cls, raw: bytes, algorithms: tuple[str, ...]) -> ChunkHeader:
        if len(raw) < CHUNK_HEADER_SIZE:
            raise FormatError("chunk header: cut short")
        magic, size = SKIP_HEAD.unpack_from(raw)
        if magic != SKIPPABLE_MAGIC or size != CHUNK_HEADER_SIZE - SKIP_HEAD.size:
            raise FormatError("chunk header: bad magic or size")
        body = _check_crc(raw[SKIP_HEAD.size : CHUNK_HEADER_SIZE], "chunk header")
        tag, chunk, gen, raw_len, frame_len, flags, sha, md5, checksum = _CHUNK.unpack(body)
        if tag != TAG_CHUNK:
            raise FormatError("chunk header: bad tag")
        found = {"sha256": sha, "md5": md5}
        return cls(chunk, gen, raw_len, frame_len, flags, {a: found[a] for a in algorithms}, checksum)


# -- tagged payload frames (segments, mapfile, metadata) ------------------------------------


def tagged(tag: bytes, data: bytes) -> bytes:
    """A skippable frame holding `data` under `tag`, with a CRC32 so damage is named."""
    return skippable(tag + struct.pack("<I", zlib.crc32(data)) + data)


def untag(frame: bytes) -> tuple[bytes, bytes]:
    """(tag, data) of a tagged frame; FormatError if its magic, size or CRC is wrong."""
    if len(frame) < SKIP_HEAD.size + 8:
        raise FormatError("tagged frame: too short")
    magic, size = SKIP_HEAD.unpack_from(frame)
    if magic != SKIPPABLE_MAGIC or size != len(frame) - SKIP_HEAD.size:
        raise FormatError("tagged frame: bad magic or size")
    tag = frame[8:12]
    (crc,) = struct.unpack_from("<I", frame, 12)
    data = frame[16:]
    if zlib.crc32(data) != crc:
        raise FormatError(f"{tag.decode('ascii', 'replace')} frame: CRC mismatch")
    return tag, data


# -- zstd frames -----------------------------------------------------------------------------


def frame_checksum(frame: bytes | memoryview) -> int:
    """The content checksum a zstd frame (written with checksums) ends with."""
    return int.from_bytes(frame[-4:], "little")


def is_zstd_frame(head: bytes) -> bool:
    return len(head) >= 4 and int.from_bytes(head[:4], "little") == ZSTD_FRAME_MAGIC


# -- the seek table (facebook/zstd contrib/seekable_format) ----------------------------------

_ENTRY = struct.Struct("<III")  # compressed size, decompressed size, checksum
_FOOTER = struct.Struct("<IBI")  # number of frames, descriptor, seekable magic
FOOTER_SIZE = _FOOTER.size
CHECKSUM_FLAG = 0x80


def pack_seek_table(entries: list[tuple[int, int, int]]) -> bytes:
    """The seek table frame for (compressed, decompressed, checksum) entries, one per frame.

    Every frame before the seek table needs an entry, skippable ones included (decompressed
    size 0): readers find frame i at the sum of the compressed sizes before it, and pyzstd
    checks that the sizes add up to the file's length.
    """
    body = b"".join(_ENTRY.pack(c, d, x) for c, d, x in entries)
    body += _FOOTER.pack(len(entries), CHECKSUM_FLAG, SEEKABLE_FOOTER_MAGIC)
    return struct.pack("<II", SEEK_TABLE_MAGIC, len(body)) + body


def seek_table_size(frames: int, checksums: bool = True) -> int:
    return SKIP_HEAD.size + frames * (12 if checksums else 8) + FOOTER_SIZE


def parse_footer(tail: bytes) -> tuple[int, bool] | None:
    """(number of frames, has checksums) from a file's last 9 bytes; None if not seekable."""
    if len(tail) < FOOTER_SIZE:
        return None
    frames, desc, magic = _FOOTER.unpack(tail[-FOOTER_SIZE:])
    if magic != SEEKABLE_FOOTER_MAGIC:
        return None
    if desc & 0x7C:
        raise FormatError("seek table: reserved descriptor bits set")
    return frames, bool(desc & CHECKSUM_FLAG)


def parse_entries(raw: bytes, checksums: bool) -> list[tuple[int, int, int]]:
    """(compressed, decompressed, checksum) for each entry; checksum 0 when the table has none."""
    if checksums:
        return list(_ENTRY.iter_unpack(raw))
    return [(c, d, 0) for c, d in struct.iter_unpack("<II", raw)]
