"""Virtual drives served for real over FUSE (and a loop device), read by Python, dd, GNU ddrescue
and `station image`, then checked with `station sim verify`.

Needs /dev/fuse (and root, or fusermount3); the loop-device tests need root and losetup.  The
models are small (8 MiB) and defined here, so the whole module runs in seconds.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from station.sim.content import expected_bytes
from station.sim.fuse import ServeError, is_mountpoint, loop_backing_file, served
from station.sim.model import BAD, parse_model

MiB = 1 << 20
S = 512


def _fuse_missing() -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if os.geteuid() != 0 and not (os.access("/dev/fuse", os.R_OK | os.W_OK) and shutil.which("fusermount3")):
        return "not root, and /dev/fuse or fusermount3 is out of reach"
    try:
        import mfusepy  # noqa: F401
    except OSError as e:  # libfuse3 itself is missing
        return f"libfuse cannot be loaded: {e}"
    return None


pytestmark = pytest.mark.skipif(_fuse_missing() is not None, reason=_fuse_missing() or "")
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("losetup") is None or not os.path.exists("/dev/loop-control"),
    reason="loop devices need root, losetup and the loop driver",
)
needs_ddrescue = pytest.mark.skipif(shutil.which("ddrescue") is None, reason="GNU ddrescue is not installed")

# Deterministic damage only (no weak sectors), so what every tool must end with is known.
DAMAGED = """
name = "fuse-test"
size = "8Mi"
seed = 11
[geometry]
heads = 2
zones = 2
outer_spt = 256
inner_spt = 128
band_cylinders = 2
[timing]
error_penalty = 0.5
[[defects]]
kind = "bad_range"
start = "1Mi"
length = "192Ki"
[[defects]]
kind = "bad_sectors"
count = 6
cluster = 3
from = 0.3
"""

HANGS = """
name = "fuse-hang"
size = "4Mi"
seed = 3
[geometry]
heads = 1
zones = 1
outer_spt = 256
inner_spt = 256
[failure]
hang_after_errors = 2
[[defects]]
kind = "bad_range"
start = "2Mi"
length = "4Ki"
"""


@pytest.fixture
def model(tmp_path: Path) -> Path:
    p = tmp_path / "damaged.toml"
    p.write_text(DAMAGED)
    return p


@pytest.fixture
def mnt(tmp_path: Path) -> Path:
    p = tmp_path / "mnt"
    p.mkdir()
    return p


def bad_ranges(text: str) -> list[tuple[int, int]]:
    """Byte ranges of the unreadable sectors."""
    layout = parse_model(text).build()
    return [(s.start * S, s.end * S) for s in layout.segments if s.flags & BAD]


def verify(kit, model: Path, img: Path, mapfile: Path) -> dict:
    r = kit.station("sim", "verify", model, img, mapfile, "--json")
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def write_map(path: Path, size: int, bad_blocks: list[tuple[int, int]]) -> Path:
    lines = ["# expected", "0x0 +"]
    pos = 0
    for lo, hi in bad_blocks:
        if lo > pos:
            lines.append(f"{pos:#x} {lo - pos:#x} +")
        lines.append(f"{lo:#x} {hi - lo:#x} -")
        pos = hi
    if pos < size:
        lines.append(f"{pos:#x} {size - pos:#x} +")
    path.write_text("\n".join(lines) + "\n")
    return path


# -- reading the file ------------------------------------------------------------------------------


def test_python_reads_the_drive_file(model: Path, mnt: Path) -> None:
    bad = bad_ranges(DAMAGED)
    with served(model, mnt) as d:
        assert sorted(os.listdir(mnt)) == ["drive", "power", "stats.json"]
        assert d.drive_path == mnt / "drive" and os.path.getsize(d.drive_path) == 8 * MiB
        fd = os.open(d.drive_path, os.O_RDONLY)
        try:
            assert os.pread(fd, 64 * 1024, 0) == expected_bytes(0, 64 * 1024)
            assert os.pread(fd, 1000, 3333) == expected_bytes(3333, 1000)  # unaligned
            assert os.pread(fd, 4096, 8 * MiB - 100) == expected_bytes(8 * MiB - 100, 100)
            assert os.pread(fd, 4096, 8 * MiB) == b""
            with pytest.raises(OSError) as e:  # good sectors first, then a bad one: all of it fails
                os.pread(fd, 128 * 1024, bad[0][0] - 64 * 1024)
            assert e.value.errno == errno.EIO
        finally:
            os.close(fd)
        s = d.stats()
        assert (s["reads"], s["read_errors"]) == (4, 1)
        assert s["model"] == "fuse-test" and s["size"] == 8 * MiB and s["powered"] and not s["hung"]
        assert s["covered_bytes"] == 64 * 1024 + S  # sectors 0-127 and the last one

        for flags in (os.O_WRONLY, os.O_RDWR):
            with pytest.raises(OSError) as e:
                os.open(d.drive_path, flags)
            assert e.value.errno in (errno.EROFS, errno.EACCES)
        with pytest.raises(OSError) as e:
            (mnt / "new").write_text("x")
        assert e.value.errno in (errno.EROFS, errno.EACCES)


def test_dd_noerror_sync_loses_whole_blocks_only(kit, model: Path, mnt: Path, tmp_path: Path) -> None:
    """Failed reads fail whole (no short reads), so dd pads exactly the failed blocks."""
    bs = 64 * 1024
    img = tmp_path / "dd.img"
    bad = bad_ranges(DAMAGED)
    lost = sorted({b for lo, hi in bad for b in range(lo // bs, (hi - 1) // bs + 1)})
    lost_blocks = [(b * bs, (b + 1) * bs) for b in lost]
    with served(model, mnt) as d:
        r = subprocess.run(
            ["dd", f"if={d.drive_path}", f"of={img}", f"bs={bs}", "conv=noerror,sync"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        s = d.stats()
    assert r.returncode == 0, r.stderr  # dd with noerror ends well, having reported the errors
    assert img.stat().st_size == 8 * MiB
    assert s["read_errors"] == len(lost) and s["reads"] == 8 * MiB // bs  # one drive read per dd read
    mapfile = write_map(tmp_path / "dd.map", 8 * MiB, lost_blocks)
    v = verify(kit, model, img, mapfile)
    assert v["ok"] and v["wrong_bytes"] == 0
    kit.assert_zero(img, lost_blocks)


@needs_ddrescue
def test_ddrescue_rescues_every_readable_byte(kit, model: Path, mnt: Path, tmp_path: Path) -> None:
    img, mapfile = tmp_path / "r.img", tmp_path / "r.map"
    with served(model, mnt) as d:
        r = kit.ddrescue(d.drive_path, img, mapfile)
        s = d.stats()
    assert r.returncode == 0, r.stderr
    v = verify(kit, model, img, mapfile)
    assert v["ok"] and v["missed_bytes"] == 0 and v["impossible_bytes"] == 0
    assert v["finished_bytes"] == v["readable_bytes"] == s["readable_bytes"] == s["covered_bytes"]
    assert list(s["milestones"]) == ["0.5", "0.9", "0.99", "0.999", "1"]
    ms = s["milestones"]
    assert 0 < ms["0.5"]["seconds"] <= ms["0.9"]["seconds"] <= ms["1"]["seconds"] <= s["seconds"]
    assert ms["1"]["read_errors"] <= s["read_errors"]

    # and a corrupted byte inside a finished block is found
    at = 5 * MiB + 12345
    with open(img, "r+b") as f:
        f.seek(at)
        f.write(b"\xa5")
    v = verify(kit, model, img, mapfile)
    assert not v["ok"] and v["wrong_bytes"] == 1 and v["first_wrong"] == [at]


DEAD_HEAD = """
name = "fuse-dead-head"
size = "16Mi"
seed = 4
[geometry]
heads = 2
outer_spt = 1024
inner_spt = 512
track_order = "forward"
[[defects]]
kind = "dead_head"
head = 1
"""


def test_station_direct_reads_miss_no_readable_byte(kit, mnt: Path, tmp_path: Path) -> None:
    """Issue 10, §3.3: `-d` on the drive file (a FUSE file, O_DIRECT aligned to pages) reads in the
    drive's 512-byte sectors; the alignment never makes a readable sector bad."""
    model = tmp_path / "dead-head.toml"
    model.write_text(DEAD_HEAD)
    img, mapfile = tmp_path / "d.img", tmp_path / "d.map"
    with served(model, mnt) as d:
        r = kit.station("image", "-q", "-d", d.drive_path, img, mapfile, timeout=120)
    assert r.returncode == 0, r.stderr
    v = verify(kit, model, img, mapfile)
    assert v["ok"] and v["missed_bytes"] == 0 and v["impossible_bytes"] == 0, v


@needs_root
@needs_ddrescue
def test_file_and_loop_device_are_the_same_drive(kit, model: Path, mnt: Path, tmp_path: Path) -> None:
    """ddrescue on the file, ddrescue -d and `station image` on the loop device: same drive, same reads."""
    runs = {}
    with served(model, mnt) as d:
        assert d.loop_device is None
        r = kit.ddrescue(d.drive_path, tmp_path / "f.img", tmp_path / "f.map")
        assert r.returncode == 0, r.stderr
        runs["file"] = d.stats()
    with served(model, mnt, loop=True) as d:
        dev = d.loop_device
        assert dev and dev.startswith("/dev/loop") and loop_backing_file(dev) == str(d.drive_path)
        assert os.path.getsize(d.drive_path) == 8 * MiB
        fd = os.open(dev, os.O_RDONLY)
        try:
            assert os.lseek(fd, 0, os.SEEK_END) == 8 * MiB
        finally:
            os.close(fd)
        r = kit.ddrescue("-d", dev, tmp_path / "l.img", tmp_path / "l.map")
        assert r.returncode == 0, r.stderr
        runs["loop"] = d.stats()
        assert runs["loop"]["loop_device"] == dev
    assert not is_mountpoint(mnt) and loop_backing_file(dev) is None
    for key in ("reads", "read_errors", "bytes_read", "seconds", "covered_bytes"):
        assert runs["file"][key] == runs["loop"][key], key
    for name in ("f", "l"):
        v = verify(kit, model, tmp_path / f"{name}.img", tmp_path / f"{name}.map")
        assert v["ok"] and v["missed_bytes"] == 0, name

    with served(model, mnt, loop=True) as d:
        r = kit.station("image", d.loop_device, tmp_path / "s.img", tmp_path / "s.map", "-q", "-d")
        assert r.returncode == 0, r.stderr
        s = d.stats()
    v = verify(kit, model, tmp_path / "s.img", tmp_path / "s.map")
    assert v["ok"] and v["missed_bytes"] == 0
    assert s["covered_bytes"] == s["readable_bytes"]


# -- power and hangs ----------------------------------------------------------------------------------


def test_power_cycle_brings_a_hung_drive_back(mnt: Path, tmp_path: Path) -> None:
    model = tmp_path / "hang.toml"
    model.write_text(HANGS)
    with served(model, mnt, hang_timeout=10.0) as d:
        fd = os.open(d.drive_path, os.O_RDONLY)
        try:
            for _ in range(2):
                with pytest.raises(OSError) as e:
                    os.pread(fd, S, 2 * MiB)
                assert e.value.errno == errno.EIO
            assert d.stats()["hung"] is True
            box: dict = {}

            def reader() -> None:
                try:
                    box["data"] = os.pread(fd, S, 0)
                except OSError as err:
                    box["errno"] = err.errno

            t = threading.Thread(target=reader, daemon=True)
            t.start()
            time.sleep(0.3)
            assert t.is_alive(), "a read of a hung drive should wait"
            assert d.powered
            d.power("cycle")  # as the relay board would
            t.join(5)
            assert not t.is_alive() and box.get("errno") == errno.ENODEV  # it lost power under the read
            assert os.pread(fd, 4096, 0) == expected_bytes(0, 4096)
            s = d.stats()
            assert s["hung"] is False and s["power_cycles"] == 1 and s["hangs"] == 1

            d.power("off")
            assert not d.powered and (mnt / "power").read_text() == "off\n"
            with pytest.raises(OSError) as e:
                os.pread(fd, S, 0)
            assert e.value.errno == errno.ENODEV
            (mnt / "power").write_text("on\n")  # the shell's way: echo on > power
            assert d.powered and os.pread(fd, S, 0) == expected_bytes(0, S)
        finally:
            os.close(fd)


def test_hung_read_times_out_and_time_scale_sleeps(mnt: Path, tmp_path: Path) -> None:
    model = tmp_path / "hang.toml"
    slow = "[timing]\nerror_penalty = 1.0\nhang_timeout = 1.0\n[failure]"  # simulated seconds
    model.write_text(HANGS.replace("[failure]", slow))
    with served(model, mnt, hang_timeout=0.5, time_scale=0.2) as d:
        fd = os.open(d.drive_path, os.O_RDONLY)
        try:
            t0 = time.monotonic()
            with pytest.raises(OSError):
                os.pread(fd, S, 2 * MiB)
            assert time.monotonic() - t0 >= 0.2  # a second of drive retries, scaled by 0.2
            with pytest.raises(OSError):
                os.pread(fd, S, 2 * MiB)
            t0 = time.monotonic()
            with pytest.raises(OSError) as e:
                os.pread(fd, S, 0)
            assert e.value.errno == errno.ETIMEDOUT and time.monotonic() - t0 >= 0.5
        finally:
            os.close(fd)


# -- starting and stopping -----------------------------------------------------------------------------


@pytest.mark.parametrize("loop", [False, pytest.param(True, marks=needs_root)])
def test_sigint_unmounts_even_with_the_file_open(kit, model: Path, mnt: Path, loop: bool) -> None:
    args = ["sim", "serve", model, mnt] + (["--loop"] if loop else [])
    p = kit.popen_station(*args)
    try:
        line = p.stdout.readline()
        assert f"at {mnt}/drive" in line, p.stderr.read() if p.poll() is not None else line
        dev = line.split(" and ")[1].split(";")[0] if loop else None
        assert is_mountpoint(mnt)
        if dev:
            assert loop_backing_file(dev) == str(mnt / "drive")
        held = open(mnt / "drive", "rb", buffering=0)  # noqa: SIM115 (a reader still holding the file)
        assert held.read(S) == expected_bytes(0, S)
        p.send_signal(signal.SIGINT)
        assert p.wait(15) == 0
        assert not is_mountpoint(mnt), "the mount must be gone"
        assert f" {mnt} " not in Path("/proc/self/mountinfo").read_text()
        if dev:
            assert loop_backing_file(dev) is None, f"{dev} still attached"
        with pytest.raises(OSError):  # the drive is gone (ENOTCONN)
            held.read(S)
        with contextlib.suppress(OSError):  # the flush on close fails the same way
            held.close()
        assert "released" in p.stderr.read()
    finally:
        kit.stop(p)


def test_bad_input_exits_2_with_one_line(kit, model: Path, mnt: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        ("sim", "serve", tmp_path / "none.toml", mnt),
        ("sim", "serve", "no-such-preset", mnt),
        ("sim", "serve", model, tmp_path / "nowhere"),
        ("sim", "serve", model, afile),
        ("sim", "serve", model, full),
        ("sim", "serve", model, mnt, "--time-scale", "-1"),
        ("sim", "serve", model, mnt, "--time-scale", "fast"),
        ("sim", "verify", model, afile, tmp_path / "none.map"),
    ]
    for args in cases:
        r = kit.station(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert r.stdout == ""
    assert not is_mountpoint(mnt) and os.listdir(mnt) == []
    with pytest.raises(ServeError, match="not empty"), served(model, full):
        pass


def test_served_cleans_up_after_an_exception(model: Path, mnt: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), served(model, mnt) as d:
        assert is_mountpoint(mnt)
        pid = d.pid
        raise RuntimeError("boom")
    assert not is_mountpoint(mnt)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_served_cleans_up_after_a_killed_server(model: Path, mnt: Path) -> None:
    loop = os.geteuid() == 0 and shutil.which("losetup") is not None
    with served(model, mnt, loop=loop) as d:
        dev = d.loop_device
        os.kill(d.pid, signal.SIGKILL)  # no clean stop: a dead mount and an attached loop remain
        time.sleep(0.2)
        assert is_mountpoint(mnt)
    assert not is_mountpoint(mnt)
    if dev:
        assert loop_backing_file(dev) is None
