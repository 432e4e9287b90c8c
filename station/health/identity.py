"""A drive's identity, its "hardware image": who it is and how it is built.

Stored with every session, so an image can always be matched to the drive it came from (by
serial and WWN) and a later session on the same drive can be recognised.  It comes from SMART
when smartctl can talk to the drive, otherwise from what the kernel knows (sysfs and udev).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from station.media import blockdev
from station.media.blockdev import read_attr

SYS = blockdev.SYS


@dataclass(frozen=True)
class DriveIdentity:
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    capacity_bytes: int | None = None
    logical_sector_size: int | None = None
    physical_sector_size: int | None = None
    rotation_rpm: int | None = None  # None for SSDs and when unknown
    ssd: bool | None = None  # None when unknown
    interface: str | None = None  # "SATA", "SAS", "NVMe", "ATA", "SCSI", "SATA over USB", ...
    power_on_hours: int | None = None
    vendor: str | None = None
    family: str | None = None
    wwn: str | None = None
    source: str = "smart"  # where this came from: "smart" or "kernel"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for a person: model, serial, capacity, kind."""
        from station.core.units import fmt_bytes

        parts = [self.model or "unknown model"]
        if self.serial:
            parts.append(f"s/n {self.serial}")
        if self.capacity_bytes:
            parts.append(fmt_bytes(self.capacity_bytes))
        if self.ssd:
            parts.append("SSD")
        elif self.rotation_rpm:
            parts.append(f"{self.rotation_rpm} rpm")
        if self.interface:
            parts.append(self.interface)
        return ", ".join(parts)


# --- the transport, from where the kernel put the device -----------------------------------------


def transport_from_sysfs(resolved: str) -> str | None:
    """The bus a block device hangs off, read from its resolved sysfs path."""
    p = resolved + "/"
    if "/devices/virtual/" in p:
        return "virtual"
    if "/usb" in p:
        return "USB"
    if "/nvme" in p:
        return "NVMe"
    if "/mmc_host/" in p or "/mmc" in p:
        return "MMC/SD"
    if "/virtio" in p:
        return "virtio"
    if "/end_device-" in p or "/sas_" in p or re.search(r"/phy-\d", p):
        return "SAS"
    if re.search(r"/ata\d+/", p):
        return "ATA"
    if re.search(r"/host\d+/", p):
        return "SCSI"
    return None


def sysfs_transport(path: str, *, sys_root: Path = SYS) -> str | None:
    """The transport of the block device at path (a partition answers for its disk), if any."""
    rdev = blockdev.block_rdev(path)
    if rdev is None:
        return None
    d = blockdev.sysfs_dir(blockdev.whole_disk(rdev, sys_root=sys_root), sys_root=sys_root)
    return transport_from_sysfs(str(d)) if d else None


# --- from SMART ------------------------------------------------------------------------------------


def _field(lines: list[str], label: str) -> str | None:
    for line in lines:
        if line.strip().startswith(label):
            _, _, value = line.partition(":")
            return value.strip() or None
    return None


def _sector_sizes(lines: list[str]) -> tuple[int | None, int | None]:
    """ATA writes 'Sector Size: 512 bytes logical/physical' or 'Sector Sizes: 512 bytes logical,
    4096 bytes physical'; pySMART reads only the second form."""
    for line in lines:
        m = re.match(r"\s*Sector Sizes?:\s+(\d+) bytes logical(?:/physical|,\s*(\d+) bytes physical)", line)
        if m:
            logical = int(m.group(1))
            return logical, int(m.group(2)) if m.group(2) else logical
    return None, None


def _wwn(lines: list[str]) -> str | None:
    for label in ("LU WWN Device Id", "Logical Unit id", "Namespace 1 IEEE EUI-64"):
        value = _field(lines, label)
        if value:
            value = value.replace(" ", "").lower()
            return value[2:] if value.startswith("0x") else value
    return None


def _interface(lines: list[str], smartctl_type: str | None, path: str, sys_root: Path) -> str | None:
    kind = (smartctl_type or "").lower()
    if kind == "nvme" or _field(lines, "NVMe Version"):
        base = "NVMe"
    elif (_field(lines, "Transport protocol") or "").upper().startswith("SAS"):
        base = "SAS"
    elif _field(lines, "SATA Version is"):
        base = "SATA"
    elif _field(lines, "ATA Version is"):
        base = "ATA"
    elif kind in ("scsi", "sas"):
        base = "SCSI"
    else:
        base = kind.upper() or None
    usb = kind.startswith("usb") or sysfs_transport(path, sys_root=sys_root) == "USB"
    if usb:
        return f"{base} over USB" if base else "USB"
    return base


def identity_from_smart(
    d: Any, lines: list[str], path: str, *, power_on_hours: int | None = None, sys_root: Path = SYS
) -> DriveIdentity:
    """Identity from a pySMART Device and the `smartctl --all` lines it parsed."""
    logical, physical = _sector_sizes(lines)
    iface = d.if_attributes
    if logical is None:
        logical = getattr(iface, "_logical_sector_size", None) or d.logical_sector_size
    if physical is None:
        physical = getattr(iface, "_physical_sector_size", None) or d.physical_sector_size
    capacity = d._capacity if isinstance(getattr(d, "_capacity", None), int) else None
    ssd = bool(d.is_ssd) if (d.is_ssd or d.rotation_rate) else None
    return DriveIdentity(
        model=d.model or None,
        serial=d.serial or None,
        firmware=d.firmware or None,
        capacity_bytes=capacity or None,
        logical_sector_size=logical,
        physical_sector_size=physical,
        rotation_rpm=d.rotation_rate or None,
        ssd=ssd,
        interface=_interface(lines, d.interface, path, sys_root),
        power_on_hours=power_on_hours,
        vendor=getattr(d, "_vendor", None) or None,  # not pySMART's guess from the model's first letters
        family=d.family,
        wwn=_wwn(lines),
        source="smart",
    )


# --- from the kernel ------------------------------------------------------------------------------


def identity_from_kernel(
    path: str,
    *,
    size: int | None = None,
    sector_size: int | None = None,
    physical_sector_size: int | None = None,
    sys_root: Path = SYS,
    udev_root: Path = blockdev.UDEV_DATA,
) -> DriveIdentity:
    """What the kernel knows of a block device when SMART cannot be read (no smartctl, USB
    bridges without SAT, virtual disks): model, serial, size, sector sizes, rotational flag."""
    rdev = blockdev.block_rdev(path)
    if rdev is None:
        return DriveIdentity(
            capacity_bytes=size,
            logical_sector_size=sector_size,
            physical_sector_size=physical_sector_size,
            source="kernel",
        )
    disk = blockdev.whole_disk(rdev, sys_root=sys_root)
    facts = blockdev.read_identity(rdev, sys_root=sys_root, udev_root=udev_root)
    d = blockdev.sysfs_dir(disk, sys_root=sys_root)
    ssd = None
    firmware = None
    if d is not None:
        rot = read_attr(d / "queue" / "rotational")
        ssd = None if rot is None else rot == "0"
        firmware = read_attr(d / "device" / "rev") or read_attr(d / "device" / "firmware_rev")
        if sector_size is None:
            sector_size = _int(read_attr(d / "queue" / "logical_block_size"))
        if physical_sector_size is None:
            physical_sector_size = _int(read_attr(d / "queue" / "physical_block_size"))
    return DriveIdentity(
        model=facts.get("model"),
        serial=facts.get("serial"),
        firmware=firmware,
        capacity_bytes=size if size is not None else blockdev.size_bytes(disk, sys_root=sys_root),
        logical_sector_size=sector_size,
        physical_sector_size=physical_sector_size,
        ssd=ssd,
        interface=transport_from_sysfs(str(d)) if d else None,
        vendor=facts.get("vendor"),
        wwn=facts.get("wwid"),
        source="kernel",
    )


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def whole_disk_path(path: str, *, sys_root: Path = SYS) -> str:
    """The /dev path of the drive holding `path` (a partition's disk), for smartctl."""
    rdev = blockdev.block_rdev(path)
    if rdev is None:
        return path
    disk = blockdev.whole_disk(rdev, sys_root=sys_root)
    if disk == rdev:
        return os.path.realpath(path)
    return blockdev.dev_path(disk, sys_root=sys_root)
