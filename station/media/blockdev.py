"""Linux block device facts, from the kernel (ioctl) and sysfs, with no dependency but the stdlib.

Devices are named by dev_t (os.makedev(major, minor)) so that a symlink, a /dev/disk/by-id
name or a second device node all resolve to the same answer.  The sysfs and udev roots are
parameters so that the parsing can be tested on a fake tree.
"""

from __future__ import annotations

import array
import fcntl
import os
import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

SYS = Path("/sys")
UDEV_DATA = Path("/run/udev/data")
MOUNTINFO = Path("/proc/self/mountinfo")
SWAPS = Path("/proc/swaps")


def _io(nr: int) -> int:
    """_IO(0x12, nr): a block ioctl without a size in its number."""
    return (0x12 << 8) | nr


def _ior(nr: int, size: int) -> int:
    """_IOR(0x12, nr, size): a block ioctl that reads `size` bytes."""
    return (2 << 30) | (size << 16) | (0x12 << 8) | nr


BLKROGET = _io(94)
BLKRASET = _io(98)
BLKRAGET = _io(99)
BLKSSZGET = _io(104)
BLKPBSZGET = _io(123)
BLKGETSIZE64 = _ior(114, struct.calcsize("Q"))
BLKZEROOUT = _io(127)


# --- ioctls on an open block device ---------------------------------------------------------


def device_size(fd: int) -> int:
    """Size in bytes of the block device open on fd (BLKGETSIZE64)."""
    buf = array.array("Q", [0])
    fcntl.ioctl(fd, BLKGETSIZE64, buf, True)
    return buf[0]


def logical_sector_size(fd: int) -> int:
    """Smallest addressable unit (BLKSSZGET): the O_DIRECT alignment of the device."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, BLKSSZGET, buf, True)
    return buf[0]


def physical_sector_size(fd: int) -> int:
    """Physical sector size (BLKPBSZGET): a bad sector on a 512e drive takes 4096 bytes with it."""
    buf = array.array("I", [0])
    fcntl.ioctl(fd, BLKPBSZGET, buf, True)
    return buf[0]


def fd_read_only(fd: int) -> bool:
    """Whether the kernel refuses writes to the block device open on fd (BLKROGET: `blockdev --setro`,
    a write-protect switch, a read-only loop device)."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, BLKROGET, buf, True)
    return bool(buf[0])


def zero_out(fd: int, pos: int, size: int) -> None:
    """Make [pos, pos+size) of the block device read as zeros (BLKZEROOUT: the device's write-zeroes
    where it has one, else the kernel writes zero pages itself); OSError when it cannot."""
    fcntl.ioctl(fd, BLKZEROOUT, struct.pack("QQ", pos, size))


def get_readahead(fd: int) -> int:
    """The device's read-ahead in 512-byte sectors (BLKRAGET)."""
    buf = array.array("l", [0])
    fcntl.ioctl(fd, BLKRAGET, buf, True)
    return buf[0]


def set_readahead(fd: int, sectors: int) -> None:
    """Set the device's read-ahead (BLKRASET, needs CAP_SYS_ADMIN); it is per device, not per fd."""
    fcntl.ioctl(fd, BLKRASET, sectors)


# --- sysfs --------------------------------------------------------------------------------


def dev_string(rdev: int) -> str:
    """'major:minor' as sysfs and mountinfo write it."""
    return f"{os.major(rdev)}:{os.minor(rdev)}"


def parse_dev(text: str) -> int:
    """dev_t from 'major:minor'."""
    major, minor = text.strip().split(":")
    return os.makedev(int(major), int(minor))


def block_rdev(path: str) -> int | None:
    """dev_t of the block device at path (symlinks followed), None if it is not one."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_rdev if stat.S_ISBLK(st.st_mode) else None


def sysfs_dir(rdev: int, *, sys_root: Path = SYS) -> Path | None:
    """The device's directory in sysfs (/sys/dev/block/MAJ:MIN resolved), None if unknown."""
    link = sys_root / "dev" / "block" / dev_string(rdev)
    if not link.exists():
        return None
    return link.resolve()


def read_attr(path: Path) -> str | None:
    """A sysfs (or procfs) attribute, stripped; None when missing, unreadable or empty."""
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return None
    return text or None


def kernel_name(rdev: int, *, sys_root: Path = SYS) -> str:
    """The kernel's name for the device ('loop0p1', 'sda'), or 'MAJ:MIN' if sysfs does not know it."""
    d = sysfs_dir(rdev, sys_root=sys_root)
    return d.name.replace("!", "/") if d else dev_string(rdev)


def dev_path(rdev: int, *, sys_root: Path = SYS) -> str:
    """A /dev path to show to a person for the device."""
    d = sysfs_dir(rdev, sys_root=sys_root)
    return "/dev/" + d.name.replace("!", "/") if d else f"block device {dev_string(rdev)}"


def is_partition(rdev: int, *, sys_root: Path = SYS) -> bool:
    """True for a partition (sysfs has a 'partition' attribute), False for a whole disk."""
    d = sysfs_dir(rdev, sys_root=sys_root)
    return d is not None and (d / "partition").exists()


def whole_disk(rdev: int, *, sys_root: Path = SYS) -> int:
    """The disk that holds a partition; a whole disk (or an unknown device) is its own."""
    d = sysfs_dir(rdev, sys_root=sys_root)
    if d is None or not (d / "partition").exists():
        return rdev
    parent = read_attr(d.parent / "dev")
    return parse_dev(parent) if parent else rdev


def partitions(rdev: int, *, sys_root: Path = SYS) -> list[int]:
    """The partitions of a whole disk, in kernel order; [] for a partition or a disk without any."""
    d = sysfs_dir(rdev, sys_root=sys_root)
    if d is None or (d / "partition").exists():
        return []
    found: list[tuple[int, int]] = []
    for child in d.iterdir():
        number = read_attr(child / "partition")
        dev = read_attr(child / "dev")
        if number and dev:
            found.append((int(number), parse_dev(dev)))
    return [dev for _, dev in sorted(found)]


def _linked(rdev: int, folder: str, sys_root: Path) -> list[int]:
    """dev_t of the devices listed in a sysfs holders/ or slaves/ folder."""
    d = sysfs_dir(rdev, sys_root=sys_root)
    if d is None or not (d / folder).is_dir():
        return []
    found = []
    for child in sorted((d / folder).iterdir()):
        dev = read_attr(child / "dev")
        if dev:
            found.append(parse_dev(dev))
    return found


def holders(rdev: int, *, sys_root: Path = SYS) -> list[int]:
    """Devices built directly on this one (device-mapper, md): writing under them corrupts them."""
    return _linked(rdev, "holders", sys_root)


def slaves(rdev: int, *, sys_root: Path = SYS) -> list[int]:
    """Devices this one is built on (a dm or md device's members): its bytes live there."""
    return _linked(rdev, "slaves", sys_root)


def size_bytes(rdev: int, *, sys_root: Path = SYS) -> int | None:
    """Device size from sysfs ('size' counts 512-byte units whatever the sector size), no open needed."""
    d = sysfs_dir(rdev, sys_root=sys_root)
    text = read_attr(d / "size") if d else None
    return int(text) * 512 if text else None


def read_only(rdev: int, *, sys_root: Path = SYS) -> bool:
    """Whether sysfs says the device (or the disk holding the partition) is read-only ('ro' is 1)."""
    for dev in dict.fromkeys([rdev, whole_disk(rdev, sys_root=sys_root)]):
        d = sysfs_dir(dev, sys_root=sys_root)
        if d is not None and read_attr(d / "ro") == "1":
            return True
    return False


def logical_block_size(rdev: int, *, sys_root: Path = SYS) -> int | None:
    """The device's logical sector size from sysfs (a partition answers for its disk), None if unknown."""
    d = sysfs_dir(whole_disk(rdev, sys_root=sys_root), sys_root=sys_root)
    text = read_attr(d / "queue" / "logical_block_size") if d else None
    return int(text) if text and text.isdigit() else None


def loop_backing_file(rdev: int, *, sys_root: Path = SYS) -> str | None:
    """The file behind a loop device (or behind the loop disk of a partition); None if not a loop."""
    d = sysfs_dir(whole_disk(rdev, sys_root=sys_root), sys_root=sys_root)
    if d is None:
        return None
    return read_attr(d / "loop" / "backing_file")


def loops_backed_by(st: os.stat_result, *, sys_root: Path = SYS) -> list[int]:
    """Loop devices whose backing file is the file with this stat (any name of it)."""
    found = []
    for backing in sorted((sys_root / "block").glob("*/loop/backing_file")):
        name = read_attr(backing)
        dev = read_attr(backing.parent.parent / "dev")
        try:
            other = os.stat(name) if name else None
        except OSError:
            continue
        if other is not None and dev and (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            found.append(parse_dev(dev))
    return found


def udev_properties(rdev: int, *, udev_root: Path = UDEV_DATA) -> dict[str, str]:
    """udev's E: properties of the device (ID_MODEL, ID_SERIAL_SHORT, ...), {} without udev."""
    try:
        text = (udev_root / f"b{dev_string(rdev)}").read_text(errors="replace")
    except OSError:
        return {}
    props = {}
    for line in text.splitlines():
        if line.startswith("E:") and "=" in line:
            key, _, value = line[2:].partition("=")
            props[key] = value
    return props


def _udev_unescape(text: str) -> str:
    r"""Decode udev's \xNN escapes (ID_MODEL_ENC keeps the spaces ID_MODEL turns into '_')."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def read_identity(rdev: int, *, sys_root: Path = SYS, udev_root: Path = UDEV_DATA) -> dict[str, str]:
    """Model, serial, vendor, wwid of the drive (a partition answers for its disk); missing keys unknown.

    sysfs first (device/model, device/serial, wwid), then udev's database, which is where the
    serial of an ATA drive is found.
    """
    disk = whole_disk(rdev, sys_root=sys_root)
    d = sysfs_dir(disk, sys_root=sys_root)
    udev = udev_properties(disk, udev_root=udev_root)
    found: dict[str, str | None] = {"model": None, "serial": None, "vendor": None, "wwid": None}
    if d is not None:
        found["model"] = read_attr(d / "device" / "model")
        found["serial"] = read_attr(d / "device" / "serial")
        found["vendor"] = read_attr(d / "device" / "vendor")
        found["wwid"] = read_attr(d / "wwid") or read_attr(d / "device" / "wwid")
    if not found["model"]:
        enc = udev.get("ID_MODEL_ENC")
        found["model"] = _udev_unescape(enc).strip() if enc else udev.get("ID_MODEL")
    if not found["serial"]:
        found["serial"] = udev.get("ID_SERIAL_SHORT") or udev.get("ID_SERIAL")
    if not found["wwid"]:
        found["wwid"] = udev.get("ID_WWN")
    return {key: value for key, value in found.items() if value}


# --- who uses a device: mounts, swap, holders -------------------------------------------------


def _unescape_octal(text: str) -> str:
    r"""Decode the kernel's \040-style escapes in /proc/self/mountinfo and /proc/swaps."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo: the filesystem's dev_t, where it is mounted, from what."""

    dev: int
    mountpoint: str
    fstype: str
    source: str


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse /proc/self/mountinfo (field 3 is major:minor; the source follows the ' - ' separator)."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        fstype = fields[sep + 1] if len(fields) > sep + 1 else ""
        source = fields[sep + 2] if len(fields) > sep + 2 else ""
        mountpoint = _unescape_octal(fields[4])
        mounts.append(Mount(parse_dev(fields[2]), mountpoint, fstype, _unescape_octal(source)))
    return mounts


def read_mounts(path: Path = MOUNTINFO) -> list[Mount]:
    """The mounts this process can see."""
    return parse_mountinfo(path.read_text(errors="replace"))


def mount_devices(mount: Mount) -> set[int]:
    """Block devices under a mount: its dev_t, and its source's (btrfs reports an anonymous dev_t)."""
    devs = {mount.dev}
    if mount.source.startswith("/dev/"):
        rdev = block_rdev(mount.source)
        if rdev is not None:
            devs.add(rdev)
    return devs


def parse_swaps(text: str) -> list[str]:
    """The file names in /proc/swaps (block devices and swap files)."""
    names = []
    for line in text.splitlines()[1:]:
        if line.strip():
            names.append(_unescape_octal(line.split()[0]))
    return names


def swap_devices(path: Path = SWAPS) -> set[int]:
    """dev_t of every block device in use as swap."""
    try:
        names = parse_swaps(path.read_text(errors="replace"))
    except OSError:
        return set()
    devs = set()
    for name in names:
        rdev = block_rdev(name)
        if rdev is not None:
            devs.add(rdev)
    return devs


# Filesystems that live in RAM or in the kernel: a map written there is lost at reboot (or never
# written at all).  tmpfs only counts under /dev (/dev/shm): a tmpfs /tmp is a choice the machine made.
_VOLATILE = {"devtmpfs", "proc", "sysfs", "devpts", "debugfs", "tracefs", "securityfs", "configfs",
             "cgroup", "cgroup2", "pstore", "bpf", "mqueue", "hugetlbfs", "efivarfs", "fusectl"}  # fmt: skip


def mount_of(path: str, *, mounts: list[Mount] | None = None) -> Mount | None:
    """The mount that holds path (an existing path: the nearest existing directory above a new one)."""
    here = os.path.abspath(path)
    while not os.path.exists(here):
        here = os.path.dirname(here)
    real = os.path.realpath(here)
    st_dev = os.stat(real).st_dev
    best = None
    for mount in read_mounts() if mounts is None else mounts:
        inside = real == mount.mountpoint or real.startswith(mount.mountpoint.rstrip("/") + "/")
        if mount.dev == st_dev and inside and (best is None or len(mount.mountpoint) > len(best.mountpoint)):
            best = mount
    return best


def volatile_filesystem(path: str, *, mounts: list[Mount] | None = None) -> str | None:
    """What kind of RAM or kernel filesystem would hold path ('devtmpfs', 'tmpfs under /dev',
    'proc'...), or None for a filesystem on a disk."""
    mount = mount_of(path, mounts=mounts)
    if mount is None:
        return None
    if mount.fstype in _VOLATILE:
        return mount.fstype
    under_dev = mount.mountpoint == "/dev" or mount.mountpoint.startswith("/dev/")
    if mount.fstype in ("tmpfs", "ramfs") and under_dev:
        return f"{mount.fstype} under /dev"
    return None


def filesystem_devices(st_dev: int, *, mounts: list[Mount] | None = None) -> set[int]:
    """Block devices holding the filesystem whose st_dev is given (itself, or a btrfs source)."""
    devs = {st_dev}
    for mount in read_mounts() if mounts is None else mounts:
        if mount.dev == st_dev:
            devs |= mount_devices(mount)
    return devs


def direct_io_alignment(
    st_dev: int, *, sys_root: Path = SYS, mounts: list[Mount] | None = None
) -> int | None:
    """The O_DIRECT alignment of files on the filesystem with this st_dev: the logical block size
    of the devices under it (512 on most disks, 4096 on 4Kn ones); None when no block device is
    known there (FUSE, network filesystems)."""
    sizes = [
        size
        for dev in filesystem_devices(st_dev, mounts=mounts)
        for disk in bottom_disks(dev, sys_root=sys_root)
        if (size := logical_block_size(disk, sys_root=sys_root))
    ]
    return max(sizes) if sizes else None


def in_use(
    rdev: int, *, sys_root: Path = SYS, mounts: list[Mount] | None = None, swaps: set[int] | None = None
) -> list[str]:
    """Why the device, or one of its partitions, must not be written: mounted, swap, held. [] if free."""
    mounts = read_mounts() if mounts is None else mounts
    swaps = swap_devices() if swaps is None else swaps
    reasons = []
    for dev in [rdev, *partitions(rdev, sys_root=sys_root)]:
        name = dev_path(dev, sys_root=sys_root)
        for mount in mounts:
            if dev in mount_devices(mount):
                reasons.append(f"{name} is mounted at {mount.mountpoint}")
        if dev in swaps:
            reasons.append(f"{name} is in use as swap")
        for holder in holders(dev, sys_root=sys_root):
            reasons.append(f"{name} is held by {dev_path(holder, sys_root=sys_root)}")
    return reasons


def bottom_disks(rdev: int, *, sys_root: Path = SYS) -> set[int]:
    """The whole disks at the bottom of a device's stack (partition -> disk, dm/md -> members)."""
    seen: set[int] = set()
    found: set[int] = set()
    todo = [rdev]
    while todo:
        dev = todo.pop()
        if dev in seen:
            continue
        seen.add(dev)
        disk = whole_disk(dev, sys_root=sys_root)
        if disk != dev:
            todo.append(disk)
            continue
        lower = slaves(dev, sys_root=sys_root)
        if lower:
            todo.extend(lower)
        else:
            found.add(dev)
    return found
