"""The zst image while a rescue writes it: a Sink that takes any range in any order, and seals.

Bytes are gathered per fixed chunk (1 MiB by default) in memory; a chunk is compressed into
its own zstd frame (with a content checksum) when every byte of it has been written, when it
is pushed out of the memory budget, or at `sync()`.  Frames are compressed by a pool of
threads (zstandard releases the GIL) and appended to the file, each after a small skippable
header naming its chunk and generation, in the order they were handed over.  A chunk filled
more later is read back, overlaid and appended again; the index keeps the latest.  `sync()`
appends everything pending, fdatasyncs the file, then replaces the index beside it
atomically: after it returns, a crash loses nothing written before it.
"""

from __future__ import annotations

import errno
import os
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import zstandard

from station.core.safeopen import open_to_write
from station.images.errors import ImageCorrupt
from station.images.frames import (
    CHUNK_COMPLETE,
    CHUNK_HEADER_SIZE,
    FILE_HEADER_SIZE,
    ChunkHeader,
    FileHeader,
    FormatError,
    frame_checksum,
)
from station.images.hashing import DEFAULT_ALGORITHMS, OrderedHasher, ZeroDigests, check_algorithms, digests
from station.images.layout import INDEX_SUFFIX, ChunkIndex, Layout, open_layout, pread_exact, save_index
from station.media.base import Refused, SourceIdentity
from station.media.safety import check_opened
from station.rescue.rescuemap import RescueMap

if TYPE_CHECKING:
    from station.images.seal import SealResult

DEFAULT_CHUNK = 1 << 20
DEFAULT_LEVEL = 3


@dataclass
class _Buffer:
    """A chunk's bytes in memory; `covered` are the ranges written since it came into memory."""

    data: bytes | bytearray | memoryview  # a bytearray while written; frozen once handed over
    dirty: bool = False
    covered: list[tuple[int, int]] = field(default_factory=list)
    complete: bool = False

    def cover(self, lo: int, hi: int) -> int:
        """Add [lo, hi) to the covered ranges; return how many bytes are covered now."""
        out: list[tuple[int, int]] = []
        for a, b in self.covered:
            if b < lo or a > hi:
                out.append((a, b))
            else:
                lo, hi = min(a, lo), max(b, hi)
        out.append((lo, hi))
        out.sort()
        self.covered = out
        return sum(b - a for a, b in out)


@dataclass
class SinkStats:
    """What the live screen shows: raw bytes taken and the compressed bytes appended for them."""

    raw_written: int = 0
    frames: int = 0
    compressed: int = 0

    @property
    def ratio(self) -> float:
        return self.compressed / self.raw_written if self.raw_written else 0.0


class _Compressors:
    """One ZstdCompressor per pool thread (they are not thread-safe)."""

    def __init__(self, level: int) -> None:
        self.level = level
        self._local = threading.local()

    def get(self) -> zstandard.ZstdCompressor:
        c = getattr(self._local, "c", None)
        if c is None:
            c = self._local.c = zstandard.ZstdCompressor(level=self.level, write_checksum=True)
        return c


class ZstImageSink:
    """A working zst image: implements the engine's Sink (write_at, sync, close, path) plus seal()."""

    def __init__(
        self,
        path: str,
        size: int,
        identity: SourceIdentity | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS,
        level: int = DEFAULT_LEVEL,
        threads: int | None = None,
        memory: int = 64 << 20,
    ) -> None:
        if chunk_size <= 0 or chunk_size % 4096 or chunk_size > 1 << 30:
            raise ValueError("chunk size must be a multiple of 4096 up to 1 GiB")
        self.path = path
        self.identity = identity
        self._fd = -1
        try:  # created exclusively, or the existing file checked as opened: never the source
            self._fd, created = open_to_write(path, os.O_RDWR, 0o644)
            self.created = created  # a new file, made by this open (exclusively)
        except OSError as e:
            raise Refused(f"dest {path}: {(e.strerror or str(e)).lower()}") from None
        try:
            if identity is not None:
                check_opened(identity, self._fd, path)
            if created or os.fstat(self._fd).st_size == 0:
                algos = check_algorithms(algorithms) if algorithms else ()
                header = FileHeader(chunk_size, size, uuid.uuid4().bytes, algos)
                self._write_all(header.pack(), 0)
                os.fsync(self._fd)
                n = -(-size // chunk_size)
                self._layout = Layout(header, ChunkIndex(n), FILE_HEADER_SIZE, 0, True, 0)
            else:
                self._layout = self._resume(size)
        except BaseException:
            self._close_fd()
            raise
        header = self._layout.header
        self.size = size
        self.chunk_size = header.chunk_size
        self.algorithms = header.algorithms
        self.nchunks = self._layout.index.nchunks
        self.stats = SinkStats()
        self._memory = max(memory, 4 * self.chunk_size)
        self._buffers: OrderedDict[int, _Buffer] = OrderedDict()
        self._buffered_bytes = 0
        self._compressors = _Compressors(level)
        self._threads = threads or os.cpu_count() or 2
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="zst-compress")
        self._pending: deque[tuple[int, bool, bytes | None, Future]] = deque()
        self._max_pending = 2 * self._threads + 2
        self._zero_digests = ZeroDigests(self.algorithms)
        self._zero_frames: dict[int, tuple[bytes, int]] = {}
        self._zero_bytes = bytes(self.chunk_size)
        self._index_lock = threading.Lock()
        self._broken: BaseException | None = None
        self._dctx = zstandard.ZstdDecompressor()
        self._complete = self._layout.index.complete_bits()
        self._hasher = (
            OrderedHasher(self.algorithms, self.chunk_size, size, self._complete, self._load_for_hasher)
            if self.algorithms
            else None
        )
        self._closed = False

    # -- opening ----------------------------------------------------------------------------

    def _resume(self, size: int) -> Layout:
        try:
            layout = open_layout(self._fd, self.path)
        except FormatError as e:
            raise ImageCorrupt(self.path, str(e), None, 0, size) from None
        if layout.header.image_size != size:
            raise Refused(
                f"dest {self.path}: holds an image of {layout.header.image_size} bytes, "
                f"not the source's {size}"
            )
        if layout.header.sealed:  # reopened to retry its bad areas: drop the tail, work again
            h = layout.header
            layout.header = FileHeader(h.chunk_size, h.image_size, h.file_id, h.algorithms)
            os.ftruncate(self._fd, layout.end)
            self._write_all(layout.header.pack(), 0)
            os.fsync(self._fd)
        elif os.fstat(self._fd).st_size > layout.end:  # a torn tail after the last record that is whole
            os.ftruncate(self._fd, layout.end)
        return layout

    # -- the Sink protocol ------------------------------------------------------------------

    def write_at(self, pos: int, data: memoryview) -> None:
        """Take data for [pos, pos+len); it is copied, so the caller may reuse its buffer."""
        self._check_usable()
        view = memoryview(data).cast("B")
        if pos < 0 or pos + len(view) > self.size:
            raise ValueError(f"write of {len(view)} bytes at {pos} is outside the image (0-{self.size})")
        cs = self.chunk_size
        done = 0
        while done < len(view):
            at = pos + done
            k, off = divmod(at, cs)
            n = min(len(view) - done, self._chunk_len(k) - off)
            self._write_chunk(k, off, view[done : done + n])
            done += n
        self.stats.raw_written += len(view)
        self._collect(block=False)

    def sync(self) -> None:
        """Make every write so far durable: frames appended, fdatasync, index replaced atomically."""
        self._check_usable()
        for k, buf in list(self._buffers.items()):
            if buf.dirty:
                self._flush(k, buf)
        self._collect(block=True)
        try:
            os.fdatasync(self._fd)
            save_index(self.path, self._layout)
        except BaseException as e:
            self._broken = e
            raise

    def close(self) -> None:
        """Append what is in memory and save the index (unless a write failed), then let go."""
        if self._closed:
            return
        try:
            if self._broken is None and self._fd >= 0:
                self.sync()
        finally:
            self._shutdown()

    def __enter__(self) -> ZstImageSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chunks in memory ---------------------------------------------------------------------

    def _chunk_len(self, k: int) -> int:
        return min(self.chunk_size, self.size - k * self.chunk_size)

    def _write_chunk(self, k: int, off: int, piece: memoryview) -> None:
        length = self._chunk_len(k)
        buf = self._buffers.get(k)
        if off == 0 and len(piece) == length:  # a whole chunk: no read-back, no buffer
            if buf is not None:
                self._drop(k)
            data = piece.tobytes()
            self._submit(k, data, complete=True)
            self._keep(k, _Buffer(data, complete=True))
            return
        if buf is None:
            buf = _Buffer(self._current(k))
            self._keep(k, buf)
        else:
            self._buffers.move_to_end(k)
        if not isinstance(buf.data, bytearray):
            buf.data = bytearray(buf.data)
        buf.data[off : off + len(piece)] = piece
        buf.dirty = True
        if buf.cover(off, off + len(piece)) == length:
            buf.complete = True
            self._flush(k, buf)

    def _current(self, k: int) -> bytes | bytearray:
        """A chunk's bytes as the file has them (zeros if never written), for read-modify-write."""
        if any(c == k for c, _, _, _ in self._pending):
            self._collect(block=True, until=k)
        idx = self._layout.index
        if not idx.has_data(k):
            return bytearray(self._chunk_len(k))  # writable at once: no copy before the first write
        return self._read_frame(k, self._dctx)

    def _read_frame(self, k: int, dctx: zstandard.ZstdDecompressor) -> bytes:
        idx = self._layout.index
        with self._index_lock:
            off, flen = idx.offsets[k], idx.frame_lens[k]
        n = self._chunk_len(k)
        start = k * self.chunk_size
        frame = pread_exact(self._fd, flen, off + CHUNK_HEADER_SIZE)
        try:
            data = dctx.decompress(frame, max_output_size=n)
        except zstandard.ZstdError as e:
            raise ImageCorrupt(self.path, f"frame does not decompress ({e})", k, start, start + n) from None
        if len(data) != n:
            raise ImageCorrupt(self.path, "frame has the wrong length", k, start, start + n)
        return data

    def _keep(self, k: int, buf: _Buffer) -> None:
        self._buffers[k] = buf
        self._buffered_bytes += len(buf.data)
        while self._buffered_bytes > self._memory and len(self._buffers) > 1:
            old, victim = next(iter(self._buffers.items()))
            if victim.dirty:
                self._flush(old, victim)
            self._drop(old)

    def _drop(self, k: int) -> None:
        buf = self._buffers.pop(k)
        self._buffered_bytes -= len(buf.data)

    def _flush(self, k: int, buf: _Buffer) -> None:
        data = buf.data  # handed to the pool as it is: no copy of a chunk the rescue completed
        buf.data = memoryview(data).toreadonly()  # a clean cache; a later write copies it first
        buf.dirty = False
        self._submit(k, data, complete=buf.complete)

    # -- compression and appending ------------------------------------------------------------

    def _submit(self, k: int, data: bytes | bytearray | memoryview, complete: bool) -> None:
        while len(self._pending) >= self._max_pending:
            self._collect_one()
        fut = self._pool.submit(self._compress, k, data, complete)
        self._pending.append((k, complete, data if complete else None, fut))

    def _zero_frame(self, n: int) -> tuple[bytes, int]:
        z = self._zero_frames.get(n)
        if z is None:
            frame = self._compressors.get().compress(bytes(n))
            z = self._zero_frames[n] = (frame, frame_checksum(frame))
        return z

    def _compress(
        self, k: int, data: bytes | bytearray | memoryview, complete: bool
    ) -> tuple[int, dict[str, bytes], int, bytes]:
        """(flags, digests, checksum, frame) of one chunk: runs in a pool thread."""
        n = len(data)
        if data == self._zeros(n):
            frame, check = self._zero_frame(n)
            digs = self._zero_digests(n)
        else:
            frame = self._compressors.get().compress(data)
            check = frame_checksum(frame)
            digs = digests(data, self.algorithms)
        return (CHUNK_COMPLETE if complete else 0), digs, check, frame

    def _zeros(self, n: int) -> bytes:
        z = self._zero_bytes
        return z if len(z) == n else bytes(n)

    def _collect(self, block: bool, until: int | None = None) -> None:
        """Append finished frames in submission order; with block, wait for all (or for chunk `until`)."""
        while self._pending:
            k, _, _, fut = self._pending[0]
            if not block and not fut.done():
                return
            self._collect_one()
            if until is not None and not any(c == until for c, _, _, _ in self._pending):
                return

    def _collect_one(self) -> None:
        k, complete, data, fut = self._pending.popleft()
        try:
            flags, digs, check, frame = fut.result()
            lay = self._layout
            h = ChunkHeader(k, lay.max_gen + 1, self._chunk_len(k), len(frame), flags, digs, check)
            off = lay.end
            self._write_all(h.pack() + frame, off)
        except BaseException as e:
            self._broken = e
            raise
        lay.end = off + CHUNK_HEADER_SIZE + len(frame)
        lay.max_gen = h.gen
        lay.in_order = lay.in_order and k == lay.records
        lay.records += 1
        with self._index_lock:
            lay.index.set(off, h)
        self.stats.frames += 1
        self.stats.compressed += CHUNK_HEADER_SIZE + len(frame)
        # The hasher hears of the chunk before it is marked complete: marked first, its catch-up
        # could read the chunk back from the file, pass it, and then take this very frame for a
        # rewrite behind its frontier, and rehash the image from an old snapshot at sealing.
        if self._hasher is not None:
            self._hasher.written(k, data)
        self._complete[k] = 1 if complete else 0

    def _write_all(self, data: bytes, pos: int) -> None:
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, pos)
            if n == 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.path)
            view, pos = view[n:], pos + n

    def _load_for_hasher(self, k: int) -> bytes | None:
        """A chunk's current bytes for the hasher thread (its own decompressor)."""
        if not self._layout.index.has_data(k):
            return None
        dctx = getattr(self, "_hasher_dctx", None)
        if dctx is None:
            dctx = self._hasher_dctx = zstandard.ZstdDecompressor()
        return self._read_frame(k, dctx)

    # -- for sealing -------------------------------------------------------------------------

    def seal(
        self,
        rescue_map: RescueMap | None = None,
        *,
        mapfile_text: str | None = None,
        extra: dict | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> SealResult:
        """Seal into a standard zstd seekable file (see station.images.seal) and close."""
        from station.images.seal import seal_sink

        return seal_sink(self, rescue_map, mapfile_text=mapfile_text, extra=extra, progress=progress)

    @property
    def file_fd(self) -> int:
        """The image file's descriptor, for sealing.  Not named `fd`: the engine copies straight
        into a sink's `fd` with copy_file_range, which only a raw image can take."""
        return self._fd

    @property
    def hashed_bytes(self) -> int:
        """How much of the image the whole-image hashes have taken in, in order, so far."""
        if self._hasher is None:
            return 0
        return min(self._hasher.frontier * self.chunk_size, self.size)

    def chunk_len(self, k: int) -> int:
        return self._chunk_len(k)

    def read_chunk(self, k: int) -> bytes:
        """A chunk's current bytes (zeros if never written)."""
        buf = self._buffers.get(k)
        return bytes(buf.data) if buf is not None else self._current(k)

    def replace_chunk(self, k: int, data: bytes) -> None:
        """Give chunk k new contents without marking it complete or not (sealing's zeroing)."""
        self._check_usable()
        if k in self._buffers:
            self._drop(k)
        self._submit(k, data, complete=bool(self._complete[k]))

    def finish_hashes(self, progress: Callable[[int, int], None] | None = None) -> dict[str, str]:
        """The whole-image hashes (hex): the frontier finished over the file as it now is."""
        self._collect(block=True)
        if self._hasher is None:
            return {}
        self._hasher.drain()
        return self._hasher.finish(self._zero_bytes, progress)

    def write_raw(self, data: bytes, pos: int) -> None:
        self._write_all(data, pos)

    def zero_frame(self, n: int) -> tuple[bytes, int]:
        return self._zero_frame(n)

    def zero_digests(self, n: int) -> dict[str, bytes]:
        return self._zero_digests(n)

    def close_after_seal(self) -> None:
        self._shutdown()

    # -- state ---------------------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._closed:
            raise OSError(errno.EBADF, f"dest {self.path} is closed")
        if self._broken is not None:
            err = self._broken
            if isinstance(err, OSError):
                raise OSError(err.errno, err.strerror, self.path)
            raise OSError(errno.EIO, f"an earlier write failed: {err}", self.path)

    def _shutdown(self) -> None:
        self._closed = True
        for _, _, _, fut in self._pending:
            fut.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)
        if self._hasher is not None:
            self._hasher.close()
        self._close_fd()

    def _close_fd(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    @property
    def layout(self) -> Layout:
        return self._layout

    @property
    def index_path(self) -> str:
        return self.path + INDEX_SUFFIX

    def __repr__(self) -> str:
        return f"ZstImageSink({self.path!r}, size={self.size}, chunk={self.chunk_size})"


def open_image_sink(
    path: str,
    size: int,
    identity: SourceIdentity | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS,
    level: int = DEFAULT_LEVEL,
    threads: int | None = None,
    memory: int = 64 << 20,
) -> ZstImageSink:
    """Create a zst image, or resume one (a working file, or a sealed one to retry its bad areas).

    Refused: the file is locked by another job, or holds an image of another size.
    ImageCorrupt: its header is damaged, or it is shorter than what its index says was synced.
    """
    return ZstImageSink(
        path,
        size,
        identity,
        chunk_size=chunk_size,
        algorithms=algorithms,
        level=level,
        threads=threads,
        memory=memory,
    )
