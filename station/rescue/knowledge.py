"""What a rescue learns beyond the map's statuses, kept with the session beside the map.

The map says what was read and what failed, in ddrescue's five statuses, and ddrescue must be
able to read it; so what the engine learns about the drive lives here instead:

* the patterns bad and slow areas follow (station.rescue.areas): their periods, lengths and
  where on the disk each held, from which the head map is drawn;
* `slow`: areas that read slowly (read so, or stepped over for being slow);
* `presumed_bad`: areas stepped over because a learned pattern put a bad stretch there (their
  first sector was read and failed; the rest was not tried yet).

A resumed run starts from it instead of learning again with more reads of bad areas
(station.rescue.learnedfile keeps it in a file beside the map).
"""

from __future__ import annotations

from typing import Any

from station.core.ranges import RangeSet
from station.rescue.areas import Area, AreaTracker, Pattern

VERSION = 1


class Knowledge:
    """One run's learning: pattern trackers for bad and slow areas, and the areas themselves."""

    def __init__(self, sector: int, cluster: int, max_jump: int) -> None:
        self.areas = AreaTracker(sector, cluster, max_jump)
        self.slow_areas = AreaTracker(sector, cluster, max_jump)
        self.slow = RangeSet()
        self.presumed_bad = RangeSet()

    def deferred(self) -> list[tuple[int, int]]:
        """What the fast phases leave for later: slow areas, and areas presumed bad."""
        both = RangeSet(self.slow.ranges)
        for lo, hi in self.presumed_bad.ranges:
            both.add(lo, hi)
        return both.ranges

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "slow": [list(r) for r in self.slow.ranges],
            "presumed_bad": [list(r) for r in self.presumed_bad.ranges],
            "bad_patterns": [p.to_dict() for p in self.areas.patterns],
            "slow_patterns": [p.to_dict() for p in self.slow_areas.patterns],
            "bad_recent": [_area(a) for a in self.areas.recent],
            "slow_recent": [_area(a) for a in self.slow_areas.recent],
        }

    def load(self, d: dict[str, Any]) -> None:
        """Take over what an earlier run kept (ValueError/KeyError/TypeError when malformed)."""
        if d.get("version") != VERSION:
            raise ValueError(f"knowledge version {d.get('version')!r} is not {VERSION}")
        self.slow = RangeSet([(int(a), int(b)) for a, b in d.get("slow", [])])
        self.presumed_bad = RangeSet([(int(a), int(b)) for a, b in d.get("presumed_bad", [])])
        for tracker, patterns, recent in (
            (self.areas, d.get("bad_patterns", []), d.get("bad_recent", [])),
            (self.slow_areas, d.get("slow_patterns", []), d.get("slow_recent", [])),
        ):
            tracker.patterns = [Pattern.from_dict(p) for p in patterns]
            for a in recent:
                tracker.record(int(a[0]), int(a[1]), bool(a[2]), bool(a[3]), int(a[4]) if len(a) > 4 else 0)

    @classmethod
    def from_kept(cls, learned: dict[str, Any] | None) -> Knowledge | None:
        """Knowledge as a view needs it from a kept file (None when there is none or it is unusable)."""
        if not learned:
            return None
        k = cls(512, 64 << 10, 1 << 30)  # (read sizes matter only to a run, which sets its own)
        try:
            k.load(learned)
        except (ValueError, KeyError, TypeError):
            return None
        return k

    def describe(self) -> str:
        """What is known, in a few words (a resumed run says it)."""
        parts = []
        patterns = len(self.areas.patterns) + len(self.slow_areas.patterns)
        if patterns:
            parts.append(f"{patterns} pattern{'s' * (patterns != 1)} of bad or slow areas")
        if self.slow:
            parts.append(f"{len(self.slow)} slow area{'s' * (len(self.slow) != 1)}")
        if self.presumed_bad:
            parts.append(f"{len(self.presumed_bad)} area{'s' * (len(self.presumed_bad) != 1)} presumed bad")
        return ", ".join(parts) or "nothing yet"

    def empty(self) -> bool:
        return not (self.slow or self.presumed_bad or self.areas.patterns or self.slow_areas.patterns)


def _area(a: Area) -> list:
    return [a.start, a.length, a.exact, a.measured, a.slack]
