"""Reading a drive's SMART data: pySMART's parsers over smartctl runs that cannot hang us.

`read_device` builds a pySMART `Device` over a `TimedSmartctl` (station.health.smartctl), turns
smartctl's failures into one-line errors, and returns a `SmartReading`: the drive's own
verdict, its identity, the attributes that predict failure, and the NVMe or SAS health fields,
all in plain data that the assessment, the monitor, the session record and `--json` share.

This module does not import pySMART; only the functions that read a drive do, so the rest of
Station keeps working on a machine without smartmontools or pySMART.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

from station.health.errors import (
    DeviceNotFound,
    NotADrive,
    PermissionDenied,
    SmartctlMissing,
    SmartError,
)
from station.health.identity import DriveIdentity, identity_from_smart

DEFAULT_TIMEOUT = 30.0  # seconds for one whole reading (several smartctl runs)

# The attributes every reading reports (None where the drive has no such thing).
ATTRIBUTE_KEYS = (
    "reallocated_sectors",
    "pending_sectors",
    "offline_uncorrectable",
    "reported_uncorrectable",
    "command_timeouts",
    "crc_errors",
    "temperature_c",
    "power_on_hours",
)

# ATA attribute numbers behind those keys (temperature comes from pySMART: 190 or 194).
ATA_IDS = {
    "reallocated_sectors": 5,
    "pending_sectors": 197,
    "offline_uncorrectable": 198,
    "reported_uncorrectable": 187,
    "command_timeouts": 188,
    "crc_errors": 199,
    "power_on_hours": 9,
}


@dataclass(frozen=True)
class AtaAttribute:
    """One row of an ATA SMART attribute table."""

    id: int
    name: str
    value: int | None
    worst: int | None
    thresh: int | None
    when_failed: str  # "-", "FAILING_NOW" or "In_the_past"
    raw: str
    raw_int: int | None


@dataclass(frozen=True)
class NvmeHealth:
    """The NVMe SMART/Health log fields that predict failure."""

    critical_warning: int | None
    media_errors: int | None
    available_spare: int | None  # percent
    available_spare_threshold: int | None  # percent
    percentage_used: int | None  # percent of rated endurance, may exceed 100
    error_log_entries: int | None
    warning_temp_c: int | None  # the controller's own warning threshold
    critical_temp_c: int | None


@dataclass(frozen=True)
class ScsiHealth:
    """What a SAS/SCSI drive reports instead of ATA attributes."""

    grown_defects: int | None
    uncorrected_read: int | None
    uncorrected_write: int | None
    uncorrected_verify: int | None
    non_medium_errors: int | None
    trip_temp_c: int | None


@dataclass
class SmartReading:
    """Everything one SMART reading told us, as plain data."""

    device: str
    smartctl_type: str | None  # smartctl's -d type: ata, sat, nvme, scsi, ...
    smart_available: bool
    smart_enabled: bool
    smart_status: str | None  # "PASSED" or "FAILED" as the drive itself says; None if it says nothing
    smart_status_text: str | None  # the drive's words (SCSI gives a reason)
    identity: DriveIdentity
    attributes: dict[str, int | None]
    ata: list[AtaAttribute] = field(default_factory=list)
    nvme: NvmeHealth | None = None
    scsi: ScsiHealth | None = None
    messages: list[str] = field(default_factory=list)
    taken: float = field(default_factory=time.time)

    def attribute(self, number: int) -> AtaAttribute | None:
        return next((a for a in self.ata if a.id == number), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (identity, attributes, drive verdict, NVMe/SAS fields)."""
        return {
            "device": self.device,
            "smartctl_type": self.smartctl_type,
            "smart_available": self.smart_available,
            "smart_enabled": self.smart_enabled,
            "smart_status": self.smart_status,
            "identity": self.identity.to_dict(),
            "attributes": dict(self.attributes),
            "nvme": asdict(self.nvme) if self.nvme else None,
            "scsi": asdict(self.scsi) if self.scsi else None,
            "taken": self.taken,
        }


# --- reading ---------------------------------------------------------------------------------


def find_smartctl() -> str | None:
    """smartctl on PATH, or None (Debian installs it in /usr/sbin, on root's PATH)."""
    return shutil.which("smartctl")


def device_path(device: str) -> str:
    """A bare name ('sda') means /dev/sda, unless there is no /dev/sda and there is a file of
    that name here (`station smart disk.img`: that file, to be told it is not a drive); anything
    else is taken as a path."""
    if "/" not in device and (os.path.exists("/dev/" + device) or not os.path.exists(device)):
        return "/dev/" + device
    return device if device.startswith("/") else os.path.abspath(device)


def not_detected(dev: str) -> SmartError:
    """smartctl's "Unable to detect device type", said as what the path is (smartctl says it of
    a path that does not exist, of a regular file and of a loop device alike)."""
    import stat

    from station.media import blockdev

    try:
        st = os.stat(dev)
    except FileNotFoundError:
        return DeviceNotFound(f"{dev}: no such device")
    except OSError as e:
        return SmartError(f"{dev}: {e.strerror}")
    if stat.S_ISREG(st.st_mode):
        return NotADrive(f"{dev}: not a drive (a regular file)")
    if stat.S_ISDIR(st.st_mode):
        return NotADrive(f"{dev}: not a drive (a directory)")
    if not stat.S_ISBLK(st.st_mode) and not stat.S_ISCHR(st.st_mode):
        return NotADrive(f"{dev}: not a drive")
    d = blockdev.sysfs_dir(st.st_rdev) if stat.S_ISBLK(st.st_mode) else None
    backing = blockdev.read_attr(d / "loop" / "backing_file") if d is not None else None
    if backing:
        return NotADrive(f"{dev}: not a drive but a loop device over {backing}: it has no SMART")
    return NotADrive(f"{dev}: not a drive smartctl can talk to (no SMART, or a bridge it does not know)")


def read_device(
    device: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interface: str | None = None,
    smartctl: str | None = None,
    cancel: threading.Event | None = None,
) -> SmartReading:
    """Read SMART from a drive within `timeout` seconds in all; raises SmartError (one line).

    Blocks for up to `timeout`: call it off any thread that must stay responsive.
    """
    path = smartctl or find_smartctl()
    if not path:
        raise SmartctlMissing("smartctl not found on PATH (install smartmontools)")
    dev = device_path(device)
    if os.path.exists(dev) and not os.access(dev, os.R_OK):
        raise PermissionDenied(f"{dev}: permission denied (reading SMART needs root)")
    from station.health.smartctl import Device, TimedSmartctl, valid_interface

    if interface is not None and not valid_interface(interface):
        interface = None  # a -d type pySMART does not know (usbjmicron...): let smartctl detect it
    sm = TimedSmartctl(path, timeout=timeout, device=dev, cancel=cancel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pySMART warns "Device ... does not exist" on stderr
        try:
            d = Device(dev, interface=interface, smartctl=sm)
        except SmartError:
            raise
        except Exception as e:
            if sm.failure is not None:
                raise sm.failure from None
            _check_calls(dev, sm.calls)
            raise SmartError(
                f"{dev}: smartctl's output was not understood ({type(e).__name__}: {e})"
            ) from None
    if sm.failure is not None:
        raise sm.failure
    _check_calls(dev, sm.calls)
    if d.interface is None:
        raise not_detected(dev)
    main = _main_output(sm.calls)
    try:
        return reading_from_device(dev, d, main)
    except Exception as e:  # a parser gap must read as one line, not a traceback
        raise SmartError(f"{dev}: smartctl's output was not understood ({type(e).__name__}: {e})") from None


def scan(
    *, timeout: float = DEFAULT_TIMEOUT, smartctl: str | None = None, cancel: threading.Event | None = None
) -> list[tuple[str, str]]:
    """The drives `smartctl --scan-open` finds, as (path, -d type)."""
    path = smartctl or find_smartctl()
    if not path:
        raise SmartctlMissing("smartctl not found on PATH (install smartmontools)")
    from station.health.smartctl import TimedSmartctl

    sm = TimedSmartctl(path, timeout=timeout, device="smartctl --scan-open", cancel=cancel)
    lines, rc = sm.generic_call(["--scan-open"])
    if rc & 1:
        raise SmartError(f"smartctl --scan-open failed: {_last_words(lines) or f'exit status {rc}'}")
    found = []
    for line in lines:
        m = re.match(r"^(/\S+)\s+-d\s+(\S+)", line)
        if m:
            found.append((m.group(1), m.group(2)))
    return found


def _is_main(args: list[str]) -> bool:
    """The calls whose failure means the drive could not be read (not pySMART's side probes)."""
    return "--all" in args or "--info" in args or ("-d" in args and "test" in args)


def _main_output(calls: list) -> list[str]:
    """The output of the last `--all` call (where every field comes from)."""
    for c in reversed(calls):
        if "--all" in c.args or "--info" in c.args:
            return c.lines
    return []


def _check_calls(dev: str, calls: list) -> None:
    """Raise the error smartctl reported for the device (exit bits 0-1: command line, open)."""
    for c in calls:
        if _is_main(c.args) and c.returncode is not None and c.returncode & 0b11:
            raise _error_from_output(dev, c.lines, c.returncode)


def _last_words(lines: list[str]) -> str:
    """The most telling line of a failed smartctl run (not the banner, not the usage hint)."""
    for line in reversed(lines):
        s = line.strip()
        if not s or s.startswith(("smartctl ", "Copyright", "Use smartctl -h", "Please specify")):
            continue
        return s
    return ""


def _error_from_output(dev: str, lines: list[str], rc: int) -> SmartError:
    text = "\n".join(lines)
    if "Permission denied" in text or "Operation not permitted" in text:
        return PermissionDenied(f"{dev}: permission denied (reading SMART needs root)")
    if "No such device" in text or "No such file or directory" in text:
        return DeviceNotFound(f"{dev}: no such device")
    if "Unable to detect device type" in text:
        return not_detected(dev)
    if "Read Device Identity failed" in text or "Standard Inquiry" in text:
        return NotADrive(f"{dev}: the device did not answer smartctl's identify command")
    why = _last_words(lines) or f"smartctl exit status {rc}"
    return SmartError(f"{dev}: {why}")


# --- from pySMART's Device to a SmartReading ---------------------------------------------------


def _int(text: str | None) -> int | None:
    """An integer written with any thousands separator ('1,356', '1.356', '5 809')."""
    if text is None:
        return None
    digits = re.sub(r"[,.\s\u2019\u00a0]", "", text.strip())
    m = re.match(r"-?\d+", digits)
    return int(m.group()) if m else None


def _field(lines: list[str], label: str) -> str | None:
    """The value after 'label:' on the first line that starts with it."""
    for line in lines:
        if line.strip().startswith(label):
            _, _, value = line.partition(":")
            return value.strip()
    return None


def _smart_status(lines: list[str]) -> tuple[str | None, str | None]:
    text = _field(lines, "SMART overall-health self-assessment test result")
    if text is None:
        text = _field(lines, "SMART Health Status")
    if text is None:
        return None, None
    return ("PASSED" if text.rstrip("!").strip() in ("PASSED", "OK") else "FAILED"), text


def _ata_rows(d: Any) -> list[AtaAttribute]:
    rows = []
    for a in getattr(d.if_attributes, "legacyAttributes", None) or []:
        if a is None:
            continue
        try:
            value, worst = int(a.value_str), int(a.worst)
        except (TypeError, ValueError):
            value = worst = None
        try:
            thresh = a.thresh
        except (TypeError, ValueError):
            thresh = None
        rows.append(AtaAttribute(a.num, a.name, value, worst, thresh, a.when_failed, a.raw, a.raw_int))
    return rows


def _ata_counts(rows: list[AtaAttribute]) -> dict[str, int | None]:
    by_id = {r.id: r for r in rows}
    out: dict[str, int | None] = {}
    for key, number in ATA_IDS.items():
        row = by_id.get(number)
        value = row.raw_int if row is not None else None
        if key == "command_timeouts" and value is not None and value > 0xFFFF:
            # Seagate packs three 16-bit counters into 188's raw48 (all, >5 s, >7.5 s): the low
            # word is the count of timeouts; the decimal of all 48 bits means nothing.
            value &= 0xFFFF
        out[key] = value
    return out


def _temp_from_line(text: str | None) -> int | None:
    if not text:
        return None
    m = re.match(r"(-?\d+)\s*(C|Celsius)\b", text)
    return int(m.group(1)) if m else None


def reading_from_device(dev: str, d: Any, lines: list[str]) -> SmartReading:
    """Turn a pySMART Device (and the `--all` output it parsed) into a SmartReading."""
    status, status_text = _smart_status(lines)
    attributes: dict[str, int | None] = dict.fromkeys(ATTRIBUTE_KEYS)
    rows = _ata_rows(d)
    nvme = scsi = None
    iface = d.if_attributes
    kind = type(iface).__name__ if iface is not None else ""
    if rows:
        attributes.update(_ata_counts(rows))
    elif kind == "NvmeAttributes":
        attributes["power_on_hours"] = iface.powerOnHours
        nvme = NvmeHealth(
            critical_warning=iface.criticalWarning,
            media_errors=iface.integrityErrors,
            available_spare=iface.availableSpare,
            available_spare_threshold=iface.availableSpareThreshold,
            percentage_used=iface.percentageUsed,
            error_log_entries=iface.errorEntries,
            warning_temp_c=_temp_from_line(_field(lines, "Warning  Comp. Temp. Threshold")),
            critical_temp_c=_temp_from_line(_field(lines, "Critical Comp. Temp. Threshold")),
        )
        if not any(v is not None for v in asdict(nvme).values()):
            nvme = None  # an NVMe drive whose health log could not be read
    elif kind == "SCSIAttributes":
        diag = iface.diagnostics
        scsi = ScsiHealth(
            grown_defects=diag.Reallocated_Sector_Ct,
            uncorrected_read=diag.Uncorrected_Reads,
            uncorrected_write=diag.Uncorrected_Writes,
            uncorrected_verify=diag.Uncorrected_Verifies,
            non_medium_errors=diag.Non_Medium_Errors,
            trip_temp_c=_temp_from_line(_field(lines, "Drive Trip Temperature")),
        )
        if not any(v is not None for v in asdict(scsi).values()):
            scsi = None  # pySMART takes any output without an ATA table for SCSI: nothing read
    if scsi is not None:
        attributes["reallocated_sectors"] = scsi.grown_defects
        uncorrected = [n for n in (scsi.uncorrected_read, scsi.uncorrected_verify) if n is not None]
        attributes["reported_uncorrectable"] = sum(uncorrected) if uncorrected else None
        attributes["power_on_hours"] = iface.diagnostics.Power_On_Hours
    attributes["temperature_c"] = d.temperature
    identity = identity_from_smart(d, lines, dev, power_on_hours=attributes["power_on_hours"])
    return SmartReading(
        device=dev,
        smartctl_type=d.interface,
        smart_available=bool(d.smart_capable or d.smart_enabled or rows or nvme or scsi),
        smart_enabled=bool(d.smart_enabled),
        smart_status=status,
        smart_status_text=status_text,
        identity=identity,
        attributes=attributes,
        ata=rows,
        nvme=nvme,
        scsi=scsi,
        messages=list(d.messages),
    )
