"""The report's words for a customer: what a SMART verdict means, what each attribute counts.

The technician's words (the assessment's reasons and advice, station.health.assess) stay in the
report beside these; these are for the person whose data it is.
"""

from __future__ import annotations

VERDICT_WORDS = {
    "GOOD": "The drive reported no sign of failure.",
    "WARNING": (
        "The drive shows early signs of wear or damage. It still works, but it should no longer be "
        "trusted with the only copy of anything."
    ),
    "FAILING": (
        "The drive is failing: parts of its surface can no longer be read reliably. It should be "
        "replaced and not used again for data that matters."
    ),
    "UNKNOWN": "The drive's health could not be read, so its own reports say nothing about it.",
}

VERDICT_SHORT = {"GOOD": "healthy", "WARNING": "worn", "FAILING": "failing", "UNKNOWN": "unknown"}

ATTRIBUTE_WORDS = {
    "reallocated_sectors": "Sectors already replaced by spares",
    "pending_sectors": "Sectors the drive cannot read now (waiting to be replaced)",
    "offline_uncorrectable": "Sectors found unreadable by the drive's own checks",
    "reported_uncorrectable": "Reads that failed beyond the drive's error correction",
    "command_timeouts": "Commands the drive did not answer in time",
    "crc_errors": "Errors on the cable or connection (not the disk itself)",
    "temperature_c": "Temperature (°C)",
    "power_on_hours": "Hours the drive has been powered on",
    "critical_warning": "Critical warning flags (NVMe)",
    "media_errors": "Media and data integrity errors (NVMe)",
    "available_spare": "Spare capacity left (%, NVMe)",
    "percentage_used": "Rated endurance used (%, NVMe)",
    "grown_defects": "Defects found since manufacture (SAS)",
    "uncorrected_read": "Uncorrected read errors (SAS)",
}


def verdict_words(verdict: str | None) -> str:
    return VERDICT_WORDS.get((verdict or "UNKNOWN").upper(), VERDICT_WORDS["UNKNOWN"])


def attribute_words(name: str) -> str:
    return ATTRIBUTE_WORDS.get(name, name.replace("_", " ").capitalize())
