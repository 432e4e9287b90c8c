"""The engine over a drive whose reads hang: the run stays bounded and the source is reopened.

Every run here goes through `run_bounded`, which runs the engine in a thread and fails the test
(instead of hanging the suite) if it does not return in time.  Hung scripted reads block until
the source's `release` event; the fixture sets it at teardown so no thread outlives the test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from station.core.events import Event, Finished, ReadHung, SourceReopened
from station.rescue.engine import Engine, RunResult
from station.rescue.options import KiB, RescueOptions
from station.rescue.rescuemap import RescueMap, Status
from station.sim.scripted import FakeClock, Fault, ScriptedSource, expected_bytes

S = 512
READ_TIMEOUT = 0.3
LIMIT = 20.0  # seconds any engine run may take here


class MemSink:
    path = "memory"

    def __init__(self, size: int) -> None:
        self.buf = bytearray(size)
        self.syncs = 0

    def write_at(self, pos: int, data: memoryview) -> None:
        assert pos + len(data) <= len(self.buf)
        self.buf[pos : pos + len(data)] = data

    def sync(self) -> None:
        self.syncs += 1

    def close(self) -> None:
        pass


@pytest.fixture
def sources() -> Iterator[list[ScriptedSource]]:
    made: list[ScriptedSource] = []
    yield made
    for src in made:
        src.release.set()  # let abandoned hung reads return


def run_bounded(engine: Engine, limit: float = LIMIT) -> tuple[RunResult, float]:
    """engine.run() in a thread; fails if it has not returned within `limit` seconds."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = engine.run()
        except BaseException as e:  # re-raised in the test's thread
            box["error"] = e

    t0 = time.monotonic()
    t = threading.Thread(target=target, name="engine-under-test", daemon=True)
    t.start()
    t.join(limit)
    assert not t.is_alive(), f"engine.run() still running after {limit} s"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"], time.monotonic() - t0  # type: ignore[return-value]


def setup(sources: list, sectors: int, faults: list[Fault], cancel: threading.Event | None = None, **opts):
    size = sectors * S
    clock = FakeClock()
    src = ScriptedSource(size, faults, clock=clock)
    sources.append(src)
    sink = MemSink(size)
    rmap = RescueMap(size)
    events: list[Event] = []
    saved: list[RescueMap] = []
    base = dict(
        cluster_size=4 * KiB,
        max_read_size=16 * KiB,
        skip_size=4 * KiB,
        min_read_rate=None,
        read_timeout=READ_TIMEOUT,
    )
    base.update(opts)
    engine = Engine(
        src,
        sink,
        rmap,
        RescueOptions(**base),
        emit=events.append,
        save_map=lambda m: saved.append(m.copy()),
        clock=clock,
        cancel=cancel,
    )
    return engine, src, sink, rmap, events, saved


def blocks(m: RescueMap) -> list[tuple[int, int, Status]]:
    return [(b.pos, b.size, b.status) for b in m]


def check_consistent(rmap: RescueMap, sink: MemSink, hang_lo: int, hang_hi: int) -> None:
    blocks = list(rmap)
    assert blocks[0].pos == 0 and blocks[-1].end == rmap.size
    for a, b in zip(blocks, blocks[1:], strict=False):
        assert a.end == b.pos and a.status != b.status
    for b in blocks:
        if b.status == Status.FINISHED:
            assert sink.buf[b.pos : b.end] == expected_bytes(b.pos, b.size, S)
    for b in rmap.blocks(hang_lo, hang_hi):
        assert b.status != Status.FINISHED, f"hung area marked finished: {b}"


def test_hanging_sectors_do_not_hang_the_run(sources: list) -> None:
    hang = Fault(100 * S, 102 * S, "hang")
    bad = Fault(300 * S, 301 * S, "bad")
    engine, src, sink, rmap, events, saved = setup(sources, 400, [hang, bad])
    result, elapsed = run_bounded(engine)
    hung = [e for e in events if isinstance(e, ReadHung)]
    assert hung, "no read was reported hung"
    assert elapsed < len(hung) * READ_TIMEOUT + 3.0
    for e in hung:
        assert e.timeout == READ_TIMEOUT
        assert e.pos < hang.end and e.pos + e.size > hang.start, "a read outside the hang reported hung"
    # a hang never lasts into a run of max_hung_reads: good reads come in between
    assert result.outcome == "finished", result.reason
    assert result.exit_status == 0
    check_consistent(rmap, sink, hang.start, hang.end)
    assert [(b.pos, b.end) for b in rmap if b.status == Status.BAD_SECTOR] == [
        (100 * S, 102 * S),
        (300 * S, 301 * S),
    ]
    assert rmap.bytes_in(Status.FINISHED) == 397 * S
    # each hung read reopened the source (a plain read error on a virtual source does not)
    reopened = [e for e in events if isinstance(e, SourceReopened)]
    assert src.reopens == len(hung) == len(reopened)
    assert all("hung" in e.reason for e in reopened)
    assert engine.reader is not None and engine.reader.abandoned == len(hung)
    assert saved and blocks(saved[-1]) == blocks(rmap)


def test_hung_reads_in_a_row_are_reset_by_good_reads(sources: list) -> None:
    hang = Fault(100 * S, 101 * S, "hang")
    engine, src, sink, rmap, events, _ = setup(sources, 400, [hang], max_hung_reads=2)
    result, _ = run_bounded(engine)
    assert sum(1 for e in events if isinstance(e, ReadHung)) >= 2
    assert result.outcome == "finished", result.reason
    assert rmap.status_at(100 * S) == Status.BAD_SECTOR
    check_consistent(rmap, sink, hang.start, hang.end)


def test_a_source_that_keeps_hanging_fails_the_run(sources: list) -> None:
    # the hang is wider than the skips: the read after a hung one hangs as well
    hang = Fault(100 * S, 300 * S, "hang")
    engine, src, sink, rmap, events, saved = setup(sources, 400, [hang], max_hung_reads=2)
    result, elapsed = run_bounded(engine)
    assert result.outcome == "failed"
    assert result.exit_status == 1
    assert "not responding" in result.reason
    hung = [e for e in events if isinstance(e, ReadHung)]
    assert len(hung) == 2
    assert src.reopens == 2
    assert elapsed < 2 * READ_TIMEOUT + 3.0
    fin = [e for e in events if isinstance(e, Finished)]
    assert len(fin) == 1 and fin[0].outcome == "failed"
    # the map stays consistent and was saved as the run ended; no hung byte is finished
    check_consistent(rmap, sink, hang.start, hang.end)
    # pass 1 copied everything before the first hung read, and nothing was finished after it
    assert [(b.pos, b.end) for b in rmap if b.status == Status.FINISHED] == [(0, hung[0].pos)]
    assert hung[0].pos <= hang.start < hung[0].pos + hung[0].size
    for e in hung:
        assert all(b.status != Status.FINISHED for b in rmap.blocks(e.pos, e.pos + e.size))
    assert saved and blocks(saved[-1]) == blocks(rmap)
    assert result.summary.pending > 0


def test_cancel_while_a_read_hangs_stops_promptly(sources: list) -> None:
    hang = Fault(100 * S, 101 * S, "hang")
    cancel = threading.Event()
    engine, src, sink, rmap, events, _ = setup(sources, 400, [hang], read_timeout=30.0, cancel=cancel)
    cancelled_at: list[float] = []

    def canceller() -> None:
        while not any(p <= hang.start < p + n for p, n, _ in list(src.reads)):
            time.sleep(0.005)
        time.sleep(0.05)  # the read is now stuck
        cancelled_at.append(time.monotonic())
        cancel.set()

    t = threading.Thread(target=canceller, daemon=True)
    t.start()
    result, _ = run_bounded(engine)
    done = time.monotonic()
    t.join(1)
    assert result.outcome == "stopped" and result.reason == "interrupted"
    assert done - cancelled_at[0] < 0.5
    assert not any(isinstance(e, ReadHung) for e in events)
    check_consistent(rmap, sink, hang.start, hang.end)


class StuckReopen(ScriptedSource):
    """A drive still hung when it is reopened: the open itself waits (as on a real dying drive)."""

    reopening = threading.Event()

    def reopen(self) -> None:
        self.reopens += 1
        self.reopening.set()
        self.release.wait(60)


def stuck_setup(sources: list, cancel: threading.Event | None = None, **opts):
    engine, src, sink, rmap, events, saved = setup(
        sources, 400, [Fault(100 * S, 101 * S, "hang")], cancel, **opts
    )
    stuck = StuckReopen(src.size, src.faults, clock=src.clock)
    stuck.reopening = threading.Event()
    sources.append(stuck)
    engine.state.source = engine.state.recovery.source = stuck
    return engine, stuck, rmap, events


def test_ctrl_c_while_the_source_is_reopened_stops_promptly(sources: list) -> None:
    """§3.5: the reopen after a hung read waits with the read timeout and the cancel event."""
    cancel = threading.Event()
    engine, src, rmap, events = stuck_setup(sources, cancel, read_timeout=0.3)

    def canceller() -> None:
        src.reopening.wait(20)
        time.sleep(0.05)  # the reopen is now stuck
        cancel.set()

    threading.Thread(target=canceller, daemon=True).start()
    result, elapsed = run_bounded(engine, limit=10)
    assert src.reopening.is_set()
    assert result.outcome == "stopped" and result.reason == "interrupted"
    assert elapsed < 3.0
    assert any(isinstance(e, ReadHung) for e in events)


def test_a_reopen_that_hangs_ends_the_run_in_time(sources: list) -> None:
    engine, src, rmap, events = stuck_setup(sources, read_timeout=0.3)
    result, elapsed = run_bounded(engine, limit=10)
    assert result.outcome == "failed" and "not responding" in result.reason, result.reason
    assert "reopen" in result.reason and elapsed < 3.0
