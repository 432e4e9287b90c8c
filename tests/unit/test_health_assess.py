"""Verdicts on healthy recordings and on failing drives derived from them.

Each failing drive is a healthy recording with exactly the lines a failing drive shows
differently (see tests/conftest.py), read through the stand-in smartctl and pySMART.
"""

from __future__ import annotations

import pytest

from station.health.assess import FAILING, GOOD, UNKNOWN, WARNING, assess
from station.health.smart import read_device

ATA = "-d ata --all /dev/sdau"
SSD = "-d ata --all /dev/sda"
NVME = "-d nvme --all /dev/nvme0"
SAS = "-d scsi --all /dev/sdc"
USB = "--all /dev/sdb"

DRIVES = {  # recording set, device
    "ata_hdd": "/dev/sdau",
    "sat_hdd": "/dev/sg2",
    "sata_ssd": "/dev/sda",
    "nvme": "/dev/nvme0",
    "sas_hdd": "/dev/sdc",
    "usb_bridge": "/dev/sdb",
}


@pytest.fixture
def drives(fake_smartctl):
    fake_smartctl.add(*DRIVES)
    return fake_smartctl


def verdict_of(device: str):
    return assess(read_device(device, timeout=20))


@pytest.mark.parametrize("drive", sorted(DRIVES))
def test_healthy_recordings_are_good(drives, drive):
    a = verdict_of(DRIVES[drive])
    assert a.verdict == GOOD, a.reasons
    assert a.reasons and "no failure-predicting attribute" in a.reasons[0]
    assert a.advice.startswith("No sign of failure")


def test_usb_bridge_single_command_timeout_is_a_note(drives):
    a = verdict_of("/dev/sdb")
    assert a.verdict == GOOD
    assert any("1 command timeout (188)" in r for r in a.reasons)


def test_failing_ata_drive(drives):
    f = drives
    text = f.set_health(f.text(ATA), "FAILED!")
    text = f.set_attr(text, 5, 184, value=5, worst=5, when_failed="FAILING_NOW")
    text = f.set_attr(text, 197, 37)
    text = f.set_attr(text, 198, 12)
    text = f.set_attr(text, 187, 41)
    f.put(ATA, text, rc=8 | 16)  # smartctl: DISK FAILING, prefail attribute below threshold
    a = verdict_of("/dev/sdau")
    assert a.verdict == FAILING
    joined = "\n".join(a.reasons)
    for expected in (
        "the drive's own SMART assessment says it is failing (FAILED!)",
        "attribute 5 Reallocated_Sector_Ct is failing now (value 5, threshold 10)",
        "37 sectors pending reallocation (197)",
        "12 offline-uncorrectable sectors (198)",
        "41 uncorrectable errors reported to the host (187)",
        "184 reallocated sectors (5)",
    ):
        assert expected in joined
    assert a.advice.startswith("Image it now") and "no filesystem checks" in a.advice


def test_pending_sectors_alone_are_failing(drives):
    drives.put(ATA, drives.set_attr(drives.text(ATA), 197, 1))
    a = verdict_of("/dev/sdau")
    assert a.verdict == FAILING and a.reasons == ["1 sector pending reallocation (197): unreadable right now"]


def test_few_reallocated_sectors_warn_many_fail(drives):
    drives.put(ATA, drives.set_attr(drives.text(ATA), 5, 8))
    a = verdict_of("/dev/sdau")
    assert a.verdict == WARNING and a.reasons == ["8 reallocated sectors (5): spare sectors in use"]
    assert a.advice.startswith("Image it soon")
    drives.put(ATA, drives.set_attr(drives.text(ATA), 5, 150))
    assert verdict_of("/dev/sdau").verdict == FAILING


def test_crc_errors_point_at_the_cable_not_the_drive(drives):
    drives.put(ATA, drives.set_attr(drives.text(ATA), 199, 57))
    a = verdict_of("/dev/sdau")
    assert a.verdict == GOOD
    assert any("57 interface CRC errors (199)" in r and "cable" in r for r in a.reasons)
    assert "Reseat or replace the cable" in a.advice


def test_command_timeouts(drives):
    drives.put(ATA, drives.set_attr(drives.text(ATA), 188, 3))
    assert verdict_of("/dev/sdau").verdict == GOOD
    drives.put(ATA, drives.set_attr(drives.text(ATA), 188, 25))
    a = verdict_of("/dev/sdau")
    assert a.verdict == WARNING and "25 command timeouts (188)" in a.reasons[0]


def test_attribute_failed_in_the_past_warns(drives):
    text = drives.set_attr(
        drives.text(ATA), 190, "38 (Min/Max 22/40)", value=40, worst=38, when_failed="In_the_past"
    )
    drives.put(ATA, text)
    a = verdict_of("/dev/sdau")
    assert a.verdict == WARNING
    assert "attribute 190 Airflow_Temperature_Cel fell to its threshold in the past" in a.reasons[0]


def test_hot_hdd_warns(drives):
    text = drives.set_attr(drives.text(ATA), 190, "58 (Min/Max 22/60)")
    drives.put(ATA, drives.set_attr(text, 194, "58 (0 16 0 0 0)"))
    a = verdict_of("/dev/sdau")
    assert a.verdict == WARNING and a.reasons == ["temperature 58 °C (hot: at or above 55 °C)"]
    assert "Cool the drive" in a.advice


def test_ssd_reported_uncorrectable_fails(drives):
    drives.put(SSD, drives.set_attr(drives.text(SSD), 187, 3))
    a = verdict_of("/dev/sda")
    assert a.verdict == FAILING and "3 uncorrectable errors reported to the host (187)" in a.reasons[0]


def test_failing_nvme(drives):
    f = drives
    text = f.set_line(f.text(NVME), "Critical Warning", "0x05")
    text = f.set_line(text, "Available Spare", "5%")
    text = f.set_line(text, "Media and Data Integrity Errors", "17")
    text = f.set_line(text, "Percentage Used", "103%")
    f.put(NVME, text)
    a = verdict_of("/dev/nvme0")
    assert a.verdict == FAILING
    joined = "\n".join(a.reasons)
    assert "NVMe critical warning 0x05: available spare below its threshold" in joined
    assert "NVMe critical warning 0x05: reliability degraded" in joined
    assert "17 media and data integrity errors" in joined
    assert "103% of rated endurance used (past its end of life)" in joined
    assert "at or below its threshold" not in joined  # the spare is said once, by the warning bit


def test_nvme_spare_below_threshold_without_warning_bit(drives):
    drives.put(NVME, drives.set_line(drives.text(NVME), "Available Spare", "9%"))
    a = verdict_of("/dev/nvme0")
    assert a.verdict == FAILING and a.reasons == ["available spare 9% at or below its threshold of 10%"]


def test_nvme_hot_uses_its_own_threshold(drives):
    text = drives.set_line(drives.text(NVME), "Temperature", "83 Celsius")
    drives.put(NVME, text)
    a = verdict_of("/dev/nvme0")
    assert a.verdict == WARNING and a.reasons == [
        "temperature 83 °C (hot: at or above its own warning threshold)"
    ]
    drives.put(NVME, drives.set_line(drives.text(NVME), "Temperature", "75 Celsius"))
    assert verdict_of("/dev/nvme0").verdict == GOOD  # an SSD at 75 °C is within its 82 °C


def test_nvme_temperature_bit_alone_warns(drives):
    drives.put(NVME, drives.set_line(drives.text(NVME), "Critical Warning", "0x02"))
    a = verdict_of("/dev/nvme0")
    assert a.verdict == WARNING and "temperature outside its limits" in a.reasons[0]


def test_failing_sas(drives):
    f = drives
    text = f.set_health(
        f.text(SAS), "HARDWARE IMPENDING FAILURE GENERAL HARD DRIVE FAILURE [asc=5d, ascq=10]"
    )
    text = f.set_line(text, "Elements in grown defect list", "412")
    text = f.set_line(text, "read", "0 34 0 34 238396 38280,029 23")
    f.put(SAS, text)
    a = verdict_of("/dev/sdc")
    assert a.verdict == FAILING
    joined = "\n".join(a.reasons)
    assert "HARDWARE IMPENDING FAILURE GENERAL HARD DRIVE FAILURE" in joined
    assert "412 grown defects in the defect list" in joined
    assert "23 uncorrected read errors in the error counter log" in joined


def test_sas_few_grown_defects_warn(drives):
    drives.put(SAS, drives.set_line(drives.text(SAS), "Elements in grown defect list", "4"))
    assert verdict_of("/dev/sdc").verdict == WARNING


def test_sas_at_trip_temperature_fails(drives):
    drives.put(SAS, drives.set_line(drives.text(SAS), "Current Drive Temperature", "86 C"))
    a = verdict_of("/dev/sdc")
    assert a.verdict == FAILING and "at or above the drive's trip point" in a.reasons[0]


def test_failing_usb_bridged_drive(drives):
    drives.put(USB, drives.set_attr(drives.text(USB), 197, 200, name="Current_Pending_Sector"))
    a = verdict_of("/dev/sdb")
    assert a.verdict == FAILING and "200 sectors pending reallocation (197)" in a.reasons[0]


def test_no_smart_is_unknown(drives):
    text = drives.text(ATA)
    head = text.split("=== START OF READ SMART DATA SECTION ===")[0]
    head = head.replace(
        "SMART support is: Available - device has SMART capability.",
        "SMART support is: Unavailable - device lacks SMART capability.",
    )
    head = head.replace("SMART support is: Enabled\n", "")
    drives.put(ATA, head)
    a = verdict_of("/dev/sdau")
    assert a.verdict == UNKNOWN and a.reasons == ["the drive (or its bridge) does not support SMART"]
    assert a.advice.startswith("SMART tells nothing here")


def test_smart_disabled_is_unknown(drives):
    text = drives.text(ATA)
    head = text.split("=== START OF READ SMART DATA SECTION ===")[0]
    drives.put(ATA, head.replace("SMART support is: Enabled", "SMART support is: Disabled"))
    assert verdict_of("/dev/sdau").reasons == ["SMART is disabled on the drive"]
