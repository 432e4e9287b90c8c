"""The emulated imager (its firmware's strategy) and the serial and USB imager drivers against it."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
import serial
from drvkit import S, assert_image_right, assert_map_true_to_drive, blocks, bounded, eventually

from drivers.emulate.imager import ImagerCore
from drivers.emulate.serial_imager import Fault
from drivers.emulate.usb import UsbImagerDevice, virtual_backend
from drivers.imager_proto import FrameReader, encode_frame, format_body, parse_body
from drivers.serial_imager import SerialImager
from drivers.usb_imager import UsbImager
from station.hw.api import DeviceGone, DeviceNotFound, DeviceRefused, DeviceTimeout, JobSpec, ProtocolError
from station.rescue.rescuemap import RescueMap, Status
from station.sim.drive import SimDrive
from station.sim.model import load_model


def follow(im, size: int, limit: float = 30.0, every: float = 0.02) -> tuple[RescueMap, list]:
    """Poll a started job to its end, mirroring its map; returns (map, statuses seen)."""
    m = RescueMap(size)
    seen = []

    def run():
        while True:
            u = im.poll()
            seen.append(u.status)
            for c in u.changes:
                m.set_status(c.pos, c.size, c.status)
            if u.status.state == "done":
                return
            time.sleep(every)

    bounded(run, limit)
    return m, seen


# -- the firmware ---------------------------------------------------------------------------------------


def test_imager_strategy_rescues_everything_readable_and_only_that(make_model, tmp_path) -> None:
    drive = SimDrive(load_model(make_model(size="4Mi", bad=15, cluster=16, hang=25)))
    target = str(tmp_path / "t1.img")
    core = ImagerCore(drive, target)
    try:
        assert core.handle("START", [], {"src": "S1", "dst": "T1"}).ok
        assert core.wait(30)
        m = core.map
        assert not m.summary().pending
        assert_map_true_to_drive(m, drive)
        assert m.bytes_in(Status.BAD_SECTOR) == sum(b - a for a, b in drive.bad_ranges()) * S
        assert_image_right(target, m)
        assert drive.stats.hangs > 0 and core.cycles == drive.stats.power_cycles > 0  # it powered S1 itself
        res = core.handle("RESULT", [], {})
        assert res.fields["outcome"] == "finished"
        with open(target, "rb") as f:
            assert res.fields["sha256"] == hashlib.sha256(f.read()).hexdigest()
        log = [i.fields["text"] for i in core.handle("LOG", [], {"max": "1000"}).items]
        assert any("power-cycling" in line for line in log) and any("scraping" in line for line in log)
    finally:
        core.close()


def test_commands_refused_when_they_make_no_sense(make_model) -> None:
    core = ImagerCore(SimDrive(load_model(make_model(bad=0))))
    try:
        assert core.handle("FROB", [], {}).code == 2
        assert core.handle("START", [], {"src": "T1", "dst": "S1"}).code == 8  # roles: S1 is never written
        assert core.handle("START", [], {"src": "S2", "dst": "T1"}).code == 3
        assert core.handle("PAUSE", [], {}).code == 5
        assert core.handle("RESULT", [], {}).code == 5
        assert core.handle("AREA", [], {"pos": "1", "size": "200"}).code == 3  # not on a sector boundary
        assert core.handle("CHANGES", [], {"from": "5"}).code == 3
    finally:
        core.close()
    empty = ImagerCore(None)
    try:
        assert empty.handle("START", [], {"src": "S1", "dst": "T1"}).code == 6
    finally:
        empty.close()


# -- the serial driver ------------------------------------------------------------------------------------


def test_serial_driver_mirrors_a_job_exactly_even_after_a_resync(emulators, make_model) -> None:
    emu, core, drive = emulators.imager(make_model(bad=20, hang=30), time_scale=0.0005, max_changes=16)
    with SerialImager(emu.port) as im:
        d = im.describe()
        assert (d.serial, d.protocol) == ("SI2-EMU-0001", 1)
        assert [(p.name, p.role, p.drive, p.size) for p in d.ports] == [
            ("S1", "source", True, drive.model.size),
            ("T1", "target", True, drive.model.size),
        ]
        assert {"pause", "abort", "area", "source-power"} <= d.capabilities
        im.start(JobSpec("S1", "T1"))
        m, seen = follow(im, drive.model.size, every=0.15)  # slow polls: the device forgets changes
        assert core._base > 0, "the device's change log never overflowed: no resync was tested"
        assert blocks(m) == blocks(core.map)
        phases = [s.phase for s in seen]
        assert phases.index("copying") < phases.index("trimming") < phases.index("scraping")
        assert seen[-1].read_errors == core.read_errors > 0
        r = im.result()
        assert r.outcome == "finished" and set(r.hashes) == {"md5", "sha256"} and r.log


def test_a_job_limited_to_areas_reads_nothing_else(emulators, make_model) -> None:
    emu, core, drive = emulators.imager(make_model(bad=0))
    areas = ((0x10000, 0x20000), (0x200000, 0x8000))
    with SerialImager(emu.port) as im:
        im.start(JobSpec("S1", "T1", areas))
        m, _ = follow(im, drive.model.size)
    done = [(b.pos, b.size) for b in m if b.status == Status.FINISHED]
    assert done == list(areas)
    assert drive.stats.covered == sum(s for _, s in areas)


def test_pause_resume_and_abort(emulators, make_model) -> None:
    emu, core, drive = emulators.imager(make_model(size="8Mi", bad=40), time_scale=0.002)
    with SerialImager(emu.port) as im:
        im.start(JobSpec("S1", "T1"))
        im.pause()
        eventually(lambda: im.poll().status.state == "paused")
        before = drive.stats.reads
        time.sleep(0.2)
        assert drive.stats.reads == before
        im.resume()
        eventually(lambda: drive.stats.reads > before)
        im.abort()
        eventually(lambda: im.poll().status.state == "done")
        r = im.result()
        assert r.outcome == "aborted" and r.hashes == {}  # an aborted job ends at once: no hashing
        with pytest.raises(DeviceRefused, match="no job running"):
            im.pause()


def test_a_retried_command_is_answered_again_not_executed_again(emulators, make_model) -> None:
    """The host resends a command whose reply it lost, with the same tag."""
    emu, core, _ = emulators.imager(make_model(bad=0), time_scale=0.01)
    with serial.Serial(emu.port, timeout=0.5) as port:
        frame = encode_frame(format_body(41, "START", (), {"src": "S1", "dst": "T1"}))
        port.write(frame)
        port.write(frame)
        reader = FrameReader()
        replies: list[str] = []
        deadline = time.monotonic() + 5
        while len(replies) < 2 and time.monotonic() < deadline:
            replies += reader.feed(port.read(max(1, port.in_waiting)))
    assert [parse_body(r)[:2] for r in replies] == [(41, "OK"), (41, "OK")]
    assert core.job == 1 and emu.commands == 1


@pytest.mark.parametrize(
    ("setup", "error", "match"),
    [
        ({"faults": ("mute",)}, DeviceTimeout, "not answering"),
        ({"faults": ("garbage",)}, ProtocolError, "garbage"),
        ({"faults": ("unknown",)}, ProtocolError, "unknown reply 'WHAT'"),
        ({"protocol": 7}, ProtocolError, r"unsupported firmware 2\.1\.0 \(protocol 7"),
    ],
)
def test_faults_at_open_are_one_clear_error(emulators, make_model, setup, error, match) -> None:
    emu, _, _ = emulators.imager(make_model(bad=0), **setup)
    t0 = time.monotonic()
    with pytest.raises(error, match=match):
        bounded(lambda: SerialImager(emu.port, timeout=0.3), 10)
    assert time.monotonic() - t0 < 3


def test_missing_port_and_silent_port() -> None:
    with pytest.raises(DeviceNotFound, match="no such port"):
        SerialImager("/dev/ttyACM99")
    m, s = os.openpty()
    try:
        with pytest.raises(DeviceTimeout):
            bounded(lambda: SerialImager(os.ttyname(s), timeout=0.2, retries=1), 5)
    finally:
        os.close(m)
        os.close(s)


def test_unplugged_mid_job(emulators, make_model) -> None:
    emu, _, drive = emulators.imager(make_model(size="8Mi", bad=40), time_scale=0.002, faults=("unplug@0.2",))
    with SerialImager(emu.port) as im:
        im.start(JobSpec("S1", "T1"))
        with pytest.raises(DeviceGone, match="went away"):
            follow(im, drive.model.size, limit=10)
    assert not os.path.exists(emu.port) or emu.unplugged.is_set()


def test_fault_spec_parsing() -> None:
    assert Fault.parse("unplug@1.5") == Fault("unplug", 1.5)
    assert Fault.parse("mute") == Fault("mute", 0.0)
    for bad in ("explode", "mute@soon", "mute@-1"):
        with pytest.raises(ValueError):
            Fault.parse(bad)


# -- the USB driver -----------------------------------------------------------------------------------------


def usb_imager(make_model, faults=(), **kw):
    drive = SimDrive(load_model(make_model(**kw)), time_scale=0.0005)
    core = ImagerCore(drive, max_changes=32)
    dev = UsbImagerDevice(core, faults=[Fault.parse(f) for f in faults])
    return core, drive, virtual_backend(dev), dev


def test_usb_driver_mirrors_a_job(make_model) -> None:
    core, drive, backend, _ = usb_imager(make_model, bad=20, hang=30)
    try:
        found = UsbImager.discover(backend=backend)
        assert [(d.driver, d.port, d.vid, d.pid) for d in found] == [
            ("usb-imager", "SI2-EMU-0001", 0x1209, 0x5349)
        ]
        with UsbImager("SI2-EMU-0001", backend=backend) as im:
            im.start(JobSpec("S1", "T1"))
            m, _ = follow(im, drive.model.size, every=0.1)
            assert blocks(m) == blocks(core.map)
            assert im.result().outcome == "finished"
        assert_map_true_to_drive(m, drive)
    finally:
        core.close()


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        ("unplug@0.1", DeviceGone, "unplugged"),
        ("mute@0.1", DeviceTimeout, "not answering"),
        ("garbage@0.1", ProtocolError, "garbage"),
        ("unknown@0.1", ProtocolError, "unknown reply"),
    ],
)
def test_usb_faults_mid_job(make_model, fault, error, match) -> None:
    core, drive, backend, _ = usb_imager(make_model, faults=(fault,), size="8Mi", bad=40)
    try:
        im = UsbImager("", backend=backend, timeout=0.3)
        im.start(JobSpec("S1", "T1"))
        with pytest.raises(error, match=match):
            follow(im, drive.model.size, limit=10)
        im.close()
    finally:
        core.close()


def test_usb_names() -> None:
    with pytest.raises(DeviceNotFound, match="no USB imager is plugged in"):
        UsbImager("", backend=virtual_backend())
