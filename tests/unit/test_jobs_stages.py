"""Ranges asked for first: the engine's hook (RunControl.prioritize ends a run at its next read,
its map saved with its place), a staged job reading them before the rest and going on where it
was, a stopped session resuming with them, and the record kept beside the map."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from station.core.control import RunControl
from station.core.events import Event, Progress, StageStarted
from station.core.session import SessionStore
from station.jobs.imaging import prepare
from station.jobs.stage_record import StageRecord, load_record, record_path, request_priority
from station.jobs.stages import widen
from station.rescue.engine import Engine
from station.rescue.mapfile import read_mapfile
from station.rescue.options import KiB, MiB, RescueOptions
from station.rescue.rescuemap import Phase, RescueMap, Status
from station.rescue.steering import YIELDED
from station.sim.scripted import FakeClock, Fault, ScriptedSource, expected_bytes

SIZE = 4 * MiB
FAR = (3 * MiB, 3 * MiB + 64 * KiB)  # what is asked for first: far ahead of where the copy is


def drive(faults: list[Fault] | None = None, **kw) -> ScriptedSource:
    """A 4 MiB drive read in 10 simulated seconds (progress comes 4 times a simulated second)."""
    kw.setdefault("rate", SIZE / 10)
    return ScriptedSource(SIZE, faults or [], clock=FakeClock(), **kw)


class NullSink:
    path = "memory"

    def write_at(self, pos: int, data: memoryview) -> None:
        pass

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


def small_reads() -> RescueOptions:
    return RescueOptions(cluster_size=16 * KiB, max_read_size=16 * KiB, save_interval=1000.0)


def test_a_priority_request_ends_the_run_at_its_next_read_with_its_place_kept() -> None:
    src = drive()
    rmap = RescueMap(SIZE)
    control = RunControl()
    saved: list[RescueMap] = []

    def emit(e: Event) -> None:
        if isinstance(e, Progress) and e.rescued >= 256 * KiB and not control.yielding:
            control.prioritize([FAR])

    engine = Engine(
        src, NullSink(), rmap, small_reads(), emit=emit, save_map=lambda m: saved.append(m.copy()),
        control=control, clock=src.clock,
    )  # fmt: skip
    r = engine.run()
    assert (r.outcome, r.reason) == ("stopped", YIELDED)
    assert rmap.phase == Phase.COPYING and rmap.pass_ == 1
    assert 256 * KiB <= rmap.current_pos < SIZE // 2  # where the copy was, not its end
    assert saved and saved[-1].bytes_in(Status.FINISHED) == rmap.bytes_in(Status.FINISHED)
    assert control.take_priority() == [FAR] and not control.yielding


def _job(tmp_path: Path, src: ScriptedSource, **kw):
    return prepare(
        "scripted", str(tmp_path / "out.img"), source=src, command=["station", "image"],
        store=SessionStore(tmp_path / "store"), options=small_reads(), **kw,
    )  # fmt: skip


def _first_read_in(src: ScriptedSource, lo: int, hi: int) -> int:
    return next(i for i, (pos, n, _) in enumerate(src.reads) if pos < hi and pos + n > lo)


def _check_image(tmp_path: Path, faults: list[Fault]) -> RescueMap:
    m = read_mapfile(tmp_path / "out.img.map")
    data = (tmp_path / "out.img").read_bytes()
    for b in m:
        if b.status == Status.FINISHED:
            assert data[b.pos : b.end] == expected_bytes(b.pos, b.size), b
    bad = [(b.pos, b.end) for b in m if b.status == Status.BAD_SECTOR]
    assert bad == [(f.start, f.end) for f in faults]
    return m


def test_a_running_plain_job_reads_what_is_asked_first_then_goes_on_where_it_was(tmp_path: Path) -> None:
    faults = [Fault(3 * MiB + 8 * KiB, 3 * MiB + 9 * KiB, "bad")]  # a bad sector inside what is asked for
    src = drive(faults)
    job = _job(tmp_path, src)
    control = RunControl()
    events: list[Event] = []
    at: list[int] = []

    def emit(e: Event) -> None:
        events.append(e)
        if isinstance(e, Progress) and e.rescued >= 512 * KiB and not at:
            at.append(len(src.reads))
            control.prioritize([FAR])

    r = job.run(emit=emit, control=control, clock=src.clock)
    assert r.outcome == "finished"
    stages = [e.stage for e in events if isinstance(e, StageStarted)]
    assert stages == ["priority", "rest"]
    first_far = _first_read_in(src, *FAR)
    assert first_far <= at[0] + 4  # at once (the reader may have read a few ahead: never delivered)
    read_before = max(pos + n for pos, n, _ in src.reads[:first_far])
    after = [pos for pos, _, _ in src.reads[first_far:] if not FAR[0] <= pos < FAR[1]]
    assert 512 * KiB <= after[0] <= read_before  # the copy went on where it was, not from the start
    m = _check_image(tmp_path, faults)
    assert m.phase == Phase.FINISHED
    rec = load_record(str(tmp_path / "out.img.map"))
    assert rec is not None and rec.priority == [] and rec.resume_at is None


def test_a_stopped_session_resumes_with_the_ranges_asked_for_first(tmp_path: Path) -> None:
    src = drive()
    job = _job(tmp_path, src)
    control = RunControl()

    def emit(e: Event) -> None:
        if isinstance(e, Progress) and e.rescued >= 512 * KiB:
            control.stop()

    assert job.run(emit=emit, control=control, clock=src.clock).outcome == "stopped"
    stopped = read_mapfile(tmp_path / "out.img.map")
    assert not (tmp_path / "out.img.map.stages.json").exists()  # a plain job nobody asked anything of
    said = request_priority(str(tmp_path / "out.img.map"), [FAR])
    assert "resumed" in said
    rec = load_record(str(tmp_path / "out.img.map"))
    assert rec is not None and rec.priority == [FAR]

    src2 = drive()
    events: list[Event] = []
    assert _job(tmp_path, src2).run(emit=events.append, clock=src2.clock).outcome == "finished"
    assert FAR[0] <= src2.reads[0][0] < FAR[1]  # first of all
    outside = next(pos for pos, _, _ in src2.reads if not FAR[0] <= pos < FAR[1])
    assert outside == stopped.current_pos  # then on from where it stopped
    assert [e.stage for e in events if isinstance(e, StageStarted)] == ["priority", "rest"]
    _check_image(tmp_path, [])


def test_a_request_for_a_running_job_goes_through_a_file_it_takes(tmp_path: Path) -> None:
    src = drive(rate=SIZE / 2.5, real_sleep=1.0)  # 2.5 s of reads, really
    job = _job(tmp_path, src)
    events: list[Event] = []
    said: list[str] = []

    def emit(e: Event) -> None:
        events.append(e)
        if isinstance(e, Progress) and e.rescued >= 256 * KiB and not said:
            threading.Thread(target=lambda: said.append(request_priority(job.map_path, [FAR]))).start()

    assert job.run(emit=emit, clock=src.clock).outcome == "finished"
    assert said == ["the running session reads them next"]
    first_far = _first_read_in(src, *FAR)
    later = src.reads[first_far:]
    assert any(512 * KiB < pos < FAR[0] for pos, _, _ in later)  # asked for before the copy got there
    assert not list(tmp_path.glob("out.img.map.priority-*"))
    assert [e.stage for e in events if isinstance(e, StageStarted)] == ["priority", "rest"]


def test_the_record_round_trips_and_a_torn_one_is_not_trusted(tmp_path: Path) -> None:
    m = str(tmp_path / "x.map")
    rec = StageRecord(
        ["*.doc"], "files", 2, [(0, 4096)], [(8192, 12288)], [(1 << 20, 2 << 20)], ("?", 1, 4096), ["n"]
    )
    rec.save(m)
    assert load_record(m) == rec
    Path(record_path(m)).write_text('{"stage": "files", "domain": [[1, ')
    assert load_record(m) is None
    Path(record_path(m)).write_text(json.dumps({"domain": [["a", 2]]}))
    assert load_record(m) is None


def test_widen_aligns_and_joins_short_gaps() -> None:
    got = widen([(100, 300), (5000, 5100), (200_000, 200_001)], 1 << 20, gap=8192)
    assert got == [(0, 8192), (196608, 200704)]
    assert widen([(1_048_000, 1_048_600)], 1_048_576) == [(1_044_480, 1_048_576)]


def test_ranges_asked_for_that_are_rescued_already_cost_no_stage(tmp_path: Path) -> None:
    src = drive()
    control = RunControl()

    def emit(e: Event) -> None:
        if isinstance(e, Progress) and e.rescued >= 512 * KiB:
            control.stop()

    assert _job(tmp_path, src).run(emit=emit, control=control, clock=src.clock).outcome == "stopped"
    request_priority(str(tmp_path / "out.img.map"), [(0, 64 * KiB)])  # read already
    src2 = drive()
    events: list[Event] = []
    assert _job(tmp_path, src2).run(emit=events.append, clock=src2.clock).outcome == "finished"
    assert "priority" not in [e.stage for e in events if isinstance(e, StageStarted)]
    assert src2.reads[0][0] >= 512 * KiB
    rec = load_record(str(tmp_path / "out.img.map"))
    assert rec is not None and rec.priority == []
