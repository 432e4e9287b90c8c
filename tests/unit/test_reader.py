"""StreamReader on its own: runs of reads in a worker thread, with timeouts and cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from station.rescue.reader import RING, ReadOutcome, RunSpec, StreamReader
from station.sim.scripted import FakeClock, Fault, ScriptedSource, expected_bytes

S = 512


@pytest.fixture
def cancel() -> threading.Event:
    return threading.Event()


@pytest.fixture
def cleanup() -> Iterator[list]:
    """Things to release at teardown: sources (hung reads) and readers."""
    items: list = []
    yield items
    for it in items:
        if isinstance(it, StreamReader):
            it.close()
        else:
            it.release.set()


def make_reader(source, cancel: threading.Event, cleanup: list, *, buffer=16 * S, timeout=5.0, clock=None):
    reader = StreamReader(source, buffer, timeout, cancel, clock or time.monotonic)
    cleanup.append(reader)
    return reader


def collect(reader: StreamReader, spec: RunSpec) -> list[tuple[ReadOutcome, bytes]]:
    """The run's outcomes, each with a copy of its data taken before asking for the next."""
    return [(o, bytes(o.data)) for o in reader.run(spec)]


# -- runs cover their range exactly -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 200 * S), (7 * S, 150 * S), (100, 150 * S + 300), (0, 3 * S)],
)
@pytest.mark.parametrize("reverse", [False, True])
def test_run_covers_the_range_with_aligned_growing_chunks(
    start: int, end: int, reverse: bool, cancel: threading.Event, cleanup: list
) -> None:
    src = ScriptedSource(200 * S)
    reader = make_reader(src, cancel, cleanup)
    spec = RunSpec(start, end, reverse=reverse, size=S, max_size=16 * S, align=S)
    got = collect(reader, spec)
    assert got, "empty run"
    outs = [o for o, _ in got]
    assert all(o.ok for o in outs)
    # contiguous, in the run's direction, covering [start, end) exactly
    chunks = [(o.pos, o.pos + o.size) for o in outs]
    if reverse:
        chunks.reverse()
    assert chunks[0][0] == start and chunks[-1][1] == end
    for (_, a_end), (b_pos, _) in zip(chunks, chunks[1:], strict=False):
        assert a_end == b_pos
    # every boundary inside the range is aligned
    for lo, hi in chunks:
        assert lo == start or lo % S == 0
        assert hi == end or hi % S == 0
    # data is what the drive holds, and the source saw exactly these reads
    for o, data in got:
        assert data == expected_bytes(o.pos, o.size, S)
    assert [(p, n) for p, n, _ in src.reads] == [(o.pos, o.size) for o in outs]
    # sizes grow 1, 2, 4, 8, 16 sectors then stay at the maximum (but for the range's edges)
    sizes = [o.size for o in outs]
    assert max(sizes) <= 16 * S
    if end - start >= 64 * S:
        inner = sizes[1:-1]
        assert inner[:3] == [2 * S, 4 * S, 8 * S]
        assert all(s == 16 * S for s in inner[4:])


def test_run_larger_than_buffers_is_refused(cancel: threading.Event, cleanup: list) -> None:
    reader = make_reader(ScriptedSource(64 * S), cancel, cleanup, buffer=8 * S)
    with pytest.raises(ValueError):
        list(reader.run(RunSpec(0, 64 * S, size=S, max_size=16 * S)))


# -- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("partial", [False, True])
def test_run_stops_at_the_first_error_with_partial_data(
    partial: bool, cancel: threading.Event, cleanup: list
) -> None:
    faults = [Fault(20 * S, 21 * S, "bad"), Fault(40 * S, 41 * S, "bad")]
    src = ScriptedSource(64 * S, faults, partial_reads=partial)
    reader = make_reader(src, cancel, cleanup)
    got = collect(reader, RunSpec(0, 64 * S, size=8 * S, max_size=8 * S))
    assert [(o.pos // S, o.size // S, o.ok) for o, _ in got] == [(0, 8, True), (8, 8, True), (16, 8, False)]
    err, data = got[-1]
    assert err.error is not None and not err.hung and not err.cancelled
    if partial:
        assert data == expected_bytes(16 * S, 4 * S, S)  # the good sectors before the bad one
    else:
        assert data == b""
    # nothing was read past the error
    assert max(p + n for p, n, _ in src.reads) == 24 * S
    # the reader goes on with the next run
    got = collect(reader, RunSpec(24 * S, 32 * S, size=8 * S, max_size=8 * S))
    assert [(o.pos, o.ok) for o, _ in got] == [(24 * S, True)]
    assert got[0][1] == expected_bytes(24 * S, 8 * S, S)


def test_reverse_run_stops_at_the_first_error(cancel: threading.Event, cleanup: list) -> None:
    src = ScriptedSource(64 * S, [Fault(20 * S, 21 * S, "bad")])
    reader = make_reader(src, cancel, cleanup)
    got = collect(reader, RunSpec(0, 64 * S, reverse=True, size=8 * S, max_size=8 * S))
    assert [o.pos // S for o, _ in got] == [56, 48, 40, 32, 24, 16]
    assert [o.ok for o, _ in got] == [True] * 5 + [False]
    assert min(p for p, _, _ in src.reads) == 16 * S


def test_run_without_stop_on_error_goes_on_and_restarts_small(cancel: threading.Event, cleanup: list) -> None:
    src = ScriptedSource(64 * S, [Fault(3 * S, 4 * S, "bad")])
    reader = make_reader(src, cancel, cleanup)
    got = collect(reader, RunSpec(0, 16 * S, size=S, max_size=8 * S, stop_on_error=False))
    assert [(o.pos // S, o.size // S, o.ok) for o, _ in got] == [
        (0, 1, True),
        (1, 2, True),
        (3, 4, False),
        (7, 1, True),  # back to the first size after the error
        (8, 2, True),
        (10, 4, True),
        (14, 2, True),
    ]


def test_a_source_exception_becomes_an_error_outcome(cancel: threading.Event, cleanup: list) -> None:
    class Broken(ScriptedSource):
        def read_into(self, pos: int, buf: memoryview) -> int:
            if pos >= 8 * S:
                raise RuntimeError("driver bug")
            return super().read_into(pos, buf)

    reader = make_reader(Broken(64 * S), cancel, cleanup)
    got = collect(reader, RunSpec(0, 64 * S, size=8 * S, max_size=8 * S))
    assert [o.ok for o, _ in got] == [True, False]
    assert "driver bug" in str(got[-1][0].error)


def test_short_read_is_an_error(cancel: threading.Event, cleanup: list) -> None:
    src = ScriptedSource(10 * S)
    reader = make_reader(src, cancel, cleanup)
    got = collect(reader, RunSpec(0, 16 * S, size=8 * S, max_size=8 * S))
    assert [(o.pos // S, o.ok) for o, _ in got] == [(0, True), (8, False)]
    assert got[-1][1] == expected_bytes(8 * S, 2 * S, S)


def test_slow_read_is_delivered_and_ends_the_run(cancel: threading.Event, cleanup: list) -> None:
    clock = FakeClock()
    src = ScriptedSource(64 * S, [Fault(24 * S, 32 * S, "slow", delay=0.05)], clock=clock)
    reader = make_reader(src, cancel, cleanup, clock=clock)
    got = collect(reader, RunSpec(0, 64 * S, size=8 * S, max_size=8 * S, slow_below=1e6))
    assert [(o.pos // S, o.ok, o.slow) for o, _ in got] == [
        (0, True, False),
        (8, True, False),
        (16, True, False),
        (24, True, True),
    ]
    assert got[-1][1] == expected_bytes(24 * S, 8 * S, S)
    assert got[-1][0].seconds == pytest.approx(0.05, rel=0.01)
    assert max(p + n for p, n, _ in src.reads) == 32 * S


# -- hung reads and cancellation ----------------------------------------------------------------------


def test_hung_read_is_abandoned_after_the_timeout(cancel: threading.Event, cleanup: list) -> None:
    src = ScriptedSource(64 * S, [Fault(10 * S, 11 * S, "hang")])
    cleanup.append(src)
    reader = make_reader(src, cancel, cleanup, timeout=0.3)
    t0 = time.monotonic()
    got = collect(reader, RunSpec(0, 64 * S, size=8 * S, max_size=8 * S))
    elapsed = time.monotonic() - t0
    assert [(o.pos // S, o.ok) for o, _ in got] == [(0, True), (8, False)]
    hung = got[-1][0]
    assert hung.hung and not hung.cancelled and hung.error is None
    assert (hung.pos, hung.size, bytes(hung.data)) == (8 * S, 8 * S, b"")
    assert hung.seconds == pytest.approx(0.3)
    assert 0.3 <= elapsed < 1.5
    assert reader.abandoned == 1
    # a fresh worker serves the next run while the old one is still stuck
    got = collect(reader, RunSpec(16 * S, 48 * S, size=8 * S, max_size=8 * S))
    assert [o.pos // S for o, _ in got] == [16, 24, 32, 40]
    for o, data in got:
        assert o.ok and data == expected_bytes(o.pos, o.size, S)
    # a second hang is abandoned as well
    got = collect(reader, RunSpec(8 * S, 16 * S, size=8 * S, max_size=8 * S))
    assert got[-1][0].hung and reader.abandoned == 2


def test_cancel_during_a_hang_returns_promptly(cancel: threading.Event, cleanup: list) -> None:
    src = ScriptedSource(64 * S, [Fault(10 * S, 11 * S, "hang")])
    cleanup.append(src)
    reader = make_reader(src, cancel, cleanup, timeout=30.0)
    cancelled_at: list[float] = []

    def canceller() -> None:
        while len(src.reads) < 2:  # the hanging read has started
            time.sleep(0.005)
        time.sleep(0.05)
        cancelled_at.append(time.monotonic())
        cancel.set()

    t = threading.Thread(target=canceller, daemon=True)
    t.start()
    got = collect(reader, RunSpec(0, 64 * S, size=8 * S, max_size=8 * S))
    done = time.monotonic()
    t.join(1)
    out = got[-1][0]
    assert out.cancelled and not out.hung and not out.ok
    assert (out.pos, out.size) == (8 * S, 8 * S)
    assert done - cancelled_at[0] < 0.5
    assert reader.abandoned == 1
    # once the cancel is cleared the reader works again
    cancel.clear()
    got = collect(reader, RunSpec(16 * S, 32 * S, size=8 * S, max_size=8 * S))
    assert [(o.pos // S, o.ok) for o, _ in got] == [(16, True), (24, True)]


# -- leaving a run early ---------------------------------------------------------------------------------


def test_breaking_out_at_an_error_leaves_the_reader_usable(cancel: threading.Event, cleanup: list) -> None:
    # the engine's pattern when trimming: leave the run at its (last) failed read
    faults = [Fault((i * 50 + 3) * S, (i * 50 + 4) * S, "bad") for i in range(20)]
    src = ScriptedSource(1000 * S, faults)
    reader = make_reader(src, cancel, cleanup, timeout=1.0)
    for i in range(20):
        start = i * 50 * S
        for o in reader.run(RunSpec(start, start + 50 * S, size=S, max_size=S)):
            if not o.ok:
                assert o.error is not None and o.pos == start + 3 * S
                break
            assert bytes(o.data) == expected_bytes(o.pos, S, S)
    got = collect(reader, RunSpec(4 * S, 50 * S, size=S, max_size=8 * S))
    assert sum(o.size for o, _ in got) == 46 * S
    assert all(o.ok and d == expected_bytes(o.pos, o.size, S) for o, d in got)
    assert reader.abandoned == 0


def test_breaking_out_of_runs_leaves_the_reader_usable(cancel: threading.Event, cleanup: list) -> None:
    src = ScriptedSource(4000 * S)
    # a short timeout: a buffer lost per break starves the worker and shows up as a hang
    reader = make_reader(src, cancel, cleanup, timeout=1.0)
    for i in range(40):
        start = (i * 97) * S
        run = reader.run(RunSpec(start, start + 1000 * S, size=S, max_size=8 * S))
        taken = []
        for o in run:
            assert o.ok, f"break #{i}: {o}"
            taken.append((o.pos, bytes(o.data)))
            if len(taken) == 2:
                break
        run.close()
        assert taken[0] == (start, expected_bytes(start, S, S))
        assert taken[1] == (start + S, expected_bytes(start + S, 2 * S, S))
    # a full run afterwards: first chunk at its start, nothing stale from the old runs
    got = collect(reader, RunSpec(3000 * S, 3100 * S, size=S, max_size=8 * S))
    assert got[0][0].pos == 3000 * S
    assert sum(o.size for o, _ in got) == 100 * S
    for o, data in got:
        assert o.ok and data == expected_bytes(o.pos, o.size, S)
    assert reader.abandoned == 0


def test_breaking_out_while_the_worker_is_ahead(cancel: threading.Event, cleanup: list) -> None:
    class Gated(ScriptedSource):
        """Reads after the first wait until the consumer has left the run."""

        gate = threading.Event()

        def read_into(self, pos: int, buf: memoryview) -> int:
            if pos > 0 and pos < 500 * S:
                self.gate.wait(5)
            return super().read_into(pos, buf)

    src = Gated(1000 * S)
    reader = make_reader(src, cancel, cleanup, timeout=5.0)
    run = reader.run(RunSpec(0, 500 * S, size=S, max_size=8 * S))
    first = next(run)
    assert first.ok and first.pos == 0
    threading.Timer(0.05, src.gate.set).start()  # the worker is blocked in a read when we leave
    run.close()
    got = collect(reader, RunSpec(600 * S, 640 * S, size=8 * S, max_size=8 * S))
    assert [o.pos // S for o, _ in got] == [600, 608, 616, 624, 632]
    for o, data in got:
        assert data == expected_bytes(o.pos, o.size, S)
    assert reader.abandoned == 0


# -- buffers of an abandoned worker ------------------------------------------------------------------------


class ScribblingSource:
    """Delegates to a ScriptedSource, except one read that hangs and, once released, keeps
    writing garbage into the buffer it was given (a late DMA completion, say)."""

    def __init__(self, inner: ScriptedSource, trap: int) -> None:
        self.inner = inner
        self.identity = inner.identity
        self.trap = trap
        self.release = threading.Event()
        self.stop = threading.Event()
        self.scribbles = 0

    @property
    def size(self) -> int:
        return self.inner.size

    @property
    def sector_size(self) -> int:
        return self.inner.sector_size

    @property
    def alignment(self) -> int:
        return 1

    def read_into(self, pos: int, buf: memoryview) -> int:
        if pos == self.trap:
            self.release.wait(30)
            junk = b"X" * len(buf)
            while not self.stop.is_set():
                buf[:] = junk
                self.scribbles += 1
                time.sleep(0.0002)
            return len(buf)
        return self.inner.read_into(pos, buf)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        self.release.set()
        self.stop.set()


def test_buffers_of_an_abandoned_worker_are_never_reused(cancel: threading.Event, cleanup: list) -> None:
    src = ScribblingSource(ScriptedSource(400 * S), trap=8 * S)
    try:
        reader = make_reader(src, cancel, cleanup, buffer=8 * S, timeout=0.3)
        got = collect(reader, RunSpec(0, 32 * S, size=8 * S, max_size=8 * S))
        assert got[-1][0].hung
        # the stuck read comes back to life and scribbles over its buffer from now on
        src.release.set()
        deadline = time.monotonic() + 5
        while src.scribbles == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert src.scribbles > 0
        before = src.scribbles
        n = 0
        for o in reader.run(RunSpec(16 * S, 400 * S, size=8 * S, max_size=8 * S)):
            want = expected_bytes(o.pos, o.size, S)
            assert o.ok and bytes(o.data) == want
            time.sleep(0.002)  # hold the outcome while the scribbler runs
            assert bytes(o.data) == want, f"data at {o.pos} changed while held: buffer shared"
            n += 1
        assert n == (400 - 16) // 8 >= 4 * RING
        assert src.scribbles > before + n  # the scribbler really ran alongside
    finally:
        src.stop.set()
        src.release.set()


def test_sector_reads_stay_sector_sized_in_both_directions_whatever_the_alignment() -> None:
    """§3.3: with O_DIRECT's alignment larger than a sector (4 KiB on a file), a reverse run of
    sector reads must read sectors, not alignment units: a failed unit would mark readable
    sectors bad."""
    from station.rescue.reader import RunSpec, next_chunk

    spec = RunSpec(0, 16384, reverse=True, size=512, max_size=512, align=4096)
    assert next_chunk(spec, 8192, 512) == (7680, 8192)
    assert next_chunk(spec, 7680, 512) == (7168, 7680)
    forward = RunSpec(0, 16384, size=512, max_size=512, align=4096)
    assert next_chunk(forward, 8192, 512) == (8192, 8704)
    assert next_chunk(forward, 8704, 512) == (8704, 9216)
