"""`station smart`, `station inventory`, and the SMART options of `station image`.

Registered through station.cli.FEATURE_COMMANDS.  This module stays light: pySMART is imported
only inside the command functions that read a drive (through station.health.smart).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from station.cli.common import fail, json_out

if TYPE_CHECKING:
    from station.health.smart import SmartReading
    from station.health.watch import HealthOptions


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def register(subparsers: Any) -> None:
    """Add `smart` and `inventory`, and SMART polling options to `image` (when it exists)."""
    sm = subparsers.add_parser("smart", help="read a drive's SMART health, identity and verdict")
    sm.add_argument("device", nargs="?", help="the drive, e.g. /dev/sdb (not needed with --scan)")
    sm.add_argument("--scan", action="store_true", help="every drive smartctl finds, one line each")
    sm.add_argument("--json", action="store_true", help="one JSON object (--scan: a list)")
    sm.add_argument(
        "--timeout",
        type=_positive,
        default=30.0,
        metavar="SECONDS",
        help="give up on a drive that does not answer (smartctl is killed) [30]",
    )
    sm.set_defaults(func=cmd_smart)

    inv = subparsers.add_parser(
        "inventory", help="this station's hardware: CPU, memory, controllers, disks, USB"
    )
    inv.add_argument("--json", action="store_true", help="one JSON object")
    inv.set_defaults(func=cmd_inventory)

    image = subparsers.choices.get("image")
    if image is not None:
        add_image_options(image)


def add_image_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("drive health (SMART; only for drives, never for files or simulated drives)")
    g.add_argument("--no-smart", action="store_true", help="do not read or poll SMART")
    for flag, kind, default, metavar, text in (
        ("--smart-interval", _positive, 300.0, "SECONDS", "seconds between SMART polls while imaging [300]"),
        ("--smart-timeout", _positive, 30.0, "SECONDS", "a SMART read that takes longer is killed [30]"),
        ("--max-temp", int, 60, "CELSIUS", "pause imaging while the drive is hotter (0: never) [60]"),
        ("--max-pending-growth", int, 100, "N",
         "pause imaging when pending sectors grow by N (0: never) [100]"),
    ):  # fmt: skip
        g.add_argument(flag, type=kind, default=default, metavar=metavar, help=text)


def health_options(a: argparse.Namespace) -> HealthOptions | None:
    """HealthOptions from `station image` arguments (None when they are absent, e.g. a caller
    that built its own Namespace); raises ValueError for a bad value."""
    if not hasattr(a, "no_smart"):
        return None
    from station.health.monitor import MonitorLimits
    from station.health.watch import HealthOptions

    if a.max_temp < 0 or a.max_pending_growth < 0:
        raise ValueError("--max-temp and --max-pending-growth cannot be negative")
    limits = MonitorLimits(
        interval=a.smart_interval,
        timeout=a.smart_timeout,
        max_temp=a.max_temp or None,
        max_pending_growth=a.max_pending_growth or None,
    )
    limits.validate()
    return HealthOptions(smart=not a.no_smart, limits=limits)


# --- station smart -----------------------------------------------------------------------------


def smart_json(reading: SmartReading) -> dict[str, Any]:
    """The `--json` object: verdict, reasons, advice, identity, attributes (+ NVMe/SAS)."""
    from station.health.assess import assess

    a = assess(reading)
    d = reading.to_dict()
    return {
        "device": reading.device,
        "verdict": a.verdict,
        "reasons": a.reasons,
        "advice": a.advice,
        "smart_status": reading.smart_status,
        "smartctl_type": reading.smartctl_type,
        "identity": d["identity"],
        "attributes": d["attributes"],
        "nvme": d["nvme"],
        "scsi": d["scsi"],
    }


_LABELS = {
    "reallocated_sectors": "reallocated sectors (5)",
    "pending_sectors": "pending sectors (197)",
    "offline_uncorrectable": "offline uncorrectable (198)",
    "reported_uncorrectable": "reported uncorrectable (187)",
    "command_timeouts": "command timeouts (188)",
    "crc_errors": "interface CRC errors (199)",
    "temperature_c": "temperature (°C)",
    "power_on_hours": "power-on hours",
}


def _smart_text(obj: dict[str, Any]) -> list[str]:
    from station.health.identity import DriveIdentity

    ident = DriveIdentity(**obj["identity"])
    i = obj["identity"]
    lines = [f"{obj['device']}: {ident.describe()}"]
    sectors = f"{i['logical_sector_size'] or '?'}/{i['physical_sector_size'] or '?'} B sectors"
    lines.append(f"  firmware {i['firmware'] or '?'}, {sectors}" + (f", WWN {i['wwn']}" if i["wwn"] else ""))
    if obj["smart_status"]:
        lines.append(f"  drive's own assessment: {obj['smart_status']}")
    lines.append(f"Verdict: {obj['verdict']}")
    lines += [f"  - {r}" for r in obj["reasons"]]
    lines.append(f"Advice: {obj['advice']}")
    lines.append("Attributes:")
    for key, label in _LABELS.items():
        v = obj["attributes"].get(key)
        lines.append(f"  {label:<30} {'-' if v is None else v}")
    if n := obj.get("nvme"):
        lines += [
            "NVMe health:",
            f"  critical warning {n['critical_warning']:#04x}, media errors {n['media_errors']}, "
            f"spare {n['available_spare']}% (threshold {n['available_spare_threshold']}%), "
            f"used {n['percentage_used']}%",
        ]
    if s := obj.get("scsi"):
        uncorrected = f"{s['uncorrected_read']}/{s['uncorrected_write']}/{s['uncorrected_verify']}"
        defects = f"grown defects {s['grown_defects']}"
        lines += ["SAS/SCSI health:", f"  {defects}, uncorrected read/write/verify {uncorrected}"]
    return lines


def cmd_smart(a: argparse.Namespace) -> int:
    try:
        return _smart(a)
    except KeyboardInterrupt:  # smartctl is already killed (station.health.smartctl)
        print("station: interrupted", file=sys.stderr)
        return 130


def _smart(a: argparse.Namespace) -> int:
    from station.health.errors import SmartError
    from station.health.smart import read_device, scan

    if a.scan and a.device:
        return fail("give either a DEVICE or --scan, not both")
    if not a.scan and not a.device:
        return fail("smart: give a DEVICE (e.g. /dev/sdb) or --scan")
    if not a.scan:
        try:
            reading = read_device(a.device, timeout=a.timeout)
        except SmartError as e:
            return fail(str(e))
        obj = smart_json(reading)
        if a.json:
            print(json.dumps(obj, indent=2))
        else:
            print("\n".join(_smart_text(obj)))
        return 0
    try:
        drives = scan(timeout=a.timeout)
    except SmartError as e:
        return fail(str(e))
    results: list[dict[str, Any]] = []
    for path, kind in drives:
        try:
            results.append(smart_json(read_device(path, timeout=a.timeout, interface=kind)))
        except SmartError as e:
            results.append({"device": path, "smartctl_type": kind, "error": str(e)})
    if a.json:
        return json_out(results)
    if not results:
        print("no drives found (smartctl --scan-open found none; run as root?)")
    for r in results:
        if "error" in r:
            print(f"{r['device']:<14} {'ERROR':<8} {r['error']}")
            continue
        from station.health.identity import DriveIdentity

        print(f"{r['device']:<14} {r['verdict']:<8} {DriveIdentity(**r['identity']).describe()}")
    return 0


# --- station inventory -----------------------------------------------------------------------------


def cmd_inventory(a: argparse.Namespace) -> int:
    from station.health.inventory import collect, render

    inv = collect()
    if a.json:
        print(json.dumps(inv, indent=2))
    else:
        print("\n".join(render(inv)))
    return 0
