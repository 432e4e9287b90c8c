"""The FUSE operations of a served virtual drive, called directly (no mount), and the refusals."""

from __future__ import annotations

import errno
import json
import os
import threading
import time

import pytest

from station.sim import fuse as simfuse
from station.sim.content import expected_bytes
from station.sim.drive import SimDrive
from station.sim.fuse import DRIVE, POWER, STATS, DriveFS, ServeError, check_serve
from station.sim.model import parse_model

S = 512
MODEL = """
name = "ops"
size = "1Mi"
seed = 5
[geometry]
heads = 2
zones = 1
outer_spt = 64
inner_spt = 64
[failure]
hang_after_errors = 3
[[defects]]
kind = "bad_range"
start = 8192
length = 1024
"""
BAD = 8192 // S  # LBAs 16 and 17 are unreadable


def fs(**kw) -> DriveFS:
    return DriveFS(SimDrive(parse_model(MODEL)), **kw)


def errno_of(call) -> int:
    with pytest.raises(OSError) as e:
        call()
    return e.value.errno


def test_layout_of_the_mount() -> None:
    f = fs()
    assert f.readdir("/", 0) == [".", "..", DRIVE, STATS, POWER]
    assert f.getattr("/")["st_mode"] & 0o777 == 0o555
    d = f.getattr("/drive")
    assert d["st_size"] == 1 << 20 and d["st_mode"] & 0o777 == 0o444
    assert f.getattr("/power")["st_mode"] & 0o777 == 0o644
    assert f.getattr("/stats.json")["st_size"] == len(f._stats_bytes())
    assert errno_of(lambda: f.getattr("/other")) == errno.ENOENT


def test_reads_deliver_the_content_of_whole_sectors() -> None:
    f = fs()
    fh = f.open("/drive", os.O_RDONLY)
    assert f.read("/drive", 4096, 0, fh) == expected_bytes(0, 4096)
    assert f.read("/drive", 100, 700, fh) == expected_bytes(700, 100)  # unaligned: sectors 1 and 2
    assert f.read("/drive", 4096, (1 << 20) - 10, fh) == expected_bytes((1 << 20) - 10, 10)
    assert f.read("/drive", 4096, 1 << 20, fh) == b""
    assert f.drive.stats.reads == 3  # nothing at or past the end goes to the drive


def test_a_read_that_meets_a_bad_sector_fails_whole() -> None:
    f = fs()
    fh = f.open("/drive", os.O_RDONLY)
    # good sectors 0..15 come first, but the read fails as a whole (no short read)
    assert errno_of(lambda: f.read("/drive", 16384, 0, fh)) == errno.EIO
    assert f.drive.stats.read_errors == 1
    assert f.read("/drive", BAD * S, 0, fh) == expected_bytes(0, BAD * S)


def test_writes_are_refused_except_to_power() -> None:
    f = fs()
    for name in ("/drive", "/stats.json"):
        for flags in (os.O_WRONLY, os.O_RDWR):
            assert errno_of(lambda n=name, fl=flags: f.open(n, fl)) == errno.EROFS
        assert errno_of(lambda n=name: f.truncate(n, 0)) == errno.EROFS
    assert errno_of(lambda: f.create("/x", 0o644, 0)) == errno.EROFS
    assert errno_of(lambda: f.unlink("/drive")) == errno.EROFS
    assert errno_of(lambda: f.open("/nothing", os.O_RDONLY)) == errno.ENOENT
    f.open("/power", os.O_WRONLY | os.O_TRUNC)
    assert f.truncate("/power", 0) == 0


def test_power_file_switches_the_drive() -> None:
    f = fs()
    fh = f.open("/power", os.O_RDWR)
    assert f.read("/power", 100, 0, fh) == b"on\n"
    assert f.write("/power", b"off\n", 0, fh) == 4
    assert f.read("/power", 100, 0, fh) == b"off\n"
    dfh = f.open("/drive", os.O_RDONLY)
    assert errno_of(lambda: f.read("/drive", S, 0, dfh)) == errno.ENODEV
    f.write("/power", b"on", 0, fh)
    assert f.read("/drive", S, 0, dfh) == expected_bytes(0, S)
    f.write("/power", b"CYCLE\n", 0, fh)
    assert f.drive.stats.power_cycles == 2
    assert errno_of(lambda: f.write("/power", b"reboot", 0, fh)) == errno.EINVAL
    assert f.write("/power", b"\n", 0, fh) == 1  # an empty line changes nothing


def test_hung_drive_times_out_and_a_power_cycle_releases_a_waiting_read() -> None:
    f = fs(hang_timeout=0.2)
    fh = f.open("/drive", os.O_RDONLY)
    for _ in range(3):
        assert errno_of(lambda: f.read("/drive", S, BAD * S, fh)) == errno.EIO
    assert f.stats()["hung"] is True
    t0 = time.monotonic()
    assert errno_of(lambda: f.read("/drive", S, 0, fh)) == errno.ETIMEDOUT
    assert time.monotonic() - t0 >= 0.2

    f.hang_timeout = 30.0
    box: dict = {}

    def reader() -> None:
        try:
            f.read("/drive", S, 0, fh)
        except OSError as e:
            box["errno"] = e.errno

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.2)
    assert t.is_alive()  # waiting for the drive
    f.write("/power", b"cycle", 0, f.open("/power", os.O_WRONLY))
    t.join(5)
    assert box["errno"] == errno.ENODEV  # the drive lost power under it
    assert f.read("/drive", S, 0, fh) == expected_bytes(0, S)
    assert f.stats()["hung"] is False


def test_stats_json_is_fresh_at_open_and_at_offset_zero() -> None:
    f = fs(extra={"loop_device": "/dev/loop9"})
    sfh = f.open("/stats.json", os.O_RDONLY)
    d = json.loads(f.read("/stats.json", 1 << 16, 0, sfh))
    assert d["reads"] == 0 and d["model"] == "ops" and d["size"] == 1 << 20
    assert d["powered"] is True and d["hung"] is False and d["loop_device"] == "/dev/loop9"
    f.read("/drive", S, 0, f.open("/drive", os.O_RDONLY))
    first = f.read("/stats.json", 10, 0, sfh)  # offset 0: a fresh snapshot
    rest = f.read("/stats.json", 1 << 16, 10, sfh)  # later offsets: the same snapshot
    assert json.loads(first + rest)["reads"] == 1
    f.release("/stats.json", sfh)


def test_refusals_before_mounting(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refusal(mp, **kw) -> str:
        args = {"loop": False, "time_scale": 0.0, "hang_timeout": 30.0, **kw}
        with pytest.raises(ServeError) as e:
            check_serve(str(mp), **args)
        assert "\n" not in str(e.value)
        return str(e.value)

    assert "no such directory" in refusal(tmp_path / "none")
    (tmp_path / "file").write_text("x")
    assert "not a directory" in refusal(tmp_path / "file")
    assert "not empty" in refusal(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "--time-scale" in refusal(empty, time_scale=-1)
    monkeypatch.setattr(simfuse.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(simfuse.os, "access", lambda path, mode: True)
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    assert "--loop needs root" in refusal(empty, loop=True)
    monkeypatch.setattr(simfuse.os, "access", lambda path, mode: False)
    assert "cannot open /dev/fuse" in refusal(empty)
    real_exists = os.path.exists
    monkeypatch.setattr(simfuse.os.path, "exists", lambda p: p != "/dev/fuse" and real_exists(p))
    assert "no /dev/fuse" in refusal(empty)
