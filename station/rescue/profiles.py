"""Named engine profiles: the methods a technician picks from (the workstation, later the bench).

A profile is a function of nothing that returns fresh RescueOptions.  Hardware imagers are the
other kind of method; they come from the drivers package, not from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from station.rescue.options import RescueOptions


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    options: Callable[[], RescueOptions]


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("default", "all phases: copy, trim, sweep, scrape", RescueOptions),
        Profile(
            "quick",
            "good data first: copying passes only (resume later with default)",
            lambda: RescueOptions(no_trim=True, no_scrape=True, no_sweep=True),
        ),
        Profile(
            "thorough",
            "all phases, then 3 retry passes over bad sectors",
            lambda: RescueOptions(retry_passes=3),
        ),
        Profile(
            "reverse", "all phases, every pass in the other direction", lambda: RescueOptions(reverse=True)
        ),
    )
}


def cli_flags(o: RescueOptions) -> list[str]:
    """`station image` flags that give these options (those that differ from the defaults)."""
    d = RescueOptions()
    flags: list[str] = []
    for name, flag in (("reverse", "-R"), ("no_trim", "-N"), ("no_scrape", "-n"), ("no_sweep", "--no-sweep"),
                       ("direct", "-d")):  # fmt: skip
        if getattr(o, name) and not getattr(d, name):
            flags.append(flag)
    if o.retry_passes != d.retry_passes:
        flags.append(f"--retry-passes={o.retry_passes}")
    if o.max_read_errors is not None:
        flags.append(f"--max-read-errors={o.max_read_errors}")
    if o.timeout is not None:
        flags.append(f"--timeout={o.timeout:g}")
    if o.read_timeout != d.read_timeout:
        flags.append(f"--read-timeout={o.read_timeout:g}")
    if o.save_interval != d.save_interval:
        flags.append(f"--save-interval={o.save_interval:g}")
    return flags
