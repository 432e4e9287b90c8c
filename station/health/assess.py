"""What a SMART reading means for the job: a verdict with its reasons and advice.

The drive's own verdict (PASSED/FAILED) is a first word, not the last: most drives die with
PASSED.  The rules here follow what predicts failure in practice (the attributes Backblaze and
the smartmontools authors single out) and what matters to a recovery lab:

- 197 current pending and 198 offline uncorrectable: sectors the drive cannot read now.  The
  image will have holes; every extra read (self-test, fsck, mount) wears the drive further.
- 187 reported uncorrectable: reads already failed beyond ECC.
- 5 reallocated: spares in use; a few mean wear, many mean a degrading surface.
- 188 command timeouts: the drive stopped answering in time; a handful come from power
  events and USB bridges, so only a run of them counts.
- 199 UDMA CRC errors: corruption on the wire, so a cable, connector or bridge, not the media.
  A note with advice, never a verdict on the drive.
- temperature: a hot drive fails faster; reading it hot for hours is how heads die.
- NVMe: the critical warning bits, media and data integrity errors, available spare against
  its threshold, percentage used.
- SAS: the drive's health status (with its reason), grown defects, uncorrected errors.

The verdict is the worst finding: FAILING, WARNING or GOOD; UNKNOWN when the drive gave no
health data at all.  Notes are reported but never raise the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from station.health.smart import SmartReading

GOOD, WARNING, FAILING, UNKNOWN = "GOOD", "WARNING", "FAILING", "UNKNOWN"
NOTE = "NOTE"  # a finding that does not change the verdict
_RANK = {NOTE: 0, GOOD: 0, WARNING: 1, FAILING: 2}


@dataclass(frozen=True)
class Limits:
    """Where the rules draw their lines (the defaults are deliberately conservative)."""

    reallocated_failing: int = 100  # this many reallocated sectors (or SAS grown defects): FAILING
    command_timeouts_warning: int = 10  # fewer are a note (power events, USB bridges)
    hdd_hot_c: int = 55  # most hard drives are rated to 55-60 °C
    ssd_hot_c: int = 70  # used when an SSD/NVMe gives no threshold of its own
    nvme_spare_margin: int = 10  # spare within this many points of its threshold: WARNING
    nvme_used_warning: int = 90  # percentage used


@dataclass(frozen=True)
class Finding:
    severity: str  # FAILING, WARNING or NOTE
    text: str
    advice: str | None = None


@dataclass
class Assessment:
    verdict: str
    reasons: list[str]
    advice: str
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": list(self.reasons), "advice": self.advice}


ADVICE = {
    FAILING: (
        "Image it now and do nothing else with it: no SMART self-tests, no surface scans, no filesystem "
        "checks (fsck, chkdsk), no mounting. Rescue the good areas first and keep the drive cool."
    ),
    WARNING: (
        "Image it soon, before anything else; avoid self-tests, surface scans and filesystem checks, "
        "which wear a weak drive."
    ),
    GOOD: "No sign of failure in SMART; image it as usual (SMART misses some faults: watch the read errors).",
    UNKNOWN: "SMART tells nothing here: treat the drive as suspect and image it with the usual care.",
}


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def assess(reading: SmartReading, limits: Limits | None = None) -> Assessment:
    """The verdict on a reading, with every reason and the advice that goes with it."""
    lim = limits or Limits()
    found: list[Finding] = []
    has_data = bool(reading.smart_status or reading.ata or reading.nvme or reading.scsi)
    if not has_data:
        why = "the drive reported no SMART health data"
        if reading.smart_available and not reading.smart_enabled:
            why = "SMART is disabled on the drive"
        elif not reading.smart_available:
            why = "the drive (or its bridge) does not support SMART"
        return Assessment(UNKNOWN, [why], ADVICE[UNKNOWN])

    if reading.smart_status == "FAILED":
        words = reading.smart_status_text or "FAILED"
        found.append(Finding(FAILING, f"the drive's own SMART assessment says it is failing ({words})"))
    found += _ata_findings(reading, lim)
    if reading.nvme is not None:
        found += _nvme_findings(reading, lim)
    if reading.scsi is not None:
        found += _scsi_findings(reading, lim)
    found += _temperature_findings(reading, lim)

    worst = max((_RANK[f.severity] for f in found), default=0)
    verdict = {0: GOOD, 1: WARNING, 2: FAILING}[worst]
    ordered = sorted(found, key=lambda f: -_RANK[f.severity])
    reasons = [f.text for f in ordered]
    if verdict == GOOD:
        reasons.insert(0, _good_reason(reading))
    extra = []
    for f in ordered:
        if f.advice and f.advice not in extra:
            extra.append(f.advice)
    advice = " ".join([ADVICE[verdict], *extra])
    return Assessment(verdict, reasons, advice, ordered)


def _good_reason(reading: SmartReading) -> str:
    said = {"PASSED": "the drive's own assessment is PASSED"}.get(reading.smart_status or "", "")
    rest = "no failure-predicting attribute is raised"
    return f"{said} and {rest}" if said else rest


def _ata_findings(reading: SmartReading, lim: Limits) -> list[Finding]:
    out: list[Finding] = []
    a = reading.attributes
    for row in reading.ata:
        if row.when_failed == "FAILING_NOW":
            out.append(
                Finding(
                    FAILING,
                    f"attribute {row.id} {row.name} is failing now "
                    f"(value {row.value}, threshold {row.thresh})",
                )
            )
        elif row.when_failed not in ("-", ""):
            out.append(
                Finding(
                    WARNING,
                    f"attribute {row.id} {row.name} fell to its threshold in the past "
                    f"(worst {row.worst}, threshold {row.thresh})",
                )
            )
    if not reading.ata:
        return out
    pending = a.get("pending_sectors")
    if pending:
        out.append(
            Finding(FAILING, f"{_plural(pending, 'sector')} pending reallocation (197): unreadable right now")
        )
    offline = a.get("offline_uncorrectable")
    if offline:
        out.append(
            Finding(
                FAILING,
                f"{_plural(offline, 'offline-uncorrectable sector')} (198): "
                "the drive's own scan found sectors it cannot read",
            )
        )
    reported = a.get("reported_uncorrectable")
    if reported:
        out.append(
            Finding(
                FAILING,
                f"{_plural(reported, 'uncorrectable error')} reported to the host (187): "
                "reads have already failed beyond ECC",
            )
        )
    realloc = a.get("reallocated_sectors")
    if realloc:
        sev = FAILING if realloc >= lim.reallocated_failing else WARNING
        out.append(
            Finding(
                sev,
                f"{_plural(realloc, 'reallocated sector')} (5): spare sectors in use"
                + ("; the surface is degrading" if sev == FAILING else ""),
            )
        )
    timeouts = a.get("command_timeouts")
    if timeouts:
        sev = WARNING if timeouts >= lim.command_timeouts_warning else NOTE
        out.append(
            Finding(
                sev,
                f"{_plural(timeouts, 'command timeout')} (188): the drive has not always answered in time",
            )
        )
    crc = a.get("crc_errors")
    if crc:
        out.append(
            Finding(
                NOTE,
                f"{_plural(crc, 'interface CRC error')} (199): data corrupted on the "
                "cable or bridge, not on the media",
                "Reseat or replace the cable (or USB adapter) before imaging.",
            )
        )
    return out


_NVME_BITS = [
    (0x01, FAILING, "available spare below its threshold"),
    (0x02, WARNING, "temperature outside its limits"),
    (0x04, FAILING, "reliability degraded by media or internal errors"),
    (0x08, FAILING, "media placed in read-only mode"),
    (0x10, WARNING, "volatile memory backup failed"),
    (0x20, WARNING, "persistent memory region read-only"),
]


def _nvme_findings(reading: SmartReading, lim: Limits) -> list[Finding]:
    n = reading.nvme
    assert n is not None
    out: list[Finding] = []
    if n.critical_warning:
        for bit, sev, what in _NVME_BITS:
            if n.critical_warning & bit:
                out.append(Finding(sev, f"NVMe critical warning {n.critical_warning:#04x}: {what}"))
    if n.media_errors:
        out.append(
            Finding(
                FAILING,
                f"{_plural(n.media_errors, 'media and data integrity error')}: "
                "data the controller could not recover",
            )
        )
    if n.available_spare is not None and n.available_spare_threshold is not None:
        if n.available_spare <= n.available_spare_threshold:
            if not (n.critical_warning or 0) & 0x01:  # not said twice
                out.append(
                    Finding(
                        FAILING,
                        f"available spare {n.available_spare}% at or below its threshold "
                        f"of {n.available_spare_threshold}%",
                    )
                )
        elif n.available_spare <= n.available_spare_threshold + lim.nvme_spare_margin:
            out.append(
                Finding(
                    WARNING,
                    f"available spare down to {n.available_spare}% "
                    f"(threshold {n.available_spare_threshold}%)",
                )
            )
    if n.percentage_used is not None and n.percentage_used >= lim.nvme_used_warning:
        past = "past" if n.percentage_used >= 100 else "near"
        out.append(Finding(WARNING, f"{n.percentage_used}% of rated endurance used ({past} its end of life)"))
    return out


def _scsi_findings(reading: SmartReading, lim: Limits) -> list[Finding]:
    s = reading.scsi
    assert s is not None
    out: list[Finding] = []
    if s.grown_defects:
        sev = FAILING if s.grown_defects >= lim.reallocated_failing else WARNING
        out.append(Finding(sev, f"{_plural(s.grown_defects, 'grown defect')} in the defect list"))
    for what, n in (
        ("read", s.uncorrected_read),
        ("verify", s.uncorrected_verify),
        ("write", s.uncorrected_write),
    ):
        if n:
            out.append(
                Finding(FAILING, f"{_plural(n, f'uncorrected {what} error')} in the error counter log")
            )
    return out


def _temperature_findings(reading: SmartReading, lim: Limits) -> list[Finding]:
    t = reading.attributes.get("temperature_c")
    if t is None:
        return []
    cool = "Cool the drive (a fan blowing on it) before and while imaging."
    if reading.nvme is not None and reading.nvme.warning_temp_c:
        limit, whose = reading.nvme.warning_temp_c, "its own warning threshold"
    elif reading.scsi is not None and reading.scsi.trip_temp_c:
        limit, whose = min(lim.hdd_hot_c, reading.scsi.trip_temp_c), f"{lim.hdd_hot_c} °C"
    elif reading.identity.ssd:
        limit, whose = lim.ssd_hot_c, f"{lim.ssd_hot_c} °C"
    else:
        limit, whose = lim.hdd_hot_c, f"{lim.hdd_hot_c} °C"
    if reading.scsi is not None and reading.scsi.trip_temp_c and t >= reading.scsi.trip_temp_c:
        return [Finding(FAILING, f"temperature {t} °C at or above the drive's trip point", cool)]
    if t >= limit:
        return [Finding(WARNING, f"temperature {t} °C (hot: at or above {whose})", cool)]
    return []
