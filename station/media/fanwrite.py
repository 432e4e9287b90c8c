"""One stream written to many targets at once, in memory that does not grow with their number.

The stream is cut into `Piece`s.  A piece's bytes sit in one slot of a `Ring`: a fixed number of
page-aligned buffers (`O_DIRECT` takes them as they are), however many targets there are.
`Fanout.put` hands each piece to every lane still going; a lane is a thread that takes its
pieces in order (a target's writer, or the hasher); the slot goes back to the ring when the
last lane is done with it.  So the image is read once, the targets are written in parallel,
and the slowest target sets the pace: a bounded ring cannot let one target fall further behind
than the ring holds.

A lane whose work raises (a write error, a target gone) is dropped: the pieces it still owed are
released at once and the other lanes go on.  A lane whose current step has lasted longer than
the stall limit (a write stuck in the kernel on a drive that went away) is dropped the same way
by `Fanout.check`; its thread is left to the kernel.  The slot it was writing from may then be
reused, which can only garble what reaches a target already reported as failed.
"""

from __future__ import annotations

import mmap
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

Range = tuple[int, int]


class Slot:
    """One page-aligned buffer of the ring."""

    def __init__(self, index: int, size: int) -> None:
        self.index = index
        self.buf = mmap.mmap(-1, size)
        self.size = size


class Ring:
    """A fixed number of slots: the whole of the memory a fan-out uses for data."""

    def __init__(self, count: int, slot_size: int) -> None:
        self.slot_size = slot_size
        self.count = count
        self._free: queue.SimpleQueue[Slot] = queue.SimpleQueue()
        for i in range(count):
            self._free.put(Slot(i, slot_size))

    def take(self, timeout: float) -> Slot | None:
        """A free slot, or None when none came free within timeout seconds."""
        try:
            return self._free.get(timeout=timeout)
        except queue.Empty:
            return None

    def give(self, slot: Slot) -> None:
        self._free.put(slot)


@dataclass(eq=False)
class Piece:
    """[pos, pos+size) of the stream: the bytes in `slot`, or zeros when there is no slot."""

    pos: int
    size: int
    slot: Slot | None = None
    holes: tuple[Range, ...] = ()  # absolute ranges inside it that the rescue never read
    skip_holes: bool = False  # the holes are not written (the target keeps its bytes there)
    verified: bool = True  # part of what the targets are checked on afterwards
    left: int = field(default=0, repr=False)  # lanes still to be done with it

    @property
    def end(self) -> int:
        return self.pos + self.size


class Lane:
    """A thread that begins, consumes every piece in order, then finishes; dropped on its first error."""

    def __init__(
        self,
        name: str,
        consume: Callable[[Piece], None],
        finish: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        begin: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._consume, self._finish, self._clock = consume, finish, clock
        self._begin = begin
        self.state = "running"  # running, finishing, done, failed, stalled, stopped
        self.error: str | None = None
        self.done_to = 0  # the end of the last piece consumed
        self.consumed = 0  # bytes consumed
        self.busy_since: float | None = None  # when the step in progress began
        self.started: float | None = None
        self.ended: float | None = None
        self._owed: deque[Piece] = deque()
        self._cond = threading.Condition()
        self._ending = False
        self._end_state = "done"
        self._release: Callable[[Piece], None] = lambda p: None
        self._thread = threading.Thread(target=self._run, name=f"lane {name}", daemon=True)

    @property
    def dropped(self) -> bool:
        return self.state in ("failed", "stalled")

    @property
    def over(self) -> bool:
        return self.state in ("done", "failed", "stalled", "stopped")

    def start(self, release: Callable[[Piece], None]) -> None:
        self._release = release
        self.started = self._clock()
        self._thread.start()

    def offer(self, piece: Piece) -> bool:
        """Queue a piece; False if the lane has been dropped (the caller releases it)."""
        with self._cond:
            if self.dropped:
                return False
            self._owed.append(piece)
            self._cond.notify()
            return True

    def end(self, state: str = "done") -> None:
        """No more pieces: finish after the queued ones (state "stopped" skips the finish step)."""
        with self._cond:
            self._ending = True
            self._end_state = state
            self._cond.notify()

    def drop(self, state: str, error: str) -> bool:
        """Give up on this lane (failed or stalled): its owed pieces are released now."""
        with self._cond:
            if self.over:
                return False
            self.state, self.error, self.ended = state, error, self._clock()
            owed, self._owed = list(self._owed), deque()
            self._cond.notify()
        for p in owed:
            self._release(p)
        return True

    def touch(self) -> None:
        """The step in progress is getting on (a long read-back is not a stall)."""
        if self.busy_since is not None:
            self.busy_since = self._clock()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        if self._begin is not None and not self._step(self._begin):
            return
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._owed or self._ending or self.dropped)
                if self.dropped:
                    return
                if not self._owed:
                    break
                piece = self._owed[0]
            if not self._step(lambda p=piece: self._consume(p)):
                return
            with self._cond:
                if self.dropped:
                    return
                self._owed.popleft()
                self.done_to = piece.end
                self.consumed += piece.size
            self._release(piece)
        if self._end_state == "done" and self._finish is not None:
            with self._cond:
                self.state = "finishing"
            if not self._step(self._finish):
                return
        with self._cond:
            if not self.dropped:
                self.state, self.ended = self._end_state, self._clock()

    def _step(self, work: Callable[[], None]) -> bool:
        """Run one step, timed for the stall check; False (and dropped) if it raised."""
        self.busy_since = self._clock()
        try:
            work()
        except Exception as e:
            self.drop("failed", describe_error(e))
            return False
        finally:
            self.busy_since = None
        return True


def describe_error(e: BaseException) -> str:
    """An error as one line: an OSError's own words (EIO: input/output error), else its type."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    return f"{type(e).__name__}: {e}"


class Fanout:
    """Every piece to every live lane; a slot back to the ring once the last lane is done with it."""

    def __init__(self, ring: Ring, lanes: list[Lane]) -> None:
        self.ring = ring
        self.lanes = lanes
        self._lock = threading.Lock()
        for lane in lanes:
            lane.start(self.release)

    def put(self, piece: Piece) -> None:
        live = [lane for lane in self.lanes if not lane.dropped]
        with self._lock:
            piece.left = len(live) + 1  # +1: held here until every lane has it
        for lane in live:
            if not lane.offer(piece):
                self.release(piece)
        self.release(piece)

    def release(self, piece: Piece) -> None:
        with self._lock:
            piece.left -= 1
            free = piece.left == 0 and piece.slot is not None
        if free:
            assert piece.slot is not None
            self.ring.give(piece.slot)

    def end(self, state: str = "done") -> None:
        for lane in self.lanes:
            lane.end(state)

    def check(self, stall_after: float, now: float) -> list[Lane]:
        """Drop the lanes whose current step has lasted longer than stall_after seconds."""
        out = []
        for lane in self.lanes:
            since = lane.busy_since
            stalled = since is not None and now - since > stall_after
            if stalled and lane.drop("stalled", f"no answer for {now - since:.0f} s"):
                out.append(lane)
        return out

    @property
    def over(self) -> bool:
        return all(lane.over for lane in self.lanes)
