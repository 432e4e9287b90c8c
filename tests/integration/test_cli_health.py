"""`station smart`, `station inventory` and the SMART side of `station image`, run as processes.

smartctl is the stand-in first on PATH (tests/conftest.py) with recordings of real drives;
the loop-device tests also run the real smartctl, which cannot talk SMART to a loop device, so
the job must go on without it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

STATION = [sys.executable, "-m", "station.cli"]
SMART_KEYS = {"verdict", "reasons", "identity", "attributes"}
IDENTITY_KEYS = {"model", "serial", "firmware", "capacity_bytes"}
ATTRIBUTE_KEYS = {
    "reallocated_sectors", "pending_sectors", "offline_uncorrectable", "reported_uncorrectable",
    "command_timeouts", "crc_errors", "temperature_c", "power_on_hours",
}  # fmt: skip


def station(*args: object, timeout: float = 60.0, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*STATION, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env
    )


def one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("station: "), r.stderr
    return lines[0]


def test_smart_json(fake_smartctl):
    fake_smartctl.add("ata_hdd")
    r = station("smart", "/dev/sdau", "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert set(obj) >= SMART_KEYS and set(obj["identity"]) >= IDENTITY_KEYS
    assert set(obj["attributes"]) == ATTRIBUTE_KEYS
    assert obj["verdict"] == "GOOD" and isinstance(obj["reasons"], list) and obj["reasons"]
    assert obj["identity"]["model"] == "OOS12000G" and obj["identity"]["capacity_bytes"] == 12_000_138_625_024
    assert obj["attributes"]["temperature_c"] == 38 and obj["attributes"]["power_on_hours"] == 252


def test_smart_json_nulls_where_the_drive_has_none(fake_smartctl):
    fake_smartctl.add("nvme")
    obj = json.loads(station("smart", "/dev/nvme0", "--json").stdout)
    assert obj["attributes"]["pending_sectors"] is None and obj["attributes"]["crc_errors"] is None
    assert obj["attributes"]["temperature_c"] == 42 and obj["nvme"]["percentage_used"] == 28


def test_failing_drive_still_exits_0(fake_smartctl):
    fake_smartctl.add("ata_hdd")
    args = "-d ata --all /dev/sdau"
    text = fake_smartctl.set_health(fake_smartctl.text(args), "FAILED!")
    fake_smartctl.put(args, fake_smartctl.set_attr(text, 197, 37), rc=8)
    r = station("smart", "/dev/sdau", "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["verdict"] == "FAILING" and obj["attributes"]["pending_sectors"] == 37
    assert obj["advice"].startswith("Image it now")
    text_out = station("smart", "/dev/sdau")
    assert text_out.returncode == 0
    assert "Verdict: FAILING" in text_out.stdout and "37 sectors pending reallocation" in text_out.stdout


def test_smart_text(fake_smartctl):
    fake_smartctl.add("sas_hdd")
    r = station("smart", "/dev/sdc")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("/dev/sdc: HUH721212AL4204, s/n 8DG3J2ZD, 12 TB, 7200 rpm, SAS\n")
    assert "Verdict: GOOD" in out and "power-on hours                 3687" in out


def test_hanging_smartctl_is_killed_and_exits_2_quickly(fake_smartctl):
    fake_smartctl.add("ata_hdd")
    pid_file = fake_smartctl.hang("-d ata --all /dev/sdau")
    t0 = time.monotonic()
    r = station("smart", "/dev/sdau", "--timeout", "1")
    took = time.monotonic() - t0
    line = one_line_error(r)
    assert line == (
        "station: /dev/sdau: smartctl did not answer within 1 s and was killed (the drive may be hanging)"
    )
    assert took < 8.0, f"took {took:.1f} s"
    assert wait_gone(int(pid_file.read_text())), "the hanging smartctl's child outlived station"


def test_ctrl_c_kills_smartctl(fake_smartctl):
    fake_smartctl.add("ata_hdd")
    pid_file = fake_smartctl.hang("-d ata --all /dev/sdau")
    p = subprocess.Popen(
        [*STATION, "smart", "/dev/sdau"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        end = time.monotonic() + 20
        while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < end:
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130 and err == "station: interrupted\n"
    assert wait_gone(int(pid_file.read_text()))


def wait_gone(pid: int, limit: float = 5.0) -> bool:
    """The process has ended (a zombie waiting for its reaper counts as ended)."""
    end = time.monotonic() + limit
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.05)


def test_no_smartctl_on_path(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty))
    line = one_line_error(station("smart", "/dev/sda", env=env))
    assert line == "station: smartctl not found on PATH (install smartmontools)"
    assert one_line_error(station("smart", "--scan", env=env)) == line


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("/dev/sdz", "station: /dev/sdz: no such device"),
        ("/dev/sdy", "station: /dev/sdy: permission denied (reading SMART needs root)"),
        ("/dev/nope", "station: /dev/nope: no such device"),  # smartctl: "Unable to detect device type"
    ],
)
def test_unreadable_devices(fake_smartctl, device, message):
    fake_smartctl.add("errors")
    fake_smartctl.copy("-d test /dev/loop0", "-d test /dev/nope", rc=1)
    assert one_line_error(station("smart", device)) == message


@pytest.mark.skipif(shutil.which("smartctl") is None, reason="smartctl is not installed")
def test_what_is_not_a_drive_is_said_so_by_the_real_smartctl(tmp_path):
    """smartctl says "Unable to detect device type" of a missing path, a file and a loop device
    alike; the README promises "no such device" and "not a drive"."""
    (tmp_path / "FILE").write_bytes(bytes(65536))
    assert one_line_error(station("smart", "/dev/nope")) == "station: /dev/nope: no such device"
    here = subprocess.run(
        [*STATION, "smart", "FILE"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert one_line_error(here) == f"station: {tmp_path / 'FILE'}: not a drive (a regular file)"
    assert one_line_error(station("smart", tmp_path)) == f"station: {tmp_path}: not a drive (a directory)"
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        return
    dev = subprocess.run(
        ["losetup", "--find", "--show", str(tmp_path / "FILE")], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        line = one_line_error(station("smart", dev))
    finally:
        subprocess.run(["losetup", "--detach", dev], capture_output=True, check=False)
    assert line == f"station: {dev}: not a drive but a loop device over {tmp_path / 'FILE'}: it has no SMART"


def test_bad_arguments():
    assert one_line_error(station("smart")) == "station: smart: give a DEVICE (e.g. /dev/sdb) or --scan"
    assert "--timeout" in one_line_error(station("smart", "/dev/sda", "--timeout", "0"))


def test_scan(fake_smartctl):
    fake_smartctl.add("errors", "ata_hdd", "usb_bridge", "sas_hdd", "nvme")
    args = "-d scsi --all /dev/sdc"
    fake_smartctl.put(
        args, fake_smartctl.set_line(fake_smartctl.text(args), "Elements in grown defect list", "9")
    )
    r = station("smart", "--scan")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["/dev/sdau", "GOOD"], ["/dev/sdb", "GOOD"], ["/dev/sdc", "WARNING"], ["/dev/nvme0", "GOOD"],
    ]  # fmt: skip
    objs = json.loads(station("smart", "--scan", "--json").stdout)
    assert [o["device"] for o in objs] == ["/dev/sdau", "/dev/sdb", "/dev/sdc", "/dev/nvme0"]
    assert all(set(o) >= SMART_KEYS for o in objs)


def test_scan_reports_a_drive_it_cannot_read(fake_smartctl):
    fake_smartctl.add("errors", "ata_hdd", "usb_bridge", "nvme")  # no recordings for /dev/sdc
    fake_smartctl.put(
        "-d scsi --all /dev/sdc", "Smartctl open device: /dev/sdc failed: No such device\n", rc=2
    )
    objs = json.loads(station("smart", "--scan", "--json").stdout)
    assert {"device": "/dev/sdc", "smartctl_type": "scsi", "error": "/dev/sdc: no such device"} in objs


def test_inventory():
    r = station("inventory", "--json")
    assert r.returncode == 0, r.stderr
    inv = json.loads(r.stdout)
    assert set(inv) == {"host", "cpu", "memory", "board", "controllers", "disks", "usb"}
    assert inv["cpu"]["logical_cpus"] == os.cpu_count()
    text = station("inventory")
    assert text.returncode == 0 and text.stdout.startswith("Host:") and "\nCPU:" in text.stdout


def test_inventory_does_not_need_smartctl(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    r = station("inventory", env=dict(os.environ, PATH=str(empty)))
    assert r.returncode == 0 and "Disks:" in r.stdout


# --- station image ---------------------------------------------------------------------------------


def sessions(xdg: Path) -> list[dict]:
    root = xdg / "station" / "sessions"
    return (
        [json.loads((d / "session.json").read_text()) for d in sorted(root.iterdir())]
        if root.is_dir()
        else []
    )


def test_image_of_a_file_records_the_host_and_no_smart(tmp_path, xdg_data_home):
    src = tmp_path / "source.bin"
    src.write_bytes(os.urandom(256 * 1024))
    r = station("image", "-q", src, tmp_path / "img")
    assert r.returncode == 0, r.stderr
    (rec,) = sessions(xdg_data_home)
    assert rec["smart"]["state"] == "off" and rec["smart"]["why_off"] == "the source is a file, not a drive"
    assert rec["hardware"]["cpu"]["logical_cpus"] == os.cpu_count()
    assert rec["host"] == socket.gethostname()  # the record's own field, not overwritten
    assert rec["drive"]["capacity_bytes"] == 256 * 1024


def test_image_rejects_bad_smart_options(tmp_path):
    src = tmp_path / "source.bin"
    src.write_bytes(b"\0" * 4096)
    line = one_line_error(station("image", src, tmp_path / "img", "--smart-interval", "0"))
    assert "--smart-interval" in line
    line = one_line_error(station("image", src, tmp_path / "img", "--max-temp", "-5"))
    assert line == "station: bad option: --max-temp and --max-pending-growth cannot be negative"
    assert not (tmp_path / "img").exists()


LOOP_MARKS = [
    pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root"),
    pytest.mark.skipif(shutil.which("losetup") is None, reason="losetup is not installed"),
    pytest.mark.skipif(not os.path.exists("/dev/loop-control"), reason="no loop driver"),
]


def needs_loop(test):
    for mark in LOOP_MARKS:
        test = mark(test)
    return test


@pytest.fixture
def loopdev(tmp_path):
    backing = tmp_path / "drive.bin"
    backing.write_bytes(os.urandom(2 * 1024 * 1024))
    dev = subprocess.run(["losetup", "--find", "--show", "--read-only", str(backing)],
                         check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    try:
        yield dev, backing
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


def events_of(xdg: Path) -> list[dict]:
    root = xdg / "station" / "sessions"
    (d,) = list(root.iterdir())
    return [json.loads(line) for line in (d / "events.jsonl").read_text().splitlines()]


@needs_loop
@pytest.mark.skipif(shutil.which("smartctl") is None, reason="smartctl (smartmontools) is not installed")
def test_image_loop_device_with_real_smartctl(loopdev, tmp_path, xdg_data_home):
    """The real smartctl cannot talk SMART to a loop device: the job goes on, SMART off, said once."""
    dev, backing = loopdev
    r = station("image", "-q", dev, tmp_path / "img")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "img").read_bytes() == backing.read_bytes()
    (rec,) = sessions(xdg_data_home)
    assert rec["smart"]["state"] == "off"
    assert rec["smart"]["why_off"].startswith(f"{dev}: ")
    assert rec["drive"]["source"] == "kernel" and rec["drive"]["capacity_bytes"] == 2 * 1024 * 1024
    notes = [e["message"] for e in events_of(xdg_data_home) if e["kind"] == "notice"]
    assert [n for n in notes if n.startswith("SMART off for this session: ")] == [
        f"SMART off for this session: {rec['smart']['why_off']}"
    ]


@needs_loop
def test_image_loop_device_with_smart(loopdev, fake_smartctl, tmp_path, xdg_data_home):
    """A loop device that the stand-in answers for as if it were an ATA drive: the whole path
    through `station image` (baseline, identity in the record, polls, before/after)."""
    dev, backing = loopdev
    fake_smartctl.add("ata_hdd")
    fake_smartctl.copy("-d test /dev/sdau", f"-d test {dev}")
    fake_smartctl.copy("-d ata --all /dev/sdau", f"-d ata --all {dev}")
    r = station("image", "-q", dev, tmp_path / "img", "--smart-interval", "0.05")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "img").read_bytes() == backing.read_bytes()
    (rec,) = sessions(xdg_data_home)
    assert rec["drive"]["model"] == "OOS12000G" and rec["drive"]["source"] == "smart"
    assert rec["smart"]["state"] == "on" and rec["smart"]["device"] == dev
    assert rec["smart"]["before"]["verdict"] == "GOOD" and rec["smart"]["after"]["source"] == "fresh reading"
    assert rec["smart"]["changes"] == []
    notes = [e["message"] for e in events_of(xdg_data_home) if e["kind"] == "notice"]
    assert any(n.startswith("SMART before imaging: GOOD") for n in notes)
    assert "SMART before → after imaging (fresh reading): no change" in notes


@needs_loop
def test_image_no_smart_option(loopdev, fake_smartctl, tmp_path, xdg_data_home):
    dev, _ = loopdev
    r = station("image", "-q", "--no-smart", dev, tmp_path / "img")
    assert r.returncode == 0, r.stderr
    (rec,) = sessions(xdg_data_home)
    assert rec["smart"] == {"state": "off", "why_off": "turned off (--no-smart)", "device": None,
                            "limits": None, "before": None}  # fmt: skip
    assert fake_smartctl.calls() == []
