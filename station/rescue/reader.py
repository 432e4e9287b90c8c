"""Reads that cannot hang the rescue, streamed so that reading and writing overlap.

A dying drive can keep a read() in the kernel for minutes, where no signal reaches it.  Every
source read therefore runs in a worker thread while the engine waits with a timeout and a
cancel event.  A read that outlives its timeout is abandoned: its thread and its buffers are
left to it (so a late completion cannot scribble over data we reuse), and a fresh worker with
fresh buffers takes over.

Handing one read to a thread costs ~70 us of wake-up latency on a small VM, so the engine
asks for a *run* (read forward or backward over a range, growing the read size over healthy
data) and the worker streams the reads through a small ring of buffers.  The worker stops a
run by itself at the first error or slow read, so it never reads past trouble the engine
has not seen: streaming adds no read a one-at-a-time reader would not have made.
"""

from __future__ import annotations

import errno
import mmap
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from station.media.base import Source
from station.media.source import KernelCopyUnsupported

RING = 4  # buffers per worker: enough to overlap a read with the engine's write
T = TypeVar("T")


@dataclass(frozen=True)
class RunSpec:
    """Read [start, end) in chunks, forward or in reverse."""

    start: int
    end: int
    reverse: bool = False
    size: int = 512  # first read size
    max_size: int = 512  # read size doubles after each good read, up to this
    align: int = 512  # chunk boundaries are multiples of this (except at the source's end)
    stop_on_error: bool = True
    slow_below: float | None = None  # bytes/s: a slower good read ends the run after delivery
    slow_if: Callable[[int, float], bool] | None = None  # (bytes, seconds) -> slow: as slow_below
    copy_fd: int | None = None  # copy straight to this fd in the kernel when the source can


@dataclass
class ReadOutcome:
    """One read: `data` holds the good bytes read at `pos` (maybe fewer than `size`)."""

    pos: int
    size: int
    data: memoryview
    error: OSError | None = None
    hung: bool = False
    cancelled: bool = False
    seconds: float = 0.0
    slow: bool = False
    copied: int = 0  # bytes the kernel already put on the sink (data is then empty)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.hung and not self.cancelled

    @property
    def good(self) -> int:
        """Bytes read successfully from pos (in data, or already copied to the sink)."""
        return self.copied or len(self.data)


_END = object()


def next_chunk(spec: RunSpec, cursor: int, size: int) -> tuple[int, int]:
    """The next chunk of a run at `cursor` (its start going forward, its end in reverse)."""
    a = spec.align
    if not spec.reverse:
        end = min(spec.end, (cursor + size) // a * a) if size >= a else min(spec.end, cursor + size)
        if end <= cursor:
            end = min(spec.end, cursor + a)
        return cursor, end
    # as forward: reads of an alignment unit or more end on its boundaries, smaller ones (a
    # sector where O_DIRECT aligns to pages) stay their size, so a failed one marks no more bad
    start = max(spec.start, -(-(cursor - size) // a) * a) if size >= a else max(spec.start, cursor - size)
    if start >= cursor:
        start = max(spec.start, cursor - a)
    return start, cursor


class _Worker:
    """One thread with its own ring of buffers; abandoned whole if a read hangs."""

    def __init__(self, source: Source, buffer_size: int, clock: Callable[[], float]) -> None:
        self.source = source
        self.clock = clock
        self.buffers = [mmap.mmap(-1, buffer_size) for _ in range(RING)]  # page aligned (O_DIRECT)
        self.free: queue.SimpleQueue = queue.SimpleQueue()
        for i in range(RING):
            self.free.put(i)
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.stop_run = threading.Event()
        self.inflight: tuple[int, int] | None = None
        self.inflight_since: float | None = None  # clock() when the read in flight began
        self.kernel_copy = hasattr(source, "copy_to")
        self.thread = threading.Thread(target=self._loop, name="station-reader", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            spec = self.requests.get()
            if spec is None:
                return
            self._run(spec)
            self.results.put(_END)

    def _run(self, spec: RunSpec) -> None:
        cursor = spec.end if spec.reverse else spec.start
        size = spec.size
        while (cursor > spec.start) if spec.reverse else (cursor < spec.end):
            if self.stop_run.is_set():
                return
            idx = self.free.get()
            if idx is None:
                return
            if self.stop_run.is_set():
                self.free.put(idx)  # not ours to lose: the ring must stay whole
                return
            lo, hi = next_chunk(spec, cursor, size)
            view = memoryview(self.buffers[idx])[: hi - lo]
            self.inflight = (lo, hi - lo)
            t0 = self.clock()
            self.inflight_since = t0
            n, err, copied = self._read(spec, lo, view)
            self.inflight_since = None
            secs = self.clock() - t0
            self.inflight = None
            if err is None and n < hi - lo:
                err = OSError(errno.EIO, "short read: the source ended early")
            slow = err is None and spec.slow_below is not None and secs > 0 and n / secs < spec.slow_below
            slow = slow or (err is None and spec.slow_if is not None and spec.slow_if(n, secs))
            data = view[:0] if copied else view[:n]
            out = ReadOutcome(lo, hi - lo, data, err, seconds=secs, slow=slow, copied=n if copied else 0)
            self.results.put((idx, out))
            if (err is not None and spec.stop_on_error) or slow:
                return
            size = min(size * 2, spec.max_size) if err is None else spec.size
            cursor = lo if spec.reverse else hi

    def _read(self, spec: RunSpec, pos: int, view: memoryview) -> tuple[int, OSError | None, bool]:
        """One read: (good bytes, error, whether the kernel copied them to spec.copy_fd)."""
        if spec.copy_fd is not None and self.kernel_copy:
            try:
                return self.source.copy_to(spec.copy_fd, pos, len(view)), None, True  # type: ignore[attr-defined]
            except KernelCopyUnsupported:
                self.kernel_copy = False  # fall back to reads for good
            except OSError as e:
                return getattr(e, "partial", 0), e, True
        try:
            return self.source.read_into(pos, view), None, False
        except OSError as e:
            return getattr(e, "partial", 0), e, False
        except Exception as e:  # a source bug must not kill the rescue silently
            return 0, OSError(errno.EIO, f"source failed: {e!r}"), False


class CallHung(Exception):
    """A call outlived its timeout (`call_bounded`): its thread is left to it."""


class CallCancelled(Exception):
    """The cancel event was set while a call was waited for (`call_bounded`)."""


def call_bounded(fn: Callable[[], T], timeout: float, cancel: threading.Event, name: str = "call") -> T:
    """fn() in a worker thread, waited for as a read is: at most `timeout` seconds, and never
    past the cancel event.  A reopen of a hung drive can block in the kernel like a read does.

    Raises CallHung or CallCancelled (the thread is abandoned, as a hung read's is), else
    whatever fn raised.
    """
    box: dict[str, object] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=target, name=f"station-{name}", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not done.wait(min(0.05, max(deadline - time.monotonic(), 0.001))):
        if cancel.is_set():
            raise CallCancelled(name)
        if time.monotonic() >= deadline:
            raise CallHung(name)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


class StreamReader:
    """Streams runs of reads from a Source in a worker thread, with a timeout and a cancel event."""

    def __init__(
        self,
        source: Source,
        buffer_size: int,
        timeout: float,
        cancel: threading.Event,
        clock: Callable[[], float],
    ) -> None:
        self.source = source
        self.buffer_size = buffer_size
        self.timeout = timeout
        self.cancel = cancel
        self.clock = clock
        self.abandoned = 0
        self._worker = _Worker(source, buffer_size, clock)
        self._stuck: list[_Worker] = []  # abandoned workers whose read may still be in the kernel
        self._active = False  # a run is being read (runs never nest)

    def run(self, spec: RunSpec) -> Iterator[ReadOutcome]:
        """Yield the run's reads in order.  The consumer must be done with an outcome's data
        before asking for the next one.  A hung read is yielded as `hung` and ends the run;
        so does cancellation.  Breaking out of the loop stops the worker cleanly."""
        if spec.max_size > self.buffer_size:
            raise ValueError("read size larger than the reader's buffers")
        if self._active:  # its end marker would end this run at once: a caller bug, say so
            raise RuntimeError("a run was started while another one was still being read")
        self._active = True
        w = self._worker
        w.stop_run.clear()
        w.requests.put(spec)
        held: int | None = None
        ended = False
        try:
            while True:
                item = self._next(w)
                if held is not None:
                    w.free.put(held)
                    held = None
                if item is _END:
                    ended = True
                    return
                if isinstance(item, ReadOutcome):  # hung or cancelled: the worker is gone
                    ended = True
                    yield item
                    return
                held, outcome = item
                yield outcome
        finally:
            self._active = False
            if held is not None:
                w.free.put(held)
            if not ended and w is self._worker:
                self._finish(w)

    def _next(self, w: _Worker) -> object:
        """The worker's next result, or a hung/cancelled outcome after abandoning it."""
        waited = 0.0
        while True:
            step = min(0.25, self.timeout - waited)
            try:
                return w.results.get(timeout=max(step, 0.001))
            except queue.Empty:
                waited += step
                pos, size = w.inflight or (0, 0)
                if self.cancel.is_set():
                    self._abandon()
                    return ReadOutcome(pos, size, memoryview(b""), cancelled=True, seconds=waited)
                if waited >= self.timeout:
                    self._abandon()
                    return ReadOutcome(pos, size, memoryview(b""), hung=True, seconds=waited)

    def _finish(self, w: _Worker) -> None:
        """Stop a run the consumer left early: wait for the worker's end marker."""
        w.stop_run.set()
        w.free.put(None)  # wake it if it waits for a buffer
        while True:
            item = self._next(w)
            if item is _END:
                break
            if isinstance(item, ReadOutcome):
                return  # hung or cancelled: already abandoned
            w.free.put(item[0])
        # drain the wake-up token if the worker never took it
        tokens = []
        while True:
            try:
                tokens.append(w.free.get_nowait())
            except queue.Empty:
                break
        for t in tokens:
            if t is not None:
                w.free.put(t)

    def _abandon(self) -> None:
        """Leave the stuck worker (thread and buffers) behind and start a fresh one."""
        self.abandoned += 1
        self._worker.stop_run.set()
        self._worker.requests.put(None)
        # a new list each time: outstanding() may be iterating the old one in another thread
        self._stuck = [w for w in self._stuck if w.inflight_since is not None] + [self._worker]
        self._worker = _Worker(self.source, self.buffer_size, self.clock)

    def outstanding(self) -> float:
        """Seconds the oldest read still in the kernel has been there (hung, abandoned reads
        included), 0.0 if none.  Safe from any thread: monitors that would compete with a
        struggling drive (SMART polls) wait while this is large."""
        now = self.clock()
        oldest = 0.0
        for w in [self._worker, *self._stuck]:
            since = w.inflight_since  # read once: the worker thread may clear it meanwhile
            if since is not None:
                oldest = max(oldest, now - since)
        return oldest

    def close(self) -> None:
        self._worker.requests.put(None)
