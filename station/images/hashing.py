"""Hashes of a whole raw image (unrescued bytes as zeros) and of each chunk, as forensic tools keep them.

A rescue writes out of order, but a SHA-256 can only be fed in order.  `OrderedHasher` keeps
the whole-image hash up to a *frontier*: chunks reach it as they are written; complete chunks
at the frontier are hashed at once (in its own thread, off the writer's), later ones are
fetched back from the image when the frontier reaches them, and whatever is left is finished
when the image is sealed.  A chunk rewritten behind the frontier rewinds it to the last
snapshot before that chunk.  The source is never read twice: only the image.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from station.images.frames import ALGORITHMS
from station.images.layout import pread_exact
from station.rescue.rescuemap import RescueMap, Status

DEFAULT_ALGORITHMS: tuple[str, ...] = ("sha256",)


def check_algorithms(algorithms: Iterable[str]) -> tuple[str, ...]:
    """The algorithms in canonical order; ValueError names an unknown one."""
    wanted = [a.lower() for a in algorithms]
    for a in wanted:
        if a not in ALGORITHMS:
            raise ValueError(f"unknown hash {a!r} (choose from {', '.join(ALGORITHMS)})")
    if not wanted:
        raise ValueError("at least one hash algorithm is needed")
    return tuple(a for a in ALGORITHMS if a in wanted)


def hash_choice(text: str) -> tuple[str, ...]:
    """`--hash` as typed: "sha256,md5", "md5", or "none" (no hashes); ValueError names a bad one."""
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    if words == ["none"]:
        return ()
    if not words or "none" in words:
        raise ValueError(f"{text!r}: give hashes ({', '.join(ALGORITHMS)}, comma-separated) or none")
    try:
        return check_algorithms(words)
    except ValueError as e:
        raise ValueError(f"{e}, or none") from None


def digests(data: bytes | memoryview, algorithms: tuple[str, ...]) -> dict[str, bytes]:
    """Each algorithm's digest of data."""
    return {a: hashlib.new(a, data).digest() for a in algorithms}


class ZeroDigests:
    """Digests of all-zero chunks by length, computed once (unread chunks are common)."""

    def __init__(self, algorithms: tuple[str, ...]) -> None:
        self.algorithms = algorithms
        self._cache: dict[int, dict[str, bytes]] = {}

    def __call__(self, length: int) -> dict[str, bytes]:
        d = self._cache.get(length)
        if d is None:
            d = self._cache[length] = digests(bytes(length), self.algorithms)
        return d


ChunkLoader = Callable[[int], bytes | None]  # chunk -> its current bytes, None if never written


class OrderedHasher:
    """The whole-image hashes, fed chunk by chunk in LBA order from a thread of its own."""

    def __init__(
        self,
        algorithms: tuple[str, ...],
        chunk_size: int,
        image_size: int,
        complete: bytearray,
        load: ChunkLoader,
        *,
        snapshot_every: int = 256,
    ) -> None:
        self.algorithms = algorithms
        self.chunk_size = chunk_size
        self.image_size = image_size
        self.nchunks = -(-image_size // chunk_size)
        self._complete = complete  # shared with the writer: nonzero = this chunk is complete
        self._load = load
        self._every = snapshot_every
        self._state = {a: hashlib.new(a) for a in algorithms}
        self._snapshots: dict[int, dict[str, object]] = {0: self._copy()}
        self.frontier = 0  # chunks [0, frontier) are in the hash state
        self._rewind_to: int | None = None  # a chunk below the frontier changed
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="image-hasher", daemon=True)
        self._thread.start()

    def chunk_len(self, k: int) -> int:
        return min(self.chunk_size, self.image_size - k * self.chunk_size)

    def _copy(self) -> dict[str, object]:
        return {a: h.copy() for a, h in self._state.items()}

    # -- called by the writer ------------------------------------------------------------

    def written(self, chunk: int, data: bytes | None) -> None:
        """Chunk `chunk` has a new frame; `data` is its content when it is complete (else None)."""
        with self._lock:
            if chunk < self.frontier:
                self._mark_rewind(chunk)
                return
        if self._error is None:
            self._queue.put((chunk, data))  # None still goes: it may follow a queued older version

    def _mark_rewind(self, chunk: int) -> None:
        self._rewind_to = chunk if self._rewind_to is None else min(self._rewind_to, chunk)

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                chunk, data = item
                with self._lock:
                    if chunk < self.frontier:
                        self._mark_rewind(chunk)
                        continue
                if chunk == self.frontier and data is not None:
                    self._advance(data)
                self._catch_up()
            except BaseException as e:  # reported by finish()
                self._error = e
            finally:
                self._queue.task_done()

    def _advance(self, data: bytes | memoryview) -> None:
        for h in self._state.values():
            h.update(data)
        with self._lock:
            self.frontier += 1
            if self.frontier % self._every == 0:
                self._snapshots[self.frontier] = self._copy()

    def _catch_up(self) -> None:
        """Hash the complete chunks already written past the frontier, read back from the image."""
        while self.frontier < self.nchunks and self._complete[self.frontier] and self._queue.empty():
            data = self._load(self.frontier)
            if data is None:
                return
            self._advance(data)

    # -- the end ----------------------------------------------------------------------------

    def drain(self) -> None:
        """Wait until every chunk handed over so far is hashed."""
        self._queue.join()

    def finish(
        self, zero: bytes | None = None, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, str]:
        """Hash the rest of the image in order (missing chunks as zeros); hex digests.

        `progress(bytes hashed, image size)` is called as the rest is read back.
        """
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._rewind_to is not None:
            start = max(k for k in self._snapshots if k <= self._rewind_to)
            self._state = {a: h.copy() for a, h in self._snapshots[start].items()}  # type: ignore[attr-defined]
            self.frontier = start
            self._snapshots = {k: v for k, v in self._snapshots.items() if k <= start}
            self._rewind_to = None
        zero = zero if zero is not None else bytes(self.chunk_size)
        while self.frontier < self.nchunks:
            n = self.chunk_len(self.frontier)
            data = self._load(self.frontier)
            self._advance(data if data is not None else memoryview(zero)[:n])
            if progress is not None and (self.frontier % 64 == 0 or self.frontier == self.nchunks):
                progress(min(self.frontier * self.chunk_size, self.image_size), self.image_size)
        return {a: h.hexdigest() for a, h in self._state.items()}

    def close(self) -> None:
        """Stop the thread without finishing (the image is closed unsealed)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


# -- raw images ----------------------------------------------------------------------------


@dataclass
class ImageHashes:
    """Whole-image digests (hex) and per-segment digests (raw bytes) of one image."""

    whole: dict[str, str]
    segment_size: int
    segments: dict[str, list[bytes]]


class SegmentedDigest:
    """Whole-image and per-segment digests fed in order, in pieces that start on segment boundaries.

    Every byte is hashed twice (the whole image's digest, and its segment's, for `verify` to name
    a range); hashlib lets go of the GIL on large pieces, so the whole-image digest of a large
    piece runs in a thread of its own beside the segments': on two cores hashing takes half the
    time.  `result` ends that thread."""

    PARALLEL_FROM = 256 << 10  # smaller pieces are not worth a hand-over

    def __init__(self, algorithms: tuple[str, ...], segment_size: int) -> None:
        self.algorithms = algorithms
        self.segment_size = segment_size
        self._whole = {a: hashlib.new(a) for a in algorithms}
        self._segments: dict[str, list[bytes]] = {a: [] for a in algorithms}
        self._pool: ThreadPoolExecutor | None = None
        self.done = 0  # bytes taken

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        whole: Future[None] | None = None
        if len(view) >= self.PARALLEL_FROM:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="whole-image digest")
            whole = self._pool.submit(self._update_whole, view)
        else:
            self._update_whole(view)
        try:
            for off in range(0, len(view), self.segment_size):
                piece = view[off : off + self.segment_size]
                for a in self.algorithms:
                    self._segments[a].append(hashlib.new(a, piece).digest())
        finally:
            if whole is not None:
                whole.result()
        self.done += len(view)

    def _update_whole(self, view: memoryview) -> None:
        for h in self._whole.values():
            h.update(view)

    def result(self) -> ImageHashes:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        whole = {a: h.hexdigest() for a, h in self._whole.items()}
        return ImageHashes(whole, self.segment_size, self._segments)


def hash_stream(
    chunks: Iterator[tuple[int, bytes]],
    algorithms: tuple[str, ...],
    segment_size: int,
    progress: Callable[[int], None] | None = None,
) -> ImageHashes:
    """Whole and segmented digests over (offset, bytes) pieces given in order.

    Pieces must start on segment boundaries and be multiples of the segment size (the last
    may be short); this is how every reader's `chunks()` iterates.
    """
    d = SegmentedDigest(algorithms, segment_size)
    for _pos, data in chunks:
        d.update(data)
        if progress is not None:
            progress(d.done)
    return d.result()


class RawImageHasher:
    """The hashes of a raw image written in place, taken while it is written wherever they can be.

    The bytes a map calls finished never change again in a raw image, so the finished prefix
    can be hashed from the file (the page cache, as a rule) while the rescue goes on: a rescue
    that writes in order is hashed by the time it ends.  `finish` reads back the rest, bytes
    the map does not call finished as zeros.  The source is never read for it.
    """

    def __init__(
        self,
        path: str,
        size: int,
        algorithms: Iterable[str],
        segment_size: int = 1 << 20,
        step: int = 8 << 20,
    ) -> None:
        self.path, self.size = path, size
        self._digest = SegmentedDigest(check_algorithms(algorithms), segment_size)
        self._step = max(segment_size, step // segment_size * segment_size)
        self._target = 0
        self._closing = False
        self._error: OSError | None = None
        self._cond = threading.Condition()
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._run, name="raw-hasher", daemon=True)
        self._thread.start()

    @property
    def done(self) -> int:
        """Bytes hashed so far, from the start of the image."""
        return self._digest.done

    @property
    def target(self) -> int:
        """Where hashing is to go: the image is known final up to there."""
        return self._target

    def reached(self, pos: int) -> None:
        """The image holds its final bytes in [0, pos): hash up to there (whole segments)."""
        seg = self._digest.segment_size
        end = self.size if pos >= self.size else pos // seg * seg
        with self._cond:
            if end > self._target:
                self._target = end
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._digest.done >= self._target and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                lo = self._digest.done
                hi = min(self._target, lo + self._step)
            try:
                data = pread_exact(self._fd, hi - lo, lo)
            except OSError as e:
                self._error = e
                return
            self._digest.update(data + bytes(hi - lo - len(data)))  # past the file's end: zeros

    def _stop(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def finish(
        self, rescue_map: RescueMap | None, progress: Callable[[int, int], None] | None = None
    ) -> ImageHashes:
        """Hash the rest from the image (unrescued bytes as zeros) and return every digest."""
        from station.images.reader import RawImageReader

        self._stop()
        if self._error is not None:
            raise self._error
        with RawImageReader(self.path, rescue_map, size=self.size) as r:
            pos = self._digest.done
            while pos < self.size:
                data = r.read(pos, self._step)
                self._digest.update(data)
                pos += len(data)
                if progress is not None:
                    progress(pos, self.size)
        self.close()
        return self._digest.result()

    def close(self) -> None:
        """Stop hashing and let go of the file (the image is left unhashed)."""
        if self._thread.is_alive():
            self._stop()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def hash_raw_image(
    path: str,
    rescue_map: RescueMap | None = None,
    algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
    segment_size: int = 1 << 20,
    progress: Callable[[int], None] | None = None,
) -> ImageHashes:
    """Hashes of a raw image file as its map reads it (unrescued bytes as zeros).

    For raw images, which are written in place: read once, after the rescue.
    """
    from station.images.reader import RawImageReader

    algos = check_algorithms(algorithms)
    step = max(segment_size, (8 << 20) // segment_size * segment_size)
    with RawImageReader(path, rescue_map) as r:
        return hash_stream(r.chunks(step), algos, segment_size, progress)


def unrescued_in(m: RescueMap | None, pos: int, end: int) -> bool:
    """Whether anything in [pos, end) is not finished."""
    if m is None:
        return False
    return any(b.status != Status.FINISHED for b in m.blocks(pos, min(end, m.size)))
