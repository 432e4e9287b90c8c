"""A drive's SMART health in one word and its reasons, for the drive list and the pre-flight check.

`drive_badge` is the workstation's `HealthProvider` (station.jobs.drives): one SMART reading
through `read_device` (with its timeout: smartctl is killed, never waited for) and `assess`.
It blocks for up to that timeout, so views call it from a worker thread.  Drives smartctl
cannot speak to are not hidden behind "no data": the badge is UNKNOWN and its reason is
smartctl's one line (a loop device, a bridge without SAT, a timeout), because a technician
deciding how to image a drive should know that SMART was tried and why it said nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class HealthBadge:
    """A drive's health in one word (GOOD, WARNING, FAILING, UNKNOWN) and why."""

    verdict: str
    reasons: tuple[str, ...] = ()
    advice: str = ""

    @property
    def short(self) -> str:
        return self.verdict.upper()


class DriveLike(Protocol):
    """What a badge needs of a drive in a list (station.jobs.drives.Drive is one)."""

    path: str
    kind: str


BADGE_TIMEOUT = 15.0  # seconds for one badge (a list of drives is read one drive at a time)


def drive_badge(
    drive: DriveLike,
    *,
    timeout: float = BADGE_TIMEOUT,
    smartctl: str | None = None,
    cancel: threading.Event | None = None,
) -> HealthBadge | None:
    """The SMART verdict of a block device with its reasons and advice; None for virtual drives,
    drives on an imager, files, and when smartctl is not installed."""
    from station.health.assess import ADVICE, UNKNOWN, assess
    from station.health.errors import SmartctlMissing, SmartError
    from station.health.identity import whole_disk_path
    from station.health.smart import find_smartctl, read_device

    if drive.kind != "block":
        return None
    if not (smartctl or find_smartctl()):
        return None
    try:
        reading = read_device(whole_disk_path(drive.path), timeout=timeout, smartctl=smartctl, cancel=cancel)
    except SmartctlMissing:
        return None
    except SmartError as e:
        return HealthBadge(UNKNOWN, (str(e),), ADVICE[UNKNOWN])
    except Exception as e:  # pySMART missing or broken: say so, never raise into a view
        return HealthBadge(UNKNOWN, (f"SMART could not be read ({type(e).__name__}: {e})",), ADVICE[UNKNOWN])
    a = assess(reading)
    return HealthBadge(a.verdict, tuple(a.reasons), a.advice)
