"""Power-cycle recovery in the software engine, end to end: a virtual drive that stops answering
after K errors until power-cycled, its power fed through an LCUS relay emulated on a real pty."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from drvkit import assert_map_true_to_drive, bounded

from drivers.lcus import LcusRelay
from station.core.events import Event, Finished, PowerCycled, ReadHung
from station.jobs.power import PowerRecovery, find_block_device, recovery_for
from station.media.base import Refused
from station.media.source import LocalSource
from station.rescue.engine import Engine, RecoveryFailed
from station.rescue.options import RescueOptions
from station.rescue.rescuemap import RescueMap, Status
from station.sim.content import expected_bytes
from station.sim.drive import SimDrive
from station.sim.model import load_model
from station.sim.source import SimSource


class MemSink:
    path = "memory"

    def __init__(self, size: int) -> None:
        self.buf = bytearray(size)

    def write_at(self, pos: int, data: memoryview) -> None:
        self.buf[pos : pos + len(data)] = data

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


def run_engine(drive: SimDrive, recover, **opts) -> tuple:
    src = SimSource(drive)
    sink = MemSink(drive.model.size)
    rmap = RescueMap(drive.model.size)
    events: list[Event] = []
    o = RescueOptions(read_timeout=0.15, **opts)
    engine = Engine(src, sink, rmap, o, emit=events.append, recover=recover)
    result = bounded(engine.run, 60)
    return result, rmap, sink, events, engine


def test_a_hung_drive_is_power_cycled_through_the_relay_and_the_rescue_finishes(
    emulators, make_model
) -> None:
    drive = SimDrive(load_model(make_model(size="4Mi", bad=25, cluster=8, hang=12)))
    board = emulators.lcus(4)
    board.wire(3, drive, "nc")
    relay = LcusRelay(board.port)
    rec = recovery_for(SimSource(drive), relay, 3, hold=0.02, wait=5, max_cycles=50)
    try:
        result, rmap, sink, events, engine = run_engine(drive, rec)
    finally:
        rec.close()
    assert result.outcome == "finished", result.reason
    cycles = [e for e in events if isinstance(e, PowerCycled)]
    assert len(cycles) == rec.cycles == engine.power_cycles == drive.stats.power_cycles >= 2
    assert all(c.detail.startswith(f"drive {drive.model.serial} back") for c in cycles)
    assert sum(1 for e in events if isinstance(e, ReadHung)) == len(cycles)
    # through the real relay, polarity nc: on (power cut), then off (power back), every time
    assert board.switches == [(3, True), (3, False)] * len(cycles)
    # a hung read says nothing about the medium: nothing readable is called bad
    assert_map_true_to_drive(rmap, drive)
    assert rmap.bytes_in(Status.BAD_SECTOR) == sum(b - a for a, b in drive.bad_ranges()) * 512
    for b in rmap:
        if b.status == Status.FINISHED:
            assert sink.buf[b.pos : b.end] == expected_bytes(b.pos, b.size)


def test_gives_up_after_n_cycles(emulators, make_model) -> None:
    drive = SimDrive(load_model(make_model(size="4Mi", bad=25, cluster=8, hang=3)))
    board = emulators.lcus(2)
    board.wire(1, drive, "nc")
    rec = recovery_for(SimSource(drive), LcusRelay(board.port), 1, hold=0.01, wait=2, max_cycles=2)
    try:
        result, rmap, *_ = run_engine(drive, rec)
    finally:
        rec.close()
    assert (result.outcome, result.exit_status) == ("failed", 1)
    assert result.reason == "source not responding: gave up after 2 power cycles"
    assert drive.stats.power_cycles == 2
    assert_map_true_to_drive(rmap, drive)


def test_a_relay_that_goes_away_ends_the_run_cleanly(emulators, make_model) -> None:
    drive = SimDrive(load_model(make_model(size="4Mi", bad=25, cluster=8, hang=5)))
    board = emulators.lcus(2)
    board.wire(1, drive, "nc")
    rec = recovery_for(SimSource(drive), LcusRelay(board.port), 1, hold=0.01, wait=2, max_cycles=5)
    board.unplug()  # the relay's USB cable falls out before the drive hangs
    try:
        result, _, _, events, _ = run_engine(drive, rec)
    finally:
        rec.close()
    assert result.outcome == "failed"
    assert result.reason.startswith("source not responding: power cycle 1 failed: ")
    assert "went away" in result.reason
    assert isinstance(events[-1], Finished)


def test_a_drive_that_does_not_come_back() -> None:
    class Relay:
        def cycle(self, channel, hold, polarity) -> None:
            pass

    t = [0.0]
    rec = PowerRecovery(
        Relay(), 1, serial="S123", locate=lambda: None, reattach=lambda p: None, wait=3.0,
        sleep=lambda s: t.__setitem__(0, t[0] + s), clock=lambda: t[0],
    )  # fmt: skip
    with pytest.raises(RecoveryFailed, match=r"drive S123 did not come back within 3 s of power cycle 1"):
        rec("hung")


def test_found_again_under_a_new_name() -> None:
    names = iter([None, None, "/dev/sdc"])
    reattached: list[str] = []
    rec = PowerRecovery(
        type("R", (), {"cycle": lambda *a: None})(), 1, serial="WD-1", locate=lambda: next(names),
        reattach=reattached.append, sleep=lambda s: None,
    )  # fmt: skip
    assert rec("hung").startswith("drive WD-1 back as /dev/sdc")
    assert reattached == ["/dev/sdc"]


def test_find_block_device_by_serial_in_sysfs(tmp_path: Path) -> None:
    sys_root = tmp_path / "sys"
    for name, dev, serial, part in (("sda", "8:0", "OTHER", False), ("sda1", "8:1", "OTHER", True),
                                    ("sdc", "8:32", "WD-WCC4E1234567", False)):  # fmt: skip
        d = sys_root / "class" / "block" / name
        (d / "device").mkdir(parents=True)
        (d / "dev").write_text(dev + "\n")
        (d / "device" / "serial").write_text(serial + "\n")
        if part:
            (d / "partition").write_text("1\n")
        bd = sys_root / "dev" / "block" / dev
        bd.parent.mkdir(parents=True, exist_ok=True)
        bd.symlink_to(d)
    assert find_block_device("WD-WCC4E1234567", sys_root) == "/dev/sdc"
    assert find_block_device("NOPE", sys_root) is None


def test_local_source_reattach_keeps_its_fd(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    a.write_bytes(b"A" * 4096)
    b.write_bytes(b"B" * 4096)
    c.write_bytes(b"C" * 512)
    src = LocalSource(str(a))
    fd = src.fd
    src.reattach(str(b))
    assert src.fd == fd and src.path == str(b) and src.identity.path == str(b)
    buf = bytearray(4)
    src.read_into(0, memoryview(buf))
    assert bytes(buf) == b"BBBB"
    with pytest.raises(OSError) as e:
        src.reattach(str(c))  # not the same size: not the same drive
    assert e.value.errno == errno.ENODEV
    src.close()


def test_recovery_refuses_sources_it_cannot_find_again(tmp_path: Path, emulators) -> None:
    f = tmp_path / "img"
    f.write_bytes(bytes(4096))
    board = emulators.lcus(2)
    relay = LcusRelay(board.port)
    src = LocalSource(str(f))
    try:
        with pytest.raises(Refused, match="is not a drive"):
            recovery_for(src, relay, 1)
    finally:
        src.close()
        relay.close()
    assert os.path.exists(board.port)
