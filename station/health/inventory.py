"""The station's own hardware profile, as CPU-Z, HWiNFO or Speccy show it, from /proc and /sys.

Kept in every session record: a speed or an error rate means little without the machine that
produced it (which controller, which USB bridge and driver, how much memory), and a lab that
moves a job between stations needs to see what changed.  Everything is read from files; no
tool is run, nothing needs root, and a missing file only leaves a field out.  The roots are
parameters so tests can build a fake tree.
"""

from __future__ import annotations

import os
import platform
import re
import socket
from pathlib import Path
from typing import Any

from station.health.identity import transport_from_sysfs
from station.media.blockdev import read_attr

PROC = Path("/proc")
SYS = Path("/sys")
ETC = Path("/etc")
UDEV_DATA = Path("/run/udev/data")
IDS_DIRS = (Path("/usr/share/misc"), Path("/usr/share/hwdata"))  # pci.ids / usb.ids, if installed

# PCI classes of the controllers a lab cares about: (class, subclass[, prog-if]) -> name.
PCI_CLASSES = {
    (0x01, 0x00): "SCSI storage controller",
    (0x01, 0x01): "IDE interface",
    (0x01, 0x04): "RAID bus controller",
    (0x01, 0x05): "ATA controller",
    (0x01, 0x06): "SATA controller",
    (0x01, 0x06, 0x01): "SATA controller (AHCI)",
    (0x01, 0x07): "Serial Attached SCSI controller",
    (0x01, 0x08): "Non-volatile memory controller",
    (0x01, 0x08, 0x02): "NVMe controller",
    (0x01, 0x80): "Mass storage controller",
    (0x0C, 0x00): "FireWire controller",
    (0x0C, 0x03): "USB controller",
    (0x0C, 0x03, 0x00): "USB 1.1 controller (UHCI)",
    (0x0C, 0x03, 0x10): "USB 1.1 controller (OHCI)",
    (0x0C, 0x03, 0x20): "USB 2.0 controller (EHCI)",
    (0x0C, 0x03, 0x30): "USB 3 controller (xHCI)",
    (0x0C, 0x03, 0x40): "USB4 controller",
    (0x0C, 0x0A): "Thunderbolt controller",
}
STORAGE_BASE, SERIAL_BUS_BASE = 0x01, 0x0C


def _int(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# --- host, CPU, memory, board ------------------------------------------------------------------


def host_info(*, etc_root: Path = ETC) -> dict[str, Any]:
    from station import __version__

    os_name = None
    text = read_attr(etc_root / "os-release")
    if text:
        m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?$', text, re.M)
        os_name = m.group(1) if m else None
    u = os.uname()
    return _drop_none(
        {
            "hostname": socket.gethostname(),
            "os": os_name,
            "kernel": u.release,
            "arch": u.machine,
            "python": platform.python_version(),
            "station": __version__,
        }
    )


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """Model, vendor, logical CPUs, physical cores and sockets from /proc/cpuinfo."""
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    cpus = []
    common: dict[str, str] = {}
    for b in blocks:
        fields = {}
        for line in b.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if "processor" in fields and fields["processor"].isdigit():
            cpus.append(fields)
        else:
            common.update(fields)  # ARM puts Hardware/Model after the per-CPU blocks
    first = cpus[0] if cpus else {}
    model = first.get("model name") or common.get("Model") or common.get("Hardware") or first.get("cpu model")
    cores = {(c.get("physical id"), c.get("core id")) for c in cpus if "core id" in c}
    sockets = {c.get("physical id") for c in cpus if "physical id" in c}
    mhz = [float(c["cpu MHz"]) for c in cpus if _is_float(c.get("cpu MHz"))]
    flags = set(first.get("flags", "").split())
    return _drop_none(
        {
            "model": model,
            "vendor": first.get("vendor_id") or first.get("CPU implementer"),
            "logical_cpus": len(cpus) or None,
            "cores": len(cores) or None,
            "sockets": len(sockets) or None,
            "mhz": round(sum(mhz) / len(mhz)) if mhz else None,
            "cache": first.get("cache size"),
            "virtualized": ("hypervisor" in flags) if flags else None,
        }
    )


def _is_float(text: str | None) -> bool:
    try:
        float(text or "")
    except ValueError:
        return False
    return True


def cpu_info(*, proc_root: Path = PROC, sys_root: Path = SYS) -> dict[str, Any]:
    info = parse_cpuinfo(read_attr(proc_root / "cpuinfo") or "")
    khz = _int(read_attr(sys_root / "devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"))
    if khz:
        info["max_mhz"] = khz // 1000
    return info


def memory_info(*, proc_root: Path = PROC) -> dict[str, Any]:
    """Total and available memory and swap, in bytes."""
    values: dict[str, int] = {}
    for line in (read_attr(proc_root / "meminfo") or "").splitlines():
        m = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if m:
            values[m.group(1)] = int(m.group(2)) * 1024
    return _drop_none(
        {
            "total_bytes": values.get("MemTotal"),
            "available_bytes": values.get("MemAvailable"),
            "swap_bytes": values.get("SwapTotal"),
        }
    )


def board_info(*, sys_root: Path = SYS) -> dict[str, Any]:
    """The machine and mainboard from DMI (absent in most VMs and on many ARM boards)."""
    d = sys_root / "class" / "dmi" / "id"
    names = (
        "sys_vendor",
        "product_name",
        "board_vendor",
        "board_name",
        "bios_vendor",
        "bios_version",
        "bios_date",
    )
    return _drop_none({name: read_attr(d / name) for name in names})


# --- PCI and USB names --------------------------------------------------------------------------


class IdNames:
    """Vendor and device names from pci.ids / usb.ids when the system has them; else nothing."""

    def __init__(self, filename: str, dirs: tuple[Path, ...] = IDS_DIRS) -> None:
        self.path = next((d / filename for d in dirs if (d / filename).is_file()), None)
        self._vendors: dict[int, str] | None = None
        self._devices: dict[tuple[int, int], str] = {}

    def _load(self) -> None:
        self._vendors = {}
        if self.path is None:
            return
        vendor = None
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("#") or not line.strip():
                        continue
                    if line.startswith("C "):  # class list at the end of the file
                        break
                    m = re.match(r"^([0-9a-fA-F]{4})\s+(.*)$", line)
                    if m:
                        vendor = int(m.group(1), 16)
                        self._vendors[vendor] = m.group(2).strip()
                        continue
                    m = re.match(r"^\t([0-9a-fA-F]{4})\s+(.*)$", line)
                    if m and vendor is not None:
                        self._devices[(vendor, int(m.group(1), 16))] = m.group(2).strip()
        except OSError:
            return

    def vendor(self, vid: int | None) -> str | None:
        if vid is None:
            return None
        if self._vendors is None:
            self._load()
        assert self._vendors is not None
        return self._vendors.get(vid)

    def device(self, vid: int | None, did: int | None) -> str | None:
        if vid is None or did is None:
            return None
        if self._vendors is None:
            self._load()
        return self._devices.get((vid, did))


def pci_class_name(code: int) -> str | None:
    base, sub, prog = (code >> 16) & 0xFF, (code >> 8) & 0xFF, code & 0xFF
    return PCI_CLASSES.get((base, sub, prog)) or PCI_CLASSES.get((base, sub))


def controllers(*, sys_root: Path = SYS, names: IdNames | None = None) -> list[dict[str, Any]]:
    """Storage, USB, FireWire and Thunderbolt controllers on the PCI bus."""
    names = names or IdNames("pci.ids")
    root = sys_root / "bus" / "pci" / "devices"
    out = []
    if not root.is_dir():
        return out
    for dev in sorted(root.iterdir()):
        code = _int(read_attr(dev / "class"), 16)
        if code is None or (code >> 16) not in (STORAGE_BASE, SERIAL_BUS_BASE):
            continue
        kind = pci_class_name(code)
        if kind is None:  # other serial-bus classes (SMBus, ...)
            continue
        vid, did = _int(read_attr(dev / "vendor"), 16), _int(read_attr(dev / "device"), 16)
        driver = os.path.basename(os.readlink(dev / "driver")) if (dev / "driver").is_symlink() else None
        out.append(
            _drop_none(
                {
                    "address": dev.name,
                    "kind": kind,
                    "vendor_id": f"{vid:04x}" if vid is not None else None,
                    "device_id": f"{did:04x}" if did is not None else None,
                    "vendor": names.vendor(vid),
                    "name": names.device(vid, did),
                    "driver": driver,
                }
            )
        )
    return out


def usb_devices(*, sys_root: Path = SYS, names: IdNames | None = None) -> list[dict[str, Any]]:
    """USB devices (not hubs' interfaces), with the drivers bound to their interfaces: a lab
    wants to know whether a bridge runs as UAS or usb-storage, and at which speed."""
    names = names or IdNames("usb.ids")
    root = sys_root / "bus" / "usb" / "devices"
    out = []
    if not root.is_dir():
        return out
    for dev in sorted(root.iterdir()):
        if not (dev / "idVendor").exists():
            continue  # an interface, not a device
        vid, pid = _int(read_attr(dev / "idVendor"), 16), _int(read_attr(dev / "idProduct"), 16)
        drivers, classes = set(), set()
        for intf in dev.iterdir() if dev.is_dir() else []:
            if not re.match(r"^[\d\-.]+:\d+\.\d+$", intf.name):
                continue
            if (intf / "driver").is_symlink():
                drivers.add(os.path.basename(os.readlink(intf / "driver")))
            c = _int(read_attr(intf / "bInterfaceClass"), 16)
            if c is not None:
                classes.add(c)
        dev_class = _int(read_attr(dev / "bDeviceClass"), 16)
        out.append(
            _drop_none(
                {
                    "bus": _int(read_attr(dev / "busnum")),
                    "device": _int(read_attr(dev / "devnum")),
                    "vendor_id": f"{vid:04x}" if vid is not None else None,
                    "product_id": f"{pid:04x}" if pid is not None else None,
                    "manufacturer": read_attr(dev / "manufacturer") or names.vendor(vid),
                    "product": read_attr(dev / "product") or names.device(vid, pid),
                    "serial": read_attr(dev / "serial"),
                    "speed_mbps": _speed(read_attr(dev / "speed")),
                    "usb_version": read_attr(dev / "version"),
                    "hub": dev_class == 0x09,
                    "mass_storage": 0x08 in classes,
                    "drivers": sorted(drivers) or None,
                }
            )
        )
    return out


def _speed(text: str | None) -> float | int | None:
    try:
        v = float(text) if text else None
    except ValueError:
        return None
    return int(v) if v is not None and v.is_integer() else v


# --- disks ----------------------------------------------------------------------------------------


def _pci_address(resolved: str) -> str | None:
    """The PCI function a device path runs through last: its controller."""
    found = re.findall(r"/([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])(?=/)", resolved + "/")
    return found[-1] if found else None


def _udev(dev_t: str | None, udev_root: Path) -> dict[str, str]:
    if not dev_t:
        return {}
    text = read_attr(udev_root / f"b{dev_t}") or ""
    props = {}
    for line in text.splitlines():
        if line.startswith("E:") and "=" in line:
            k, _, v = line[2:].partition("=")
            props[k] = v
    return props


def _name(text: str | None) -> str | None:
    """A vendor name, not an ID (virtio disks give their PCI vendor id, '0x1af4')."""
    return None if text is None or re.fullmatch(r"0x[0-9a-fA-F]+", text) else text


def disks(*, sys_root: Path = SYS, udev_root: Path = UDEV_DATA) -> list[dict[str, Any]]:
    """Every block device the kernel lists as a disk (not partitions; unused loops left out)."""
    root = sys_root / "block"
    out = []
    if not root.is_dir():
        return out
    for entry in sorted(root.iterdir()):
        name = entry.name
        size = _int(read_attr(entry / "size"))
        if size is None:
            continue
        resolved = os.path.realpath(entry)
        backing = read_attr(entry / "loop" / "backing_file")
        if name.startswith(("loop", "ram", "zram")) and (
            size == 0 or (name.startswith("loop") and not backing)
        ):
            continue
        dev_t = read_attr(entry / "dev")
        udev = _udev(dev_t, udev_root)
        device = entry / "device"
        rot = read_attr(entry / "queue" / "rotational")
        out.append(
            _drop_none(
                {
                    "name": name.replace("!", "/"),
                    "path": "/dev/" + name.replace("!", "/"),
                    "size_bytes": size * 512,
                    "model": read_attr(device / "model") or udev.get("ID_MODEL"),
                    "vendor": _name(read_attr(device / "vendor")),
                    "serial": read_attr(device / "serial") or udev.get("ID_SERIAL_SHORT"),
                    "firmware": read_attr(device / "rev")
                    or read_attr(device / "firmware_rev")
                    or udev.get("ID_REVISION"),
                    "rotational": None if rot is None else rot == "1",
                    "removable": read_attr(entry / "removable") == "1",
                    "read_only": read_attr(entry / "ro") == "1",
                    "logical_sector_size": _int(read_attr(entry / "queue" / "logical_block_size")),
                    "physical_sector_size": _int(read_attr(entry / "queue" / "physical_block_size")),
                    "transport": transport_from_sysfs(resolved),
                    "controller": _pci_address(resolved),
                    "backing_file": backing,
                }
            )
        )
    return out


# --- all of it ------------------------------------------------------------------------------------


def collect(
    *, proc_root: Path = PROC, sys_root: Path = SYS, etc_root: Path = ETC, udev_root: Path = UDEV_DATA
) -> dict[str, Any]:
    """The whole hardware profile; never raises for a missing or unreadable file."""
    return {
        "host": host_info(etc_root=etc_root),
        "cpu": cpu_info(proc_root=proc_root, sys_root=sys_root),
        "memory": memory_info(proc_root=proc_root),
        "board": board_info(sys_root=sys_root),
        "controllers": controllers(sys_root=sys_root),
        "disks": disks(sys_root=sys_root, udev_root=udev_root),
        "usb": usb_devices(sys_root=sys_root),
    }


def render(inv: dict[str, Any]) -> list[str]:
    """The profile as text lines for a terminal."""
    from station.core.units import fmt_bytes

    lines = []
    h = inv.get("host", {})
    lines.append(
        f"Host:     {h.get('hostname', '?')}  {h.get('os', '')}  kernel {h.get('kernel', '?')} "
        f"({h.get('arch', '?')})  station {h.get('station', '?')}"
    )
    c = inv.get("cpu", {})
    cores = f"{c.get('cores', '?')} cores / {c.get('logical_cpus', '?')} threads"
    speed = f", {c['max_mhz']} MHz max" if "max_mhz" in c else (f", {c['mhz']} MHz" if "mhz" in c else "")
    virt = ", virtual machine" if c.get("virtualized") else ""
    lines.append(f"CPU:      {c.get('model', 'unknown')} ({cores}{speed}{virt})")
    m = inv.get("memory", {})
    if "total_bytes" in m:
        avail = f", {fmt_bytes(m['available_bytes'])} available" if "available_bytes" in m else ""
        swap = f", swap {fmt_bytes(m['swap_bytes'])}" if m.get("swap_bytes") else ""
        lines.append(f"Memory:   {fmt_bytes(m['total_bytes'])}{avail}{swap}")
    b = inv.get("board", {})
    if b:
        lines.append(
            f"Board:    {b.get('sys_vendor', '')} {b.get('product_name', '')} / "
            f"{b.get('board_vendor', '')} {b.get('board_name', '')}, BIOS {b.get('bios_version', '?')} "
            f"({b.get('bios_date', '?')})"
        )
    lines.append("Controllers:")
    for x in inv.get("controllers", []) or [{}]:
        if not x:
            lines.append("  none found")
            break
        who = (
            " ".join(filter(None, [x.get("vendor"), x.get("name")])) or f"[{x['vendor_id']}:{x['device_id']}]"
        )
        lines.append(f"  {x['address']}  {x['kind']}: {who}  driver {x.get('driver', '-')}")
    lines.append("Disks:")
    for d in inv.get("disks", []) or [{}]:
        if not d:
            lines.append("  none found")
            break
        kind = "HDD" if d.get("rotational") else "SSD/flash" if d.get("rotational") is False else "?"
        what = " ".join(filter(None, [d.get("vendor"), d.get("model")])) or d.get("backing_file") or ""
        extra = f" s/n {d['serial']}" if d.get("serial") else ""
        sectors = f"{d.get('logical_sector_size', '?')}/{d.get('physical_sector_size', '?')} B sectors"
        lines.append(
            f"  {d['path']:<14} {fmt_bytes(d['size_bytes']):>10}  {d.get('transport') or '?':<8} {kind:<9} "
            f"{sectors}  {what}{extra}"
        )
    lines.append("USB devices:")
    usb = [u for u in inv.get("usb", []) if not u.get("hub")]
    if not usb:
        lines.append("  none found")
    for u in usb:
        who = " ".join(filter(None, [u.get("manufacturer"), u.get("product")])) or "?"
        drivers = ", ".join(u.get("drivers", [])) or "no driver"
        storage = "  mass storage" if u.get("mass_storage") else ""
        speed = f"{u['speed_mbps']} Mb/s" if "speed_mbps" in u else "? Mb/s"
        lines.append(
            f"  {u.get('bus', '?'):>3}:{u.get('device', '?'):<3} {u.get('vendor_id')}:{u.get('product_id')}"
            f"  {who}  {speed}  [{drivers}]{storage}"
        )
    return lines
