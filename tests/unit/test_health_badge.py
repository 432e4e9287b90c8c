"""station.health.badge.drive_badge: the drive list's SMART badge, through the stand-in smartctl."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.health.badge import drive_badge
from station.jobs.drives import Drive, default_health_provider

ATA = "-d ata --all /dev/sdau"


def block(path: str = "/dev/sdau") -> Drive:
    return Drive(path=path, kind="block", size=12 * 10**12, model="OOS12000G", name=Path(path).name)


def test_the_default_health_provider_is_drive_badge() -> None:
    provider = default_health_provider()
    assert provider is not None and provider.__name__ == "drive_badge"


def test_a_healthy_drive_is_good_with_its_reason(fake_smartctl) -> None:
    fake_smartctl.add("ata_hdd")
    badge = drive_badge(block())
    assert badge is not None and badge.short == "GOOD"
    assert any("PASSED" in r for r in badge.reasons) and badge.advice.startswith("No sign of failure")
    assert ATA in fake_smartctl.calls()


def test_a_failing_drive_is_failing_with_every_reason(fake_smartctl) -> None:
    fake_smartctl.add("ata_hdd")
    text = fake_smartctl.set_attr(fake_smartctl.text(ATA), 197, 8)
    fake_smartctl.put(ATA, fake_smartctl.set_attr(text, 5, 12))
    badge = drive_badge(block())
    assert badge is not None and badge.short == "FAILING"
    assert badge.reasons[0].startswith("8 sectors pending reallocation (197)")
    assert any("reallocated" in r for r in badge.reasons)
    assert "no filesystem checks" in badge.advice.lower() or "fsck" in badge.advice


def test_no_badge_for_virtual_drives_files_and_imager_ports(fake_smartctl) -> None:
    for kind in ("virtual", "imager"):
        assert drive_badge(Drive(path="demo", kind=kind, size=1 << 20)) is None
    assert fake_smartctl.calls() == [], "smartctl is not asked about what is not a host drive"


def test_no_badge_without_smartctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert drive_badge(block()) is None


def test_a_drive_smartctl_cannot_read_is_unknown_with_smartctls_line(fake_smartctl) -> None:
    fake_smartctl.add("errors")
    badge = drive_badge(block("/dev/loop0"))
    assert badge is not None and badge.short == "UNKNOWN"
    assert len(badge.reasons) == 1 and badge.reasons[0].startswith("/dev/loop0: ")
    assert "not a drive" in badge.reasons[0]


def test_a_hanging_smartctl_is_killed_at_the_badge_timeout(fake_smartctl) -> None:
    import time

    fake_smartctl.add("ata_hdd")
    fake_smartctl.hang("-d test /dev/sdau")
    t0 = time.monotonic()
    badge = drive_badge(block(), timeout=0.5)
    assert time.monotonic() - t0 < 5
    assert badge is not None and badge.short == "UNKNOWN"
    assert "did not answer within 0.5 s" in badge.reasons[0]
