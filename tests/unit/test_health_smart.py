"""Reading SMART through pySMART's real parsers, from recorded smartctl outputs of real drives.

The stand-in smartctl (tests/conftest.py) answers exactly the calls pySMART makes; the values
asserted here are the ones written in the recordings (tests/data/smart/*), so a parser or
mapping mistake shows as a wrong number, not as a missing key.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from station.health.errors import (
    DeviceNotFound,
    NotADrive,
    PermissionDenied,
    SmartCancelled,
    SmartctlMissing,
    SmartError,
    SmartTimeout,
)
from station.health.smart import ATTRIBUTE_KEYS, device_path, read_device, scan


def _gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for a reaper counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_gone(pid: int, limit: float = 5.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


def test_ata_hdd(fake_smartctl):
    fake_smartctl.add("ata_hdd")
    r = read_device("/dev/sdau", timeout=20)
    i = r.identity
    assert (i.model, i.serial, i.firmware) == ("OOS12000G", "00008AXB", "OOS1")
    assert i.capacity_bytes == 12_000_138_625_024
    assert (i.logical_sector_size, i.physical_sector_size) == (512, 4096)
    assert (i.rotation_rpm, i.ssd, i.interface) == (7200, False, "SATA")
    assert i.wwn == "5000c500a4847915" and i.source == "smart"
    assert r.smartctl_type == "ata" and r.smart_status == "PASSED"
    assert r.smart_available and r.smart_enabled
    assert r.attributes == {
        "reallocated_sectors": 0,
        "pending_sectors": 0,
        "offline_uncorrectable": 0,
        "reported_uncorrectable": 0,
        "command_timeouts": 0,
        "crc_errors": 0,
        "temperature_c": 38,
        "power_on_hours": 252,
    }
    assert i.power_on_hours == 252
    assert r.attribute(1).raw_int == 176373483 and r.attribute(5).thresh == 10
    assert r.nvme is None and r.scsi is None
    # pySMART's own flow: detect the type, read everything, probe the SATA phy log
    assert fake_smartctl.calls() == [
        "-d test /dev/sdau",
        "-d ata --all /dev/sdau",
        "-d ata -l sataphy /dev/sdau",
    ]


def test_sat_hdd_single_sector_size_line(fake_smartctl):
    """'Sector Size: 512 bytes logical/physical' (one line) is a form pySMART does not read."""
    fake_smartctl.add("sat_hdd")
    r = read_device("/dev/sg2", timeout=20)
    assert r.identity.model == "ST2000NM000A-2J2100" and r.identity.serial == "WS10SM2A"
    assert (r.identity.logical_sector_size, r.identity.physical_sector_size) == (512, 512)
    assert r.identity.capacity_bytes == 2_000_398_934_016
    assert r.smartctl_type == "sat"
    assert r.attributes["temperature_c"] == 31 and r.attributes["power_on_hours"] == 1380


def test_sata_ssd(fake_smartctl):
    fake_smartctl.add("sata_ssd")
    r = read_device("/dev/sda", timeout=20)
    assert r.identity.model == "LITEONIT LCT-512L9S-11 2.5 7mm 512GB"
    assert r.identity.ssd is True and r.identity.rotation_rpm is None
    assert r.attributes["power_on_hours"] == 2376 and r.attributes["reallocated_sectors"] == 0
    assert r.attributes["reported_uncorrectable"] == 0
    # this SSD has no 197/198/188/199 and no temperature attribute: null, not zero
    for key in (
        "pending_sectors",
        "offline_uncorrectable",
        "command_timeouts",
        "crc_errors",
        "temperature_c",
    ):
        assert r.attributes[key] is None, key


def test_nvme(fake_smartctl):
    fake_smartctl.add("nvme")
    r = read_device("/dev/nvme0", timeout=20)
    i = r.identity
    assert (i.model, i.firmware, i.interface, i.ssd) == ("KBG30ZMV256G TOSHIBA", "ADHA0101", "NVMe", True)
    assert i.capacity_bytes == 256_060_514_304 and i.logical_sector_size == 512
    assert i.wwn == "00080d040017b710"
    assert r.attributes["temperature_c"] == 42 and r.attributes["power_on_hours"] == 5809
    assert r.attributes["pending_sectors"] is None and r.attributes["reallocated_sectors"] is None
    n = r.nvme
    assert (n.critical_warning, n.media_errors, n.available_spare, n.available_spare_threshold) == (
        0,
        0,
        100,
        10,
    )
    assert (n.percentage_used, n.error_log_entries) == (28, 1356)
    assert (n.warning_temp_c, n.critical_temp_c) == (82, 85)


def test_sas(fake_smartctl):
    fake_smartctl.add("sas_hdd")
    r = read_device("/dev/sdc", timeout=20)
    i = r.identity
    assert (i.vendor, i.model, i.serial, i.firmware) == ("HGST", "HUH721212AL4204", "8DG3J2ZD", "C3D0")
    assert i.interface == "SAS" and i.logical_sector_size == 4096 and i.rotation_rpm == 7200
    assert i.wwn == "5000cca253066624"
    assert r.smart_status == "PASSED" and r.attributes["temperature_c"] == 32
    # power-on hours are not in --all for this drive: pySMART reads the background scan log
    assert r.attributes["power_on_hours"] == 3687
    assert "-d scsi -l background /dev/sdc" in fake_smartctl.calls()
    s = r.scsi
    assert (s.grown_defects, s.uncorrected_read, s.uncorrected_write, s.uncorrected_verify) == (0, 0, 0, 0)
    assert s.trip_temp_c == 85
    assert r.attributes["reallocated_sectors"] == 0 and r.attributes["reported_uncorrectable"] == 0


def test_usb_bridge(fake_smartctl):
    fake_smartctl.add("usb_bridge")
    r = read_device("/dev/sdb", timeout=20)
    assert r.smartctl_type == "usbjmicron"
    assert r.identity.interface == "SATA over USB"
    assert r.attributes["command_timeouts"] == 1 and r.attributes["temperature_c"] == 33
    assert r.attributes["power_on_hours"] == 20379
    # a -d type pySMART does not know: smartctl is asked without -d and detects the bridge
    assert "--all /dev/sdb" in fake_smartctl.calls()


def test_packed_command_timeouts(fake_smartctl):
    """Seagate's 188 raw48 holds three 16-bit counters; the low word is the count."""
    fake_smartctl.add("ata_hdd")
    args = "-d ata --all /dev/sdau"
    fake_smartctl.put(args, fake_smartctl.set_attr(fake_smartctl.text(args), 188, 0x0001_0001_0003))
    r = read_device("/dev/sdau", timeout=20)
    assert r.attributes["command_timeouts"] == 3


def test_interface_given_skips_detection(fake_smartctl):
    fake_smartctl.add("nvme")
    r = read_device("/dev/nvme0", timeout=20, interface="nvme")
    assert r.identity.model == "KBG30ZMV256G TOSHIBA"
    assert "-d test /dev/nvme0" not in fake_smartctl.calls()


def test_reading_to_dict_has_every_attribute(fake_smartctl):
    fake_smartctl.add("ata_hdd")
    d = read_device("/dev/sdau", timeout=20).to_dict()
    assert set(d["attributes"]) == set(ATTRIBUTE_KEYS)
    assert d["identity"]["serial"] == "00008AXB"


# --- failures ------------------------------------------------------------------------------------


def test_no_such_device(fake_smartctl):
    fake_smartctl.add("errors")
    with pytest.raises(DeviceNotFound, match=r"^/dev/sdz: no such device$"):
        read_device("/dev/sdz", timeout=20)


def test_permission_denied(fake_smartctl):
    fake_smartctl.add("errors")
    with pytest.raises(PermissionDenied, match="permission denied"):
        read_device("/dev/sdy", timeout=20)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may read anything")
def test_permission_denied_before_smartctl(fake_smartctl, tmp_path):
    f = tmp_path / "unreadable"
    f.write_text("")
    f.chmod(0)
    with pytest.raises(PermissionDenied):
        read_device(str(f), timeout=20)
    assert fake_smartctl.calls() == []


def test_not_a_drive(fake_smartctl):
    fake_smartctl.add("errors")
    with pytest.raises(NotADrive, match="not a drive"):
        read_device("/dev/loop0", timeout=20)


def test_smartctl_missing(tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(SmartctlMissing, match="smartctl not found"):
        read_device("/dev/sda", timeout=20)


def test_unparsable_output_is_one_line(fake_smartctl):
    fake_smartctl.add("ata_hdd")
    fake_smartctl.put("-d ata --all /dev/sdau", "\x00\x01 garbage\n" * 3)
    r = read_device("/dev/sdau", timeout=20)  # nothing to parse is not an error: no data
    assert r.smart_status is None and r.ata == [] and r.identity.model is None


def test_hanging_smartctl_is_killed(fake_smartctl):
    fake_smartctl.add("ata_hdd")
    pid_file = fake_smartctl.hang("-d ata --all /dev/sdau")
    t0 = time.monotonic()
    with pytest.raises(SmartTimeout, match=r"did not answer within 1\.5 s"):
        read_device("/dev/sdau", timeout=1.5)
    took = time.monotonic() - t0
    assert 1.4 < took < 5.0
    # the child smartctl left behind (here `sleep`) is killed with its process group
    pid = int(pid_file.read_text())
    assert _wait_gone(pid), f"the hanging smartctl's child {pid} is still running"


def test_a_smartctl_that_floods_its_output_is_cut_off(fake_smartctl):
    """§3.12: what is read of smartctl is capped; a flood is killed at once, not buffered."""
    import resource

    fake_smartctl.add("ata_hdd")
    fake_smartctl.flood("-d ata --all /dev/sdau")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    with pytest.raises(SmartError, match="more output than smartctl ever writes") as e:
        read_device("/dev/sdau", timeout=0.8)
    assert time.monotonic() - t0 < 0.8 and "\n" not in str(e.value)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB
    assert grown < 64 * 1024, f"{grown} KiB taken by smartctl's output"


def test_timeout_covers_all_calls_of_a_reading(fake_smartctl):
    """The deadline is shared: a probe that hangs after --all answered still ends the reading."""
    fake_smartctl.add("ata_hdd")
    fake_smartctl.hang("-d ata -l sataphy /dev/sdau")  # pySMART swallows errors of this probe
    t0 = time.monotonic()
    with pytest.raises(SmartTimeout):
        read_device("/dev/sdau", timeout=1.0)
    assert time.monotonic() - t0 < 4.0


def test_cancel_stops_a_hanging_read(fake_smartctl):
    fake_smartctl.add("ata_hdd")
    fake_smartctl.hang("-d ata --all /dev/sdau")
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(SmartCancelled):
        read_device("/dev/sdau", timeout=30, cancel=cancel)
    assert time.monotonic() - t0 < 3.0


def test_errors_are_one_line(fake_smartctl):
    fake_smartctl.add("errors")
    for dev in ("/dev/sdz", "/dev/sdy", "/dev/loop0"):
        with pytest.raises(SmartError) as e:
            read_device(dev, timeout=20)
        assert "\n" not in str(e.value) and str(e.value).startswith(dev)


def test_scan(fake_smartctl):
    fake_smartctl.add("errors")
    assert scan(timeout=20) == [
        ("/dev/sdau", "ata"),
        ("/dev/sdb", "usbjmicron"),
        ("/dev/sdc", "scsi"),
        ("/dev/nvme0", "nvme"),
    ]


def test_device_path():
    assert device_path("sda") == "/dev/sda"
    assert device_path("/dev/disk/by-id/ata-X") == "/dev/disk/by-id/ata-X"
    assert device_path("rel/x.img") == os.path.abspath("rel/x.img")


def test_pysmart_import_leaves_lang_alone(monkeypatch):
    """pySMART sets LANG=C at import; that must not leak into the whole process."""
    import subprocess
    import sys

    code = (
        "import os; os.environ['LANG'] = 'de_DE.UTF-8'; import station.health.smartctl; "
        "print(os.environ['LANG'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "de_DE.UTF-8"


def test_cli_module_does_not_import_pysmart():
    import subprocess
    import sys

    code = (
        "import sys, station.cli; station.cli.build_parser(); "
        "assert 'pySMART' not in sys.modules, 'pySMART imported by the parser'; "
        "assert not any(m.startswith('textual') for m in sys.modules), 'textual imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
