"""Drive health inside a real imaging job: the engine, the session store, the monitor thread and
the stand-in smartctl together.

The source is a scripted drive (station.sim.scripted) whose identity says it is the block device
/dev/sdau, so the job asks the stand-in smartctl about it; its reads take real time so that the
monitor polls while the engine reads.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from station.core.events import Event, Notice, Paused, Resumed, SmartPolled
from station.core.session import SessionStore
from station.health.monitor import MonitorLimits
from station.health.watch import HealthOptions
from station.jobs.imaging import prepare
from station.rescue.options import RescueOptions
from station.sim.scripted import Fault, ScriptedSource, expected_bytes

MiB = 1024 * 1024
ATA = "-d ata --all /dev/sdau"
LIMIT = 60.0


def disguised(src: ScriptedSource, path: str = "/dev/sdau") -> ScriptedSource:
    """The scripted drive, presented to the job as a block device."""
    src.identity = dataclasses.replace(src.identity, kind="block", path=path)
    return src


def at_temperature(fake, text: str, temp: int) -> str:
    text = fake.set_attr(text, 190, f"{temp} (Min/Max 22/{temp})")
    return fake.set_attr(text, 194, f"{temp} (0 16 0 0 0)")


def wait_for(cond: Callable[[], bool], limit: float = 20.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class Run:
    """A job running in a thread (as the CLI runs it), its events collected with their times."""

    def __init__(self, job) -> None:
        self.job = job
        self.events: list[tuple[float, Event]] = []
        self.lock = threading.Lock()
        self.cancel = threading.Event()
        self.box: dict = {}
        self.thread = threading.Thread(target=self._work)
        self.thread.start()

    def _emit(self, e: Event) -> None:
        with self.lock:
            self.events.append((time.monotonic(), e))

    def _work(self) -> None:
        try:
            self.box["result"] = self.job.run(emit=self._emit, cancel=self.cancel)
        except BaseException as e:
            self.box["error"] = e

    def of(self, kind: type) -> list:
        with self.lock:
            return [e for _, e in self.events if isinstance(e, kind)]

    def join(self):
        self.thread.join(LIMIT)  # a test that fails early still ends its job (its monitor uses our env)
        assert not self.thread.is_alive(), "the job did not end"
        if "error" in self.box:
            raise self.box["error"]
        return self.box["result"]


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "sessions")


def test_hot_drive_pauses_the_job_and_cooling_resumes_it(fake_smartctl, store, tmp_path):
    fake_smartctl.add("ata_hdd")
    healthy = fake_smartctl.text(ATA)
    fake_smartctl.put(ATA, at_temperature(fake_smartctl, healthy, 65))
    size = 16 * MiB
    src = disguised(ScriptedSource(size, rate=8e6, real_sleep=1.0))  # about 2 s of reading
    limits = MonitorLimits(interval=0.1, paused_interval=0.1, max_temp=60, cool_margin=3, timeout=10)
    job = prepare(
        "/dev/sdau", str(tmp_path / "image.bin"), source=src, store=store,
        health=HealthOptions(limits=limits), command=["station", "image", "test"],
    )  # fmt: skip
    run = Run(job)
    try:
        assert wait_for(lambda: run.of(Paused)), "the hot drive never paused the job"
        paused = run.of(Paused)[0]
        assert any("65 °C, above the limit of 60 °C" in r for r in paused.reasons)
        # the reader's ring may finish the reads already asked for; then the drive rests
        time.sleep(1.0)
        reads = len(src.reads)
        time.sleep(0.8)
        assert len(src.reads) == reads, "the engine kept reading while paused"
        assert len(src.reads) < 16, "the whole drive was read during the pause"
        fake_smartctl.put(ATA, at_temperature(fake_smartctl, healthy, 50))
        assert wait_for(lambda: run.of(Resumed)), "the cooled drive never resumed the job"
        result = run.join()
    finally:
        run.cancel.set()
        run.join()
    assert result.outcome == "finished"
    assert (tmp_path / "image.bin").read_bytes() == expected_bytes(0, size)

    record = json.loads((job.session.dir / "session.json").read_text())
    assert record["drive"]["model"] == "OOS12000G" and record["drive"]["serial"] == "00008AXB"
    assert record["drive"]["source"] == "smart"
    smart = record["smart"]
    assert smart["state"] == "on" and smart["device"] == "/dev/sdau"
    assert smart["before"]["verdict"] == "WARNING" and smart["before"]["attributes"]["temperature_c"] == 65
    assert smart["after"]["verdict"] == "GOOD" and smart["after"]["source"] == "fresh reading"
    assert "temperature c 65 → 50" in smart["changes"] and "verdict WARNING → GOOD" in smart["changes"]
    assert smart["polling"]["polls"] >= 2
    assert record["hardware"]["cpu"]["logical_cpus"] >= 1 and record["hardware"]["memory"]["total_bytes"] > 0

    logged = [json.loads(line) for line in (job.session.dir / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in logged]
    assert "smart" in kinds and "paused" in kinds and "resumed" in kinds
    said = [e["message"] for e in logged if e["kind"] == "notice"]
    assert any(m.startswith("SMART before imaging: WARNING (temperature 65 °C") for m in said)
    assert any(
        m.startswith("SMART before → after imaging (fresh reading): verdict WARNING → GOOD") for m in said
    )


def test_no_poll_while_a_read_hangs(fake_smartctl, store, tmp_path):
    fake_smartctl.add("ata_hdd")
    size = 4 * MiB
    hang_at = 256 * 1024
    src = disguised(
        ScriptedSource(size, faults=[Fault(hang_at, hang_at + 4096, "hang")], rate=1e6, real_sleep=1.0)
    )
    limits = MonitorLimits(interval=0.05, paused_interval=0.05, busy_after=0.3, recheck=0.05, timeout=10)
    options = RescueOptions(read_timeout=1.0)
    job = prepare(
        "/dev/sdau", str(tmp_path / "image.bin"), source=src, store=store, options=options,
        health=HealthOptions(limits=limits), command=["station", "image", "test"],
    )  # fmt: skip
    run = Run(job)
    try:

        def polls() -> int:
            return fake_smartctl.calls().count(ATA)

        assert wait_for(lambda: polls() >= 3), "no polls while the drive read normally"
        assert wait_for(lambda: any(not ok for _, _, ok in src.reads)), "the hanging read never started"
        hung_at = time.monotonic()
        time.sleep(0.5)  # past busy_after: from here on no poll may start
        quiet_from = time.monotonic()
        before = polls()
        time.sleep(1.5)  # the engine abandons the read after 1 s, but it stays stuck in the "kernel"
        assert polls() == before, "SMART was polled while a read was stuck in the drive"
        with run.lock:
            during = [t for t, e in run.events if isinstance(e, SmartPolled) and quiet_from + 0.2 < t]
        assert during == [], f"SmartPolled {len(during)} times during the hang"
        assert time.monotonic() - hung_at >= 1.9
        src.release.set()  # the stuck read returns at last
        assert wait_for(lambda: polls() > before, limit=5.0), "polling did not come back after the hang"
    finally:
        src.release.set()
        run.cancel.set()
        run.join()


def test_smart_off_for_files_and_without_smartctl(tmp_path, store, monkeypatch):
    src_file = tmp_path / "source.bin"
    src_file.write_bytes(b"x" * 65536)
    job = prepare(str(src_file), str(tmp_path / "a.img"), store=store, health=HealthOptions(), command=["t"])
    assert job.run().outcome == "finished"
    rec = job.session.record
    assert rec.smart.state == "off" and rec.smart.why_off == "the source is a file, not a drive"
    assert rec.drive["capacity_bytes"] == 65536 and rec.drive["source"] == "file"
    assert "cpu" in rec.hardware and rec.host == socket.gethostname()

    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    src = disguised(ScriptedSource(MiB, rate=0))
    events: list[Event] = []
    job = prepare(
        "/dev/sdau", str(tmp_path / "b.img"), source=src, store=store, health=HealthOptions(), command=["t"]
    )
    assert job.run(emit=events.append).outcome == "finished"
    rec = job.session.record
    assert rec.smart.state == "off"
    assert rec.smart.why_off == "smartctl not found on PATH (install smartmontools)"
    notes = [e.message for e in events if isinstance(e, Notice)]
    assert "SMART off for this session: smartctl not found on PATH (install smartmontools)" in notes


def test_baseline_read_that_hangs_does_not_hold_the_job(fake_smartctl, store, tmp_path):
    """A drive whose SMART hangs is imaged anyway, after the timeout, with SMART off."""
    fake_smartctl.add("ata_hdd")
    fake_smartctl.hang(ATA)
    src = disguised(ScriptedSource(MiB, rate=0))
    limits = MonitorLimits(timeout=1.0)
    job = prepare(
        "/dev/sdau", str(tmp_path / "c.img"), source=src, store=store, health=HealthOptions(limits=limits),
        command=["t"],
    )  # fmt: skip
    t0 = time.monotonic()
    assert job.run().outcome == "finished"
    assert time.monotonic() - t0 < 10
    smart = job.session.record.smart
    assert smart.state == "off" and "did not answer within 1 s" in smart.why_off
