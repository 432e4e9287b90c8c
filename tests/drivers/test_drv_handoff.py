"""Sessions handed off to the emulated serial imager: same events, session record and mapfile as a
software session; faults end them as interrupted with the map saved; a rerun resumes."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from drvkit import assert_image_right, assert_map_true_to_drive, blocks, bounded, eventually

from drivers.serial_imager import SerialImager
from station.core.control import RunControl
from station.core.events import (
    Event,
    Finished,
    MapSaved,
    Notice,
    Paused,
    PhaseStarted,
    Progress,
    ReadFailed,
    Resumed,
)
from station.core.session import SessionStore
from station.jobs.base import Job
from station.jobs.handoff import default_map_path, prepare_handoff
from station.media.base import Refused
from station.rescue.mapfile import read_mapfile
from station.rescue.rescuemap import Status


def handoff(emu, tmp_path: Path, map_name: str = "disk.map", timeout: float = 1.0, **kw):
    store = SessionStore(tmp_path / "sessions")
    driver = SerialImager(emu.port, timeout=timeout)
    job = prepare_handoff(
        f"serial-imager:{emu.port}", "S1", "T1", str(tmp_path / map_name), store=store, driver=driver,
        command=["station", "image", "--imager", f"serial-imager:{emu.port}", "S1", "T1"], **kw,
    )  # fmt: skip
    job.poll_interval = 0.05
    return job, store


def run(job, limit: float = 30.0, **kw) -> tuple:
    events: list[Event] = []
    result = bounded(lambda: job.run(emit=events.append, **kw), limit)
    return result, events


def test_a_hardware_session_looks_like_a_software_one(emulators, make_model, tmp_path) -> None:
    target = str(tmp_path / "t1.img")
    emu, core, drive = emulators.imager(make_model(bad=20, hang=30), time_scale=0.0005, target=target)
    job, store = handoff(emu, tmp_path, save_interval=0.1)
    assert isinstance(job, Job)
    result, events = run(job)
    assert (result.outcome, result.exit_status) == ("finished", 0)
    kinds = {type(e) for e in events}
    assert {Progress, PhaseStarted, ReadFailed, MapSaved, Finished} <= kinds
    assert isinstance(events[-1], Finished) and events[-1].outcome == "finished"
    # the phases seen, in the device's order (polling may miss a phase shorter than a poll)
    plan = [("copying", 1, "forward"), ("copying", 2, "reverse"), ("trimming", 1, "forward")]
    plan.append(("scraping", 1, "forward"))
    phases = [(e.phase, e.pass_, e.direction) for e in events if isinstance(e, PhaseStarted)]
    assert phases[0] == plan[0] and phases[-1] == plan[-1]
    assert [plan.index(p) for p in phases] == sorted({plan.index(p) for p in phases})
    rescued = [e.rescued for e in events if isinstance(e, Progress)]
    assert rescued == sorted(rescued) and rescued[-1] == drive.readable_sectors * 512
    assert sum(1 for e in events if isinstance(e, MapSaved)) >= 3  # saved as the job went
    # the mapfile: GNU ddrescue format, the device's map, true to the drive
    m = read_mapfile(tmp_path / "disk.map")
    assert blocks(m) == blocks(core.map)
    assert_map_true_to_drive(m, drive)
    assert_image_right(target, m)
    if shutil.which("ddrescuelog"):
        r = subprocess.run(["ddrescuelog", "-t", str(tmp_path / "disk.map")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    # the session record: method = the driver, the same result fields, plus hashes and the device log
    (s,) = store.list()
    rec = s.record
    assert (s.state, rec.method) == ("finished", "serial-imager")
    assert rec.source.serial == drive.model.serial and rec.source.size == drive.model.size
    assert rec.result.rescued == m.bytes_in(Status.FINISHED) and rec.result.exit_status == 0
    assert rec.result.hashes == core.hashes and len(core.hashes["sha256"]) == 64
    assert "power-cycling" in Path(rec.result.device_log).read_text()
    assert rec.options["device"]["serial"] == "SI2-EMU-0001"
    assert rec.kind == "imaging" and rec.dest == f"{job.spec}:T1"
    assert rec.drive["serial"] == drive.model.serial and rec.smart.state == "off" and "cpu" in rec.hardware
    logged = [type(e) for e in s.events()]
    assert Finished in logged and PhaseStarted in logged


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ("unplug@0.3", "went away"),
        ("mute@0.3", "not answering"),
        ("garbage@0.3", "garbage"),
        ("unknown@0.3", "unknown reply 'WHAT'"),
    ],
)
def test_a_device_fault_mid_job_ends_the_session_interrupted_with_its_map(
    emulators, make_model, tmp_path, fault, why
) -> None:
    emu, core, drive = emulators.imager(make_model(size="8Mi", bad=60), time_scale=0.002, faults=(fault,))
    job, store = handoff(emu, tmp_path, timeout=0.3)
    t0 = time.monotonic()
    result, events = run(job, limit=15)
    assert time.monotonic() - t0 < 10
    assert (result.outcome, result.exit_status) == ("interrupted", 1)
    assert why in result.reason and "the map holds what the imager reported" in result.reason
    m = read_mapfile(tmp_path / "disk.map")
    assert m.bytes_in(Status.FINISHED) > 0  # what was reported before the fault is kept
    for b in m:  # and it is the truth: the device's map agrees wherever ours is not pending
        if b.status == Status.FINISHED:
            assert all(x.status == Status.FINISHED for x in core.map.blocks(b.pos, b.end))
    (s,) = store.list()
    assert s.state == "interrupted" and why in s.record.reason
    assert events[-1] == Finished(events[-1].t, "interrupted", result.reason)


def test_rerun_resumes_where_the_interrupted_session_stopped(emulators, make_model, tmp_path) -> None:
    model = make_model(size="8Mi", bad=30)
    target = str(tmp_path / "t1.img")
    emu, core, _ = emulators.imager(model, time_scale=0.002, target=target, faults=("unplug@0.4",))
    job, _ = handoff(emu, tmp_path, timeout=0.3)
    first, _ = run(job)
    assert first.outcome == "interrupted"
    before = read_mapfile(tmp_path / "disk.map")
    done_before = before.bytes_in(Status.FINISHED)
    assert 0 < done_before < before.size
    # the imager is plugged back in (a fresh emulator on the same target drive)
    emu2, core2, drive2 = emulators.imager(model, target=target)
    job2, store = handoff(emu2, tmp_path)
    assert not job2.new_map
    second, events = run(job2)
    assert second.outcome == "finished"
    assert any(isinstance(e, Notice) and e.message.startswith("resuming") for e in events)
    m = read_mapfile(tmp_path / "disk.map")
    assert_map_true_to_drive(m, drive2)
    assert_image_right(target, m)
    assert not m.summary().pending
    # only what was left was handed to the imager: the finished part was not read again
    assert drive2.stats.covered <= drive2.readable_sectors * 512 - done_before
    runs = sorted(store.list(), key=lambda s: s.record.started)
    assert [s.record.resumed for s in runs] == [False, True]


def test_changes_left_when_the_job_ends_are_all_read(emulators, make_model, tmp_path, monkeypatch) -> None:
    """A poll reads a bounded number of changes; what is left when the device is done is drained."""
    import drivers.imager_link

    monkeypatch.setattr(drivers.imager_link, "PAGE", 3)
    monkeypatch.setattr(drivers.imager_link, "MAX_PAGES_PER_POLL", 1)
    emu, core, drive = emulators.imager(make_model(bad=40, cluster=2))
    job, _ = handoff(emu, tmp_path)
    result, _ = run(job)
    assert result.outcome == "finished"
    assert len(core._changes) > 100  # far more than one poll can carry
    assert blocks(read_mapfile(tmp_path / "disk.map")) == blocks(core.map)


def test_stopping_aborts_the_device_job(emulators, make_model, tmp_path) -> None:
    emu, core, _ = emulators.imager(make_model(size="8Mi", bad=60), time_scale=0.003)
    job, store = handoff(emu, tmp_path)
    cancel = threading.Event()
    threading.Timer(0.4, cancel.set).start()
    result, events = run(job, cancel=cancel)
    assert (result.outcome, result.reason, result.exit_status) == ("stopped", "interrupted", 1)
    assert core.outcome == "aborted"
    assert store.list()[0].state == "stopped"
    assert read_mapfile(tmp_path / "disk.map").bytes_in(Status.FINISHED) > 0


def test_pause_and_resume_reach_the_device(emulators, make_model, tmp_path) -> None:
    """...and paused time is left out of the elapsed time and the rates, as in the engine."""
    emu, core, _ = emulators.imager(make_model(size="8Mi", bad=40), time_scale=0.002)
    job, _ = handoff(emu, tmp_path)
    control = RunControl()
    events: list[Event] = []
    skipped = [0.0]  # the pause lasts an hour on the job's clock

    def clock() -> float:
        return time.monotonic() + skipped[0]

    t = threading.Thread(
        target=lambda: job.run(emit=events.append, control=control, clock=clock), daemon=True
    )
    t.start()
    eventually(lambda: core.state == "running")
    control.pause("technician", "checking the drive")
    eventually(lambda: core.state == "paused")
    eventually(lambda: any(isinstance(e, Paused) for e in events))
    assert next(e for e in events if isinstance(e, Paused)).reasons == ["checking the drive"]
    at_pause = [e for e in events if isinstance(e, Progress)][-1]
    assert at_pause.current_rate == 0.0  # nothing is read while paused
    skipped[0] = 3600.0
    time.sleep(0.2)
    while_paused = [e for e in events if isinstance(e, Progress)][-1]
    assert while_paused.elapsed < at_pause.elapsed + 1.0 and while_paused.t > 3600
    control.resume("technician")
    eventually(lambda: core.state in ("running", "done"))
    t.join(30)
    assert not t.is_alive()
    assert any(isinstance(e, Resumed) for e in events)
    assert events[-1].outcome == "finished"
    last = [e for e in events if isinstance(e, Progress)][-1]
    assert last.elapsed < 600 and last.t > 3600 and last.average_rate > last.size / 600


def test_refusals_change_nothing(emulators, make_model, tmp_path) -> None:
    emu, _, drive = emulators.imager(make_model(bad=0))
    store = SessionStore(tmp_path / "sessions")
    spec = f"serial-imager:{emu.port}"
    cases = [
        (dict(spec=spec, source="S2", dest="T1"), "has no port S2 (ports: S1 (source), T1 (target))"),
        (dict(spec=spec, source="S1", dest="S1"), "the source and the destination are the same port"),
        (dict(spec=spec, source="T1", dest="S1"), "T1 is a target port, not a source port"),
        (dict(spec="serial-imager:/dev/ttyUSB77", source="S1", dest="T1"), "no such port"),
        (dict(spec="acme:/dev/x", source="S1", dest="T1"), "no driver named 'acme'"),
        (dict(spec="lcus", source="S1", dest="T1"), "is not DRIVER:PORT"),
        (dict(spec=f"lcus:{emu.port}", source="S1", dest="T1"), "is a power driver"),
    ]
    for kw, msg in cases:
        with pytest.raises(Refused, match=msg.replace("(", r"\(").replace(")", r"\)")):
            prepare_handoff(map_path=str(tmp_path / "m.map"), store=store, **kw)
    big = tmp_path / "big.map"
    big.write_text(f"0x0 ?\n0x0 {drive.model.size * 2:#x} ?\n")
    with pytest.raises(Refused, match="mapfile covers"):
        prepare_handoff(spec, "S1", "T1", str(big), store=store)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.map", "model1.toml", "xdg-data"]
    assert store.list() == []


def test_default_map_is_named_after_the_source_drive(emulators, make_model) -> None:
    emu, _, drive = emulators.imager(make_model(bad=0))
    with SerialImager(emu.port) as im:
        assert default_map_path(im.describe(), "S1") == f"{drive.model.serial}.map"
