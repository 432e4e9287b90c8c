"""The one lifecycle every job runs through, with a fake job: map first, session, events, record."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from station.core.events import Finished, MapSaved, Notice
from station.core.exits import EXIT_OK, EXIT_STOPPED
from station.core.identity import SourceIdentity
from station.core.record import SessionRecord, SessionResult
from station.core.session import SessionStore
from station.jobs.base import Job
from station.jobs.lifecycle import Ending, JobRun, Lifecycle, exit_status
from station.media.base import Refused
from station.rescue.mapfile import read_mapfile, write_mapfile
from station.rescue.rescuemap import RescueMap, Status

SIZE = 4096


@dataclass
class FakeJob(Lifecycle):
    """Rescues its first KiB, finds half a KiB bad, says what happened at each step."""

    refuse: str | None = None
    fail: Exception | None = None
    finishes_itself: bool = False
    steps: list[str] = field(default_factory=list)
    map_at_open: bool | None = None

    def open(self) -> None:
        self.steps.append("open")
        self.map_at_open = os.path.exists(self.map_path)
        if self.refuse:
            raise Refused(self.refuse)

    def describe(self) -> SessionRecord:
        source = SourceIdentity("fake:0", "virtual", SIZE, model="Fake drive")
        return SessionRecord(
            method="fake", source=source, destinations=["/nowhere/x.img"], options={"speed": 1}
        )

    def work(self, run: JobRun) -> Ending:
        self.steps.append("work")
        assert run.session.record.state == "running"
        helper = threading.Thread(target=lambda: run.emit(Notice(run.t(), "from another thread")))
        helper.start()
        helper.join()
        self.rmap.set_status(0, 1024, Status.FINISHED)
        self.rmap.set_status(1024, 512, Status.BAD_SECTOR)
        run.save_map(self.rmap)
        run.emit(MapSaved(run.t(), self.map_path, len(self.rmap)))
        if self.fail is not None:
            raise self.fail
        if self.finishes_itself:
            run.emit(Finished(run.t(), "finished", "done by itself"))
            return Ending("finished", "done by itself")
        return Ending("stopped", "enough for a test", read_errors=2, power_cycles=1, hashes={"sha256": "00"})

    def close(self) -> None:
        self.steps.append("close")


def fake_job(tmp_path: Path, **kw) -> FakeJob:
    kw.setdefault("map_path", str(tmp_path / "x.map"))
    kw.setdefault("rmap", RescueMap(SIZE))
    kw.setdefault("new_map", True)
    return FakeJob(command=["station", "fake"], store=SessionStore(tmp_path / "sessions"), **kw)


def test_a_job_through_the_lifecycle(tmp_path: Path) -> None:
    job = fake_job(tmp_path)
    assert isinstance(job, Job)
    events = []
    result = job.run(emit=events.append)
    assert job.steps == ["open", "work", "close"] and job.map_at_open, "the map exists before the destination"
    m = read_mapfile(job.map_path)
    assert m.bytes_in(Status.FINISHED) == 1024 and m.bytes_in(Status.BAD_SECTOR) == 512
    assert (result.outcome, result.reason, result.read_errors, result.exit_status) == (
        "stopped",
        "enough for a test",
        2,
        EXIT_STOPPED,
    )
    (s,) = job.store.list()
    assert s.id == job.session.id
    r = s.record
    assert (r.kind, r.method, r.state, r.reason, r.resumed) == (
        "imaging",
        "fake",
        "stopped",
        "enough for a test",
        False,
    )
    assert r.mapfile == os.path.abspath(job.map_path) and r.command == ["station", "fake"]
    assert r.source.model == "Fake drive" and r.dest == "/nowhere/x.img" and r.options == {"speed": 1}
    assert r.result == SessionResult(
        rescued=1024, size=SIZE, bad=512, pending=SIZE - 1536, read_errors=2, exit_status=EXIT_STOPPED,
        power_cycles=1, hashes={"sha256": "00"},
    )  # fmt: skip
    assert r.smart.state == "off" and r.smart.why_off == "not asked for"  # health is every job's
    assert r.drive["model"] == "Fake drive" and "cpu" in r.hardware
    logged = list(s.events())
    assert logged == events, "every event goes to the log and to the view"
    assert [e.kind for e in logged] == ["notice", "map_saved", "finished"]
    assert (logged[-1].outcome, logged[-1].reason) == ("stopped", "enough for a test")
    on_disk = json.loads((s.dir / "session.json").read_text())
    assert SessionRecord.from_dict(on_disk).to_dict() == on_disk


def test_a_refused_job_creates_nothing(tmp_path: Path) -> None:
    job = fake_job(tmp_path, refuse="refusing: the target is too small")
    with pytest.raises(Refused, match="too small"):
        job.run()
    assert job.steps == ["open", "close"] and job.map_at_open
    assert not os.path.exists(job.map_path) and job.store.list() == [] and job.session is None


def test_a_refused_resume_keeps_its_map(tmp_path: Path) -> None:
    old = RescueMap(SIZE)
    old.set_status(0, 2048, Status.FINISHED)
    write_mapfile(str(tmp_path / "x.map"), old)
    before = (tmp_path / "x.map").read_bytes()
    job = fake_job(tmp_path, rmap=read_mapfile(str(tmp_path / "x.map")), new_map=False, refuse="no")
    with pytest.raises(Refused):
        job.run()
    assert (tmp_path / "x.map").read_bytes() == before and job.store.list() == []


def test_a_map_that_cannot_be_written_refuses_the_job(tmp_path: Path) -> None:
    job = fake_job(tmp_path, map_path=str(tmp_path / "gone" / "x.map"))
    with pytest.raises(Refused, match="cannot write the mapfile"):
        job.run()
    assert job.steps == ["close"] and job.store.list() == []


def test_a_job_that_raises_is_recorded_as_failed(tmp_path: Path) -> None:
    job = fake_job(tmp_path, fail=RuntimeError("the cable fell out"))
    with pytest.raises(RuntimeError):
        job.run()
    assert job.steps == ["open", "work", "close"]
    (s,) = job.store.list()
    assert (s.state, s.record.reason) == ("failed", "RuntimeError: the cable fell out")
    assert s.record.result.rescued == 1024 and s.record.result.exit_status == EXIT_STOPPED
    last = list(s.events())[-1]
    assert isinstance(last, Finished) and last.outcome == "failed"


def test_a_job_that_emits_its_own_finished_gets_no_second_one(tmp_path: Path) -> None:
    job = fake_job(tmp_path, finishes_itself=True)
    assert job.run().exit_status == EXIT_OK
    (s,) = job.store.list()
    assert [e.kind for e in s.events()].count("finished") == 1 and s.record.result.exit_status == EXIT_OK


def test_a_resumed_job_is_recorded_as_resumed(tmp_path: Path) -> None:
    write_mapfile(str(tmp_path / "x.map"), RescueMap(SIZE))
    job = fake_job(tmp_path, rmap=read_mapfile(str(tmp_path / "x.map")), new_map=False)
    job.run()
    assert job.session.record.resumed is True


def test_a_resumed_job_says_first_what_it_goes_on_from(tmp_path: Path) -> None:
    old = RescueMap(SIZE)
    old.set_status(0, 2048, Status.FINISHED)
    old.set_status(2048, 512, Status.BAD_SECTOR)
    write_mapfile(str(tmp_path / "x.map"), old)
    events = []
    fake_job(tmp_path, rmap=read_mapfile(str(tmp_path / "x.map")), new_map=False).run(emit=events.append)
    assert (
        isinstance(events[0], Notice) and events[0].message == "resuming: 2048 B of 4096 B rescued, 512 B bad"
    )
    fresh: list = []
    fake_job(tmp_path / "fresh", map_path=str(tmp_path / "y.map")).run(emit=fresh.append)
    assert not any(isinstance(e, Notice) and e.message.startswith("resuming") for e in fresh)


def test_exit_status() -> None:
    assert [exit_status(o) for o in ("finished", "stopped", "failed")] == [
        EXIT_OK,
        EXIT_STOPPED,
        EXIT_STOPPED,
    ]


def test_the_session_store_is_private(tmp_path: Path) -> None:
    """§3.13: serials, SMART data, hostnames and the host's inventory are the owner's alone."""
    import stat

    old = os.umask(0o022)
    try:
        store = SessionStore(tmp_path / "data" / "station" / "sessions")
        job = FakeJob(map_path=str(tmp_path / "x.map"), rmap=RescueMap(SIZE), new_map=True, store=store)
        job.run()
        (s,) = store.list()
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "data" / "station") == 0o700
    assert mode(store.root) == 0o700 and mode(s.dir) == 0o700
    assert {p.name: mode(p) for p in s.dir.iterdir()} == {"session.json": 0o600, "events.jsonl": 0o600}
