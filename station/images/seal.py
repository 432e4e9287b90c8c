"""Sealing a working zst image into a standard zstd seekable file.

The sealed file is the working file's records in chunk order, one per chunk (a chunk never
written gets a frame of zeros of a few dozen bytes), then three skippable frames (per-chunk
digests, the mapfile, the JSON metadata) and the seek table.  Frames are copied, never
recompressed; when the working file's records are already one per chunk in order (a rescue
with no holes and no rewrites), only the tail is appended, in place.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from station.core.safeopen import create_fresh
from station.images.frames import (
    CHUNK_ABSENT,
    CHUNK_HEADER_SIZE,
    FILE_HEADER_SIZE,
    FLAG_SEALED,
    TAG_MAPFILE,
    TAG_META,
    TAG_SEGMENTS,
    XXH64_EMPTY_LOW32,
    ChunkHeader,
    FileHeader,
    pack_seek_table,
    tagged,
)
from station.images.layout import fsync_dir, pread_exact
from station.images.zstsink import ZstImageSink
from station.rescue.mapfile import format_mapfile
from station.rescue.rescuemap import RescueMap, Status

META_FORMAT = "station-zst"


@dataclass(frozen=True)
class SealResult:
    """What sealing produced: the hashes recorded and the file's sizes."""

    path: str
    image_size: int
    file_size: int
    hashes: dict[str, str]
    in_place: bool
    zeroed_chunks: int  # chunks rewritten because the map does not call all their bytes finished

    @property
    def ratio(self) -> float:
        return self.file_size / self.image_size if self.image_size else 0.0


def _unrescued_chunks(m: RescueMap, cs: int) -> dict[int, list[tuple[int, int]]]:
    """chunk -> the ranges in it (relative to the chunk) that the map does not call finished."""
    out: dict[int, list[tuple[int, int]]] = {}
    for b in m:
        if b.status == Status.FINISHED:
            continue
        for k in range(b.pos // cs, (b.end - 1) // cs + 1):
            lo, hi = max(b.pos, k * cs), min(b.end, (k + 1) * cs)
            out.setdefault(k, []).append((lo - k * cs, hi - k * cs))
    return out


def _zero_unrescued(sink: ZstImageSink, m: RescueMap) -> int:
    """Rewrite the chunks holding bytes the map does not call finished, with those bytes as zeros.

    Such bytes exist when a crash came between a write and the map's save: the image must
    hash as the map reads it.  Returns how many chunks changed.
    """
    idx = sink.layout.index
    changed = 0
    for k, ranges in _unrescued_chunks(m, sink.chunk_size).items():
        if not idx.has_data(k):
            continue
        data = sink.read_chunk(k)
        new = bytearray(data)
        for lo, hi in ranges:
            new[lo:hi] = bytes(hi - lo)
        if new != data:
            sink.replace_chunk(k, bytes(new))
            changed += 1
    return changed


def _metadata(sink: ZstImageSink, hashes: dict[str, str], m: RescueMap | None, extra: dict | None) -> dict:
    meta: dict = {
        "format": META_FORMAT,
        "version": 1,
        "image_size": sink.size,
        "chunk_size": sink.chunk_size,
        "file_id": sink.layout.header.file_id.hex(),
        "hashes": hashes,
        "unrescued_as": "zeros",
        "segments": {
            "size": sink.chunk_size,
            "algorithms": list(sink.algorithms),
            "frame": TAG_SEGMENTS.decode(),
        },
        "source": sink.identity.to_dict() if sink.identity is not None else None,
        "sealed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "sealed_at_unix": time.time(),
    }
    if m is not None:
        s = m.summary()
        meta["rescued_bytes"] = s.rescued
        meta["unrescued_bytes"] = s.size - s.rescued
        meta["bad_sector_bytes"] = s.bytes[Status.BAD_SECTOR]
    if extra:
        meta["extra"] = extra
    return meta


def seal_sink(
    sink: ZstImageSink,
    rescue_map: RescueMap | None = None,
    *,
    mapfile_text: str | None = None,
    extra: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SealResult:
    """Seal the image `sink` writes (and close the sink): hashes finished, seekable file in place.

    `rescue_map` makes bytes it does not call finished zeros (as the hashes count them) and
    is embedded as a mapfile (`mapfile_text` if given, else formatted from the map).
    `progress(done, total)` follows the hashing of what was not hashed while written, then
    the copy into chunk order (when the records are not in order already).
    """
    if rescue_map is not None and rescue_map.size != sink.size:
        raise ValueError(f"the map covers {rescue_map.size} bytes, the image {sink.size}")
    sink.sync()
    zeroed = _zero_unrescued(sink, rescue_map) if rescue_map is not None else 0
    if zeroed:
        sink.sync()
    hashes = sink.finish_hashes(progress)
    lay = sink.layout
    if mapfile_text is None and rescue_map is not None:
        mapfile_text = format_mapfile(rescue_map)
    meta = _metadata(sink, hashes, rescue_map, extra)
    in_place = lay.in_order and lay.records == lay.index.nchunks
    try:
        if in_place:
            size = _seal_in_place(sink, mapfile_text, meta)
        else:
            size = _seal_by_copy(sink, mapfile_text, meta, progress)
    finally:
        sink.close_after_seal()
    return SealResult(sink.path, sink.size, size, hashes, in_place, zeroed)


def _tail(digest_table: bytes, mapfile_text: str | None, meta: dict) -> list[bytes]:
    frames = [tagged(TAG_SEGMENTS, digest_table)]
    frames.append(tagged(TAG_MAPFILE, (mapfile_text or "").encode("utf-8")))
    frames.append(tagged(TAG_META, json.dumps(meta, indent=1, sort_keys=True).encode("utf-8")))
    return frames


def _digest_table(per_chunk: list[dict[str, bytes]], algorithms: tuple[str, ...]) -> bytes:
    """Each algorithm's digests, chunk after chunk, one algorithm after the other."""
    return b"".join(d[a] for a in algorithms for d in per_chunk)


def _seal_in_place(sink: ZstImageSink, mapfile_text: str | None, meta: dict) -> int:
    fd, lay = sink.file_fd, sink.layout
    idx = lay.index
    entries = [(FILE_HEADER_SIZE, 0, XXH64_EMPTY_LOW32)]
    per_chunk = []
    for k in range(idx.nchunks):
        h = ChunkHeader.unpack(pread_exact(fd, CHUNK_HEADER_SIZE, idx.offsets[k]), lay.header.algorithms)
        per_chunk.append(h.digests)
        entries.append((CHUNK_HEADER_SIZE, 0, XXH64_EMPTY_LOW32))
        entries.append((h.frame_len, h.raw_len, h.checksum))
    tail = _tail(_digest_table(per_chunk, lay.header.algorithms), mapfile_text, meta)
    entries += [(len(f), 0, XXH64_EMPTY_LOW32) for f in tail]
    blob = b"".join(tail) + pack_seek_table(entries)
    total = lay.end + len(blob)
    sink.write_raw(blob, lay.end)
    os.fdatasync(fd)
    h = lay.header
    sink.write_raw(
        FileHeader(h.chunk_size, h.image_size, h.file_id, h.algorithms, FLAG_SEALED, total).pack(), 0
    )
    os.fdatasync(fd)
    _drop_index(sink)
    return total


def _seal_by_copy(
    sink: ZstImageSink, mapfile_text: str | None, meta: dict, progress: Callable[[int, int], None] | None
) -> int:
    src, lay = sink.file_fd, sink.layout
    idx, algos = lay.index, lay.header.algorithms
    tmp = sealing_path(sink.path)
    out = create_fresh(tmp, os.O_RDWR, 0o644)
    try:
        w = _Out(out)
        w.write(bytes(FILE_HEADER_SIZE))  # the real header, with the final size, goes last
        entries = [(FILE_HEADER_SIZE, 0, XXH64_EMPTY_LOW32)]
        per_chunk = []
        gen = lay.max_gen
        for k in range(idx.nchunks):
            n = sink.chunk_len(k)
            if idx.offsets[k]:
                h = ChunkHeader.unpack(pread_exact(src, CHUNK_HEADER_SIZE, idx.offsets[k]), algos)
                w.write(h.pack())
                w.copy_from(src, idx.offsets[k] + CHUNK_HEADER_SIZE, h.frame_len)
            else:
                frame, check = sink.zero_frame(n)
                gen += 1
                h = ChunkHeader(k, gen, n, len(frame), CHUNK_ABSENT, sink.zero_digests(n), check)
                w.write(h.pack())
                w.write(frame)
            per_chunk.append(h.digests)
            entries.append((CHUNK_HEADER_SIZE, 0, XXH64_EMPTY_LOW32))
            entries.append((h.frame_len, h.raw_len, h.checksum))
            if progress is not None and (k % 64 == 63 or k == idx.nchunks - 1):
                progress(min((k + 1) * sink.chunk_size, sink.size), sink.size)
        tail = _tail(_digest_table(per_chunk, algos), mapfile_text, meta)
        entries += [(len(f), 0, XXH64_EMPTY_LOW32) for f in tail]
        for f in tail:
            w.write(f)
        w.write(pack_seek_table(entries))
        w.flush()
        h = lay.header
        hdr = FileHeader(h.chunk_size, h.image_size, h.file_id, h.algorithms, FLAG_SEALED, w.pos).pack()
        os.pwrite(out, hdr, 0)
        os.fdatasync(out)
        total = w.pos
    except BaseException:
        os.close(out)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(out)
    os.replace(tmp, sink.path)
    fsync_dir(sink.path)
    _drop_index(sink)
    return total


def sealing_path(image: str) -> str:
    """The temporary file a seal by copy writes beside the image before it replaces it."""
    return os.path.join(os.path.dirname(os.path.abspath(image)), f".{os.path.basename(image)}.sealing")


def _drop_index(sink: ZstImageSink) -> None:
    try:
        os.unlink(sink.index_path)
    except FileNotFoundError:
        pass


class _Out:
    """Sequential output with a write buffer; frames copied by the kernel where it can."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pos = 0
        self._buf = bytearray()
        self._flushed = 0
        self._kernel_copy = True

    def write(self, data: bytes) -> None:
        self._buf += data
        self.pos += len(data)
        if len(self._buf) >= 8 << 20:
            self.flush()

    def flush(self) -> None:
        view = memoryview(self._buf)
        while view:
            n = os.pwrite(self.fd, view, self._flushed)
            view = view[n:]
            self._flushed += n
        self._buf = bytearray()

    def copy_from(self, src: int, offset: int, length: int) -> None:
        if self._kernel_copy and length >= 64 << 10:
            self.flush()
            try:
                done = 0
                while done < length:
                    n = os.copy_file_range(src, self.fd, length - done, offset + done, self._flushed)
                    if n == 0:
                        raise OSError("short copy")
                    done += n
                    self._flushed += n
                self.pos += length
                return
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, None):
                    raise
                self._kernel_copy = False
                self._flushed -= done
        self.write(pread_exact(src, length, offset))
