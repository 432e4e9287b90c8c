"""Drive health: SMART through pySMART (with timeouts), drive identity, assessment, monitoring
during a session, and the station's own hardware inventory.

Nothing here imports pySMART at import time: `station image` and `station inventory` work on
a machine without smartmontools, and pySMART is loaded only when SMART is actually read.
`drive_badge` (station.health.badge) is the drive list's SMART badge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from station.media.drives import Drive, HealthBadge


def drive_badge(drive: Drive, **kw) -> HealthBadge | None:
    """The workstation's HealthProvider: see station.health.badge.drive_badge (blocks: a worker only)."""
    from station.health.badge import drive_badge as badge

    return badge(drive, **kw)
