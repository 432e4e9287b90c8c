"""Named engine profiles: the methods a technician picks in the workstation or names in
`station bench` (hardware imagers are the other kind of method; they come from `drivers`).
The command line a profile stands for is `option_flags.cli_flags(profile.options())`.

A profile is only a set of option changes over the defaults, so a session's recorded options
say exactly what ran, and a lab can compare profiles on the same drive.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from station.rescue.options import KiB, RescueOptions


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    changes: dict[str, Any] = field(default_factory=dict)

    def options(self, base: RescueOptions | None = None) -> RescueOptions:
        """Fresh options for this profile (over `base`, or the defaults)."""
        return dataclasses.replace(base or RescueOptions(), **self.changes)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("default", "all phases: copy, trim, sweep, scrape"),
        Profile(
            "quick",
            "good data first: copying passes only (resume later with default)",
            {"no_trim": True, "no_scrape": True, "no_sweep": True},
        ),
        Profile("thorough", "all phases, then 3 retry passes over bad sectors", {"retry_passes": 3}),
        Profile("reverse", "all phases, every pass in the other direction", {"reverse": True}),
        Profile(
            "gentle",
            "small reads (64 KiB), for drives that reset on long commands",
            {"max_read_size": 64 * KiB},
        ),
    )
}


def profile_options(name: str, base: RescueOptions | None = None) -> RescueOptions:
    """The options of a profile; ValueError names the profiles."""
    if name not in PROFILES:
        raise ValueError(f"no engine profile {name!r} (profiles: {', '.join(PROFILES)})")
    return PROFILES[name].options(base)
