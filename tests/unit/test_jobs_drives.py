"""station.jobs.drives: the device list on a fake sysfs, protection, and the provider seams."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from station.health.badge import HealthBadge
from station.jobs.drives import (
    Attached,
    Drive,
    attached_devices,
    block_drives,
    demo_drives,
    preset_drives,
    scan_drives,
    virtual_drives,
)
from station.media import blockdev
from station.sim.demo import DEMO_SIZE
from station.sim.model import preset_names


def _device(sys_root: Path, rel: str, dev: str, **attrs: str) -> Path:
    d = sys_root / "devices" / rel
    d.mkdir(parents=True)
    (d / "dev").write_text(dev + "\n")
    for name, value in attrs.items():
        target = d / name.replace("__", "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(value + "\n")
    links = sys_root / "dev" / "block"
    links.mkdir(parents=True, exist_ok=True)
    (links / dev).symlink_to(d)
    if "/" not in rel.split("block/", 1)[-1]:
        (sys_root / "block").mkdir(exist_ok=True)
        (sys_root / "block" / d.name).symlink_to(d)
    return d


@pytest.fixture
def fake_sys(tmp_path: Path) -> Path:
    """sda holds / on sda1; sdb is a free removable USB drive; sdc is mounted; plus noise to skip."""
    root = tmp_path / "sys"
    sda = "pci0/ata1/block/sda"
    _device(root, sda, "8:0", device__model="Samsung SSD 870", device__serial="S5SYSTEM", size="1000",
            removable="0", queue__rotational="0")  # fmt: skip
    _device(root, sda + "/sda1", "8:1", partition="1", size="900")
    _device(root, "usb1/block/sdb", "8:16", device__model="WDC WD10EZEX", device__serial="WD-FAILING",
            size="2048", removable="1", queue__rotational="1")  # fmt: skip
    _device(root, "usb2/block/sdc", "8:32", device__model="Seagate", size="4096", removable="0")
    _device(root, "virtual/block/loop0", "7:0", size="0")  # unattached: not a drive
    _device(root, "virtual/block/zram0", "252:0", size="100")  # compressed RAM: not a drive
    return root


MOUNTS = [
    blockdev.Mount(os.makedev(8, 1), "/", "ext4", "rootfs"),
    blockdev.Mount(os.makedev(8, 32), "/media/usb", "vfat", "usbstick"),
]


def test_block_drives_identity_and_protection(fake_sys: Path, tmp_path: Path) -> None:
    drives = block_drives(sys_root=fake_sys, udev_root=tmp_path / "udev", mounts=MOUNTS, swaps=set())
    by_path = {d.path: d for d in drives}
    assert list(by_path) == ["/dev/sda", "/dev/sdb", "/dev/sdc"]  # loop0 (empty) and zram0 skipped
    sda, sdb, sdc = by_path["/dev/sda"], by_path["/dev/sdb"], by_path["/dev/sdc"]
    assert (sda.model, sda.serial, sda.size, sda.rotational) == ("Samsung SSD 870", "S5SYSTEM", 512000, False)
    assert sda.system and "holds the running system" in sda.protected
    assert any("/dev/sda1 is mounted at /" in why for why in sda.protected)
    assert not sda.can_be_target
    assert (sdb.removable, sdb.rotational, sdb.protected, sdb.system) == (True, True, (), False)
    assert sdb.can_be_target and sdb.kind == "block"
    assert not sdc.system and sdc.protected == ("/dev/sdc is mounted at /media/usb",)
    assert not sdc.can_be_target


def test_a_loop_device_is_no_hdd(fake_sys: Path, tmp_path: Path) -> None:
    """The kernel calls a loop device rotational: that says nothing of a disk behind it."""
    _device(fake_sys, "virtual/block/loop1", "7:1", size="64", queue__rotational="1",
            loop__backing_file="/srv/target.bin")  # fmt: skip
    loop = next(d for d in block_drives(sys_root=fake_sys, udev_root=tmp_path / "udev", mounts=MOUNTS,
                                        swaps=set()) if d.path == "/dev/loop1")  # fmt: skip
    assert loop.rotational is None and loop.description == "loop device over /srv/target.bin"


def test_swap_protects_a_drive(fake_sys: Path, tmp_path: Path) -> None:
    drives = block_drives(sys_root=fake_sys, udev_root=tmp_path, mounts=[], swaps={os.makedev(8, 16)})
    sdb = next(d for d in drives if d.name == "sdb")
    assert sdb.protected == ("/dev/sdb is in use as swap",)
    assert not any(d.system for d in drives)  # nothing mounted at /: no system disk


def test_the_real_machine_marks_its_system_disk() -> None:
    drives = block_drives()
    root_dev = os.stat("/").st_dev
    disks = [d for d in drives if d.system]
    if not any(blockdev.sysfs_dir(dev) for dev in blockdev.filesystem_devices(root_dev)):
        pytest.skip("the root filesystem is not on a block device here (overlay, tmpfs)")
    assert disks, "the disk holding / must be marked"
    assert all(not d.can_be_target for d in disks)


def test_demo_drive_is_always_listed_first_then_the_presets(tmp_path: Path) -> None:
    drives = scan_drives(sys_root=tmp_path / "no-sys")
    assert [d.path for d in drives] == ["demo"] + [f"sim:{n}" for n in preset_names()]
    assert len(drives) > 5, "the simulator ships several presets"
    demo = drives[0]
    assert demo.kind == "virtual" and demo.size == DEMO_SIZE and not demo.can_be_target
    src = demo.opener()
    try:
        assert src.size == DEMO_SIZE and src.identity.serial == "DEMO-0001"
    finally:
        src.close()


def test_preset_drives_open_the_simulators_model_paced_as_asked() -> None:
    drives = {d.name: d for d in preset_drives(time_scale=0.0)}
    healthy = drives["healthy"]
    assert healthy.kind == "virtual" and healthy.path == "sim:healthy" and not healthy.can_be_target
    assert healthy.size == 512 << 20 and healthy.serial and healthy.serial.startswith("SIM-")
    assert "healthy" in healthy.description.lower()
    src = healthy.opener()
    try:
        assert src.size == healthy.size and src.identity.path == "sim:healthy"
        assert src.identity.serial == healthy.serial and src.drive.time_scale == 0.0
        buf = bytearray(4096)
        assert src.read_into(0, memoryview(buf)) == 4096
    finally:
        src.close()
    assert healthy.opener() is not src, "every session gets a fresh drive"
    paced = next(d for d in preset_drives(time_scale=0.5) if d.name == "healthy").opener()
    assert paced.drive.time_scale == 0.5


def test_virtual_providers_are_given_and_a_broken_one_is_skipped() -> None:
    extra = Drive(path="sim:scratched", kind="virtual", size=1 << 20, model="scratched preset")

    def broken() -> list[Drive]:
        raise RuntimeError("preset file unreadable")

    drives = virtual_drives([demo_drives, broken, lambda: [extra]])
    assert [d.path for d in drives] == ["demo", "sim:scratched"]
    listed = scan_drives(sys_root=Path("/nonexistent"), virtual=[lambda: [extra]])
    assert [d.path for d in listed] == ["sim:scratched"], "only the providers given"


def test_attached_devices_from_providers() -> None:
    relay = Attached("relay", "lcus", "/dev/ttyUSB0", "LCUS-4")
    assert relay.spec == "lcus:/dev/ttyUSB0"

    def broken() -> list[Attached]:
        raise OSError("port vanished")

    assert attached_devices([broken, lambda: [relay]]) == [relay]


def test_health_badge_short() -> None:
    assert HealthBadge("warning", ("197 current pending: 8",)).short == "WARNING"
