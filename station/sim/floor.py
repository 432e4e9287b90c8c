"""The floor of a virtual drive: what no method can beat, to say how far a method is from it.

To read a share of a drive's readable bytes takes at least their transfer time (fast bytes first,
at their zone's rate; then slow ones, at their own rate plus their delay once per 1 MiB request)
and, to get past each bad stretch, about one failed read (the drive's error penalty).  Seeks are
left out, so the floor is a little below what is reachable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from station.sim.model import BAD, SLOW, Layout

REQUEST = 1 << 20  # the largest read a method makes: slow delays are paid once per this many bytes


@dataclass(frozen=True)
class Floor:
    """The least simulated time to read `fraction` of the readable bytes, and what it is made of."""

    fraction: float
    seconds: float
    fast_seconds: float  # transfer of fast bytes
    slow_seconds: float  # transfer and delays of the slow bytes needed
    errors: int  # failed reads: one per bad stretch


def bad_stretches(layout: Layout) -> list[tuple[int, int]]:
    """Bad sectors merged into stretches, [start, end) in LBAs."""
    out: list[tuple[int, int]] = []
    for s in layout.segments:
        if not s.flags & BAD:
            continue
        if out and out[-1][1] >= s.start:
            out[-1] = (out[-1][0], max(out[-1][1], s.end))
        else:
            out.append((s.start, s.end))
    return out


def floors(layout: Layout, fractions: tuple[float, ...]) -> dict[float, Floor]:
    """The floor at each milestone fraction."""
    from station.sim.drive import SimDrive

    drive = SimDrive(layout)
    ss = layout.model.sector_size
    slow: list[tuple[float, int]] = []  # (seconds per sector, sectors) of each slow segment
    slow_sectors = 0
    for s in layout.segments:
        if s.flags & SLOW and not s.flags & BAD:
            n = s.end - s.start
            secs = drive.media_time(s.start, s.end, s.slowdown, s.rate)
            secs += s.delay * math.ceil(n * ss / REQUEST)
            slow.append((secs / n, n))
            slow_sectors += n
    slow.sort()
    readable = drive.readable_sectors
    fast = readable - slow_sectors
    fast_time = drive.media_time(0, layout.model.sectors, 1.0)
    fast_time -= sum(drive.media_time(a, b, 1.0) for a, b in bad_stretches(layout))
    fast_time -= sum(
        drive.media_time(s.start, s.end, 1.0) for s in layout.segments if s.flags & SLOW and not s.flags & BAD
    )
    errors = len(bad_stretches(layout))
    penalty = layout.model.timing.error_penalty
    out = {}
    for f in fractions:
        need = math.ceil(f * readable - 1e-9)
        fast_part = fast_time * min(need, fast) / max(fast, 1)
        slow_part, left = 0.0, need - min(need, fast)
        for per, n in slow:
            take = min(n, left)
            slow_part += per * take
            left -= take
        seconds = fast_part + slow_part + penalty * errors
        out[f] = Floor(f, seconds, fast_part, slow_part, errors)
    return out
