"""Named engine profiles: the method a technician picks in the TUI or names in `station bench`.

A profile is only a set of option changes over the defaults, so a session's recorded options
say exactly what ran, and a lab can compare profiles on the same drive.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from station.rescue.options import KiB, RescueOptions

PROFILES: dict[str, tuple[str, dict[str, Any]]] = {
    "default": ("good data first, then trimming, sweeping and scraping (the defaults)", {}),
    "fast": ("copying and trimming only: the readable bulk quickly, no scraping", {"no_scrape": True}),
    "thorough": ("the defaults, then 3 retry passes over bad sectors", {"retry_passes": 3}),
    "gentle": (
        "small reads and no slow-area skipping, for drives that reset on long commands",
        {"max_read_size": 64 * KiB, "min_read_rate": None},
    ),
}


def profile_options(name: str, base: RescueOptions | None = None) -> RescueOptions:
    """The options of a profile (over `base`, or the defaults); ValueError names the profiles."""
    if name not in PROFILES:
        raise ValueError(f"no engine profile {name!r} (profiles: {', '.join(PROFILES)})")
    return dataclasses.replace(base or RescueOptions(), **PROFILES[name][1])
