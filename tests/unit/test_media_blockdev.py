"""station.media.blockdev: ioctl numbers, sysfs and udev parsing on a fake tree, /proc parsers."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from station.media import blockdev

SDA = os.makedev(8, 0)
SDA1 = os.makedev(8, 1)
SDA2 = os.makedev(8, 2)
SDA10 = os.makedev(259, 5)
DM0 = os.makedev(253, 0)
LOOP3 = os.makedev(7, 3)
LOOP3P1 = os.makedev(259, 9)


def _device(sys_root: Path, rel: str, dev: str, **attrs: str) -> Path:
    """A device folder under /sys/devices with its dev file, linked from /sys/dev/block."""
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
    if "/" not in rel.split("block/", 1)[-1]:  # whole disks are also in /sys/block
        (sys_root / "block").mkdir(exist_ok=True)
        (sys_root / "block" / d.name).symlink_to(d)
    return d


@pytest.fixture
def fake_sys(tmp_path: Path) -> Path:
    """sda (model, serial, wwid) with sda1, sda2, sda10; dm-0 held on sda1; loop3 with loop3p1."""
    root = tmp_path / "sys"
    sda = "pci0000:00/ata1/host0/target0:0:0/0:0:0:0/block/sda"
    _device(
        root,
        sda,
        "8:0",
        device__model="WDC WD10EZEX-00W  ",
        device__vendor="ATA",
        wwid="naa.50014ee",
        size="2048",
    )
    _device(root, sda + "/sda2", "8:2", partition="2", size="100")
    _device(root, sda + "/sda10", "259:5", partition="10", size="100")
    sda1 = _device(root, sda + "/sda1", "8:1", partition="1", size="100")
    dm0 = _device(root, "virtual/block/dm-0", "253:0", size="90")
    (sda1 / "holders").mkdir()
    (sda1 / "holders" / "dm-0").symlink_to(dm0)
    (dm0 / "slaves").mkdir()
    (dm0 / "slaves" / "sda1").symlink_to(sda1)
    backing = tmp_path / "disk.img"
    backing.write_bytes(b"x" * 4096)
    _device(root, "virtual/block/loop3", "7:3", loop__backing_file=str(backing), size="8")
    _device(root, "virtual/block/loop3/loop3p1", "259:9", partition="1", size="4")
    return root


def test_ioctl_numbers_are_the_kernel_ones() -> None:
    assert blockdev.BLKGETSIZE64 == 0x80081272
    assert blockdev.BLKSSZGET == 0x1268
    assert blockdev.BLKPBSZGET == 0x127B
    assert blockdev.BLKRAGET == 0x1263
    assert blockdev.BLKRASET == 0x1262


def test_ioctls_on_a_regular_file_fail_with_enotty(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    fd = os.open(f, os.O_RDONLY)
    try:
        for call in (blockdev.device_size, blockdev.logical_sector_size, blockdev.get_readahead):
            with pytest.raises(OSError) as err:
                call(fd)
            assert err.value.errno == errno.ENOTTY
    finally:
        os.close(fd)


def test_partition_structure(fake_sys: Path) -> None:
    assert blockdev.partitions(SDA, sys_root=fake_sys) == [SDA1, SDA2, SDA10]  # by number, not name
    assert blockdev.partitions(SDA1, sys_root=fake_sys) == []
    assert blockdev.is_partition(SDA10, sys_root=fake_sys)
    assert not blockdev.is_partition(SDA, sys_root=fake_sys)
    assert blockdev.whole_disk(SDA10, sys_root=fake_sys) == SDA
    assert blockdev.whole_disk(SDA, sys_root=fake_sys) == SDA
    assert blockdev.whole_disk(LOOP3P1, sys_root=fake_sys) == LOOP3
    assert blockdev.whole_disk(os.makedev(9, 9), sys_root=fake_sys) == os.makedev(9, 9)  # unknown


def test_holders_slaves_and_names(fake_sys: Path) -> None:
    assert blockdev.holders(SDA1, sys_root=fake_sys) == [DM0]
    assert blockdev.holders(SDA, sys_root=fake_sys) == []
    assert blockdev.slaves(DM0, sys_root=fake_sys) == [SDA1]
    assert blockdev.kernel_name(SDA10, sys_root=fake_sys) == "sda10"
    assert blockdev.dev_path(DM0, sys_root=fake_sys) == "/dev/dm-0"
    assert blockdev.dev_path(os.makedev(9, 9), sys_root=fake_sys) == "block device 9:9"
    assert blockdev.size_bytes(SDA, sys_root=fake_sys) == 2048 * 512


def test_loop_backing_file_also_for_its_partitions(fake_sys: Path, tmp_path: Path) -> None:
    assert blockdev.loop_backing_file(LOOP3, sys_root=fake_sys) == str(tmp_path / "disk.img")
    assert blockdev.loop_backing_file(LOOP3P1, sys_root=fake_sys) == str(tmp_path / "disk.img")
    assert blockdev.loop_backing_file(SDA, sys_root=fake_sys) is None


def test_loops_backed_by_matches_the_inode_not_the_name(fake_sys: Path, tmp_path: Path) -> None:
    link = tmp_path / "other-name.img"
    os.link(tmp_path / "disk.img", link)
    assert blockdev.loops_backed_by(os.stat(link), sys_root=fake_sys) == [LOOP3]
    other = tmp_path / "other.img"
    other.write_bytes(b"y")
    assert blockdev.loops_backed_by(os.stat(other), sys_root=fake_sys) == []


def test_identity_from_sysfs_and_a_partition_answers_for_its_disk(fake_sys: Path, tmp_path: Path) -> None:
    udev = tmp_path / "udev"
    udev.mkdir()
    (udev / "b8:0").write_text("S:disk/by-id/ata-x\nE:ID_SERIAL_SHORT=WD-WCC3F1234567\nE:ID_MODEL=ignored\n")
    for dev in (SDA, SDA1):
        info = blockdev.read_identity(dev, sys_root=fake_sys, udev_root=udev)
        assert info == {
            "model": "WDC WD10EZEX-00W",
            "serial": "WD-WCC3F1234567",
            "vendor": "ATA",
            "wwid": "naa.50014ee",
        }


def test_identity_from_udev_decodes_the_model(fake_sys: Path, tmp_path: Path) -> None:
    udev = tmp_path / "udev"
    udev.mkdir()
    (udev / "b7:3").write_text(
        "E:ID_MODEL=Samsung_SSD_860\nE:ID_MODEL_ENC=Samsung\\x20SSD\\x20860\\x20\\x20\nE:ID_SERIAL_SHORT=S3Z9\n"
    )
    info = blockdev.read_identity(LOOP3, sys_root=fake_sys, udev_root=udev)
    assert info == {"model": "Samsung SSD 860", "serial": "S3Z9"}
    assert blockdev.read_identity(LOOP3, sys_root=fake_sys, udev_root=tmp_path / "none") == {}


MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
35 22 8:1 / /mnt/with\\040space rw,relatime shared:9 master:2 - ext4 /dev/sda1 rw
36 22 0:45 / /srv/btrfs rw - btrfs /dev/nonexistent-node rw
37 22 0:5 / /dev rw - devtmpfs devtmpfs rw
"""


def test_parse_mountinfo_reads_dev_mountpoint_and_source() -> None:
    mounts = blockdev.parse_mountinfo(MOUNTINFO)
    assert [m.dev for m in mounts] == [os.makedev(254, 0), SDA1, os.makedev(0, 45), os.makedev(0, 5)]
    assert mounts[1].mountpoint == "/mnt/with space"
    assert mounts[1].source == "/dev/sda1"
    assert mounts[2].fstype == "btrfs"
    assert blockdev.mount_devices(mounts[2]) == {os.makedev(0, 45)}  # source not a node here


def test_parse_swaps_unescapes_names() -> None:
    text = "Filename\tType\tSize\tUsed\tPriority\n/dev/sda2 partition 100 0 -2\n/swap\\040file file 4 0 -3\n"
    assert blockdev.parse_swaps(text) == ["/dev/sda2", "/swap file"]
    assert blockdev.parse_swaps("Filename\tType\tSize\tUsed\tPriority\n") == []


def test_in_use_reports_partitions_swap_and_holders(fake_sys: Path) -> None:
    mounts = blockdev.parse_mountinfo(MOUNTINFO)
    reasons = blockdev.in_use(SDA, sys_root=fake_sys, mounts=mounts, swaps={SDA2})
    assert reasons == [
        "/dev/sda1 is mounted at /mnt/with space",
        "/dev/sda1 is held by /dev/dm-0",
        "/dev/sda2 is in use as swap",
    ]
    assert blockdev.in_use(LOOP3, sys_root=fake_sys, mounts=mounts, swaps=set()) == []


def test_filesystem_devices_adds_the_mount_source() -> None:
    mounts = [blockdev.Mount(os.makedev(0, 45), "/srv", "btrfs", "/dev/null")]  # /dev/null: not a block node
    assert blockdev.filesystem_devices(os.makedev(0, 45), mounts=mounts) == {os.makedev(0, 45)}
    assert blockdev.filesystem_devices(SDA1, mounts=mounts) == {SDA1}
