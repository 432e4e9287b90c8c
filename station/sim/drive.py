"""A virtual failing drive in operation: reads judged against its layout, charged to a cost clock.

`SimDrive.read(lba, count)` decides what a real drive would do with that command (return the
sectors, fail at the first unreadable one after its internal retries, take its time in slow
areas, or stop answering) and charges simulated seconds for it: a seek by distance, rotational
latency, transfer at the zone's rate, and the penalty of a failed read.  Optionally it really
sleeps a scaled fraction of that time, so that tools which time their reads (GNU ddrescue's
slow-area logic, our engine) see the slowness.

Counters (reads, errors, bytes, simulated seconds) and milestones (the simulated seconds and
read errors at which 50/90/99/99.9/100% of the readable bytes had first been read) are kept
here, so every method of reading the drive (in process, over FUSE, through an emulated
hardware imager) is measured the same way.

Everything is deterministic for a seed and a sequence of reads.
"""

from __future__ import annotations

import math
import random
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass, field

from sortedcontainers import SortedDict

from station.sim.model import BAD, SLOW, WEAK, DriveModel, Layout

MILESTONES = (0.5, 0.9, 0.99, 0.999, 1.0)
HISTORY_STEPS = 1000  # points of the coverage curve, at most about this many


class DriveHung(Exception):
    """The drive stopped answering; only a power cycle brings it back."""


class DrivePoweredOff(Exception):
    """A read while the drive has no power (the device is gone)."""


@dataclass(frozen=True)
class ReadResult:
    """The outcome of one read command."""

    lba: int
    count: int
    good: int  # sectors delivered from lba on (all of them when ok)
    ok: bool
    seconds: float  # simulated time charged
    error_lba: int | None = None


@dataclass
class Milestone:
    fraction: float
    seconds: float
    read_errors: int
    reads: int
    wall: float = 0.0  # real seconds since the drive's first read (what a time-scaled run took)


@dataclass
class Stats:
    reads: int = 0
    read_errors: int = 0
    bytes_read: int = 0  # good bytes delivered, repeats included
    seconds: float = 0.0  # simulated
    power_cycles: int = 0
    hangs: int = 0
    milestones: dict[float, Milestone] = field(default_factory=dict)
    covered: int = 0  # readable bytes read at least once
    # (simulated seconds, read errors, covered bytes) each time coverage grew by a step: the curve
    history: list[tuple[float, int, int]] = field(default_factory=list)

    def to_dict(self, readable: int) -> dict:
        return {
            "reads": self.reads,
            "read_errors": self.read_errors,
            "bytes_read": self.bytes_read,
            "seconds": self.seconds,
            "power_cycles": self.power_cycles,
            "hangs": self.hangs,
            "readable_bytes": readable,
            "covered_bytes": self.covered,
            "milestones": {
                f"{f:g}": {
                    "seconds": m.seconds,
                    "read_errors": m.read_errors,
                    "reads": m.reads,
                    "wall": m.wall,
                }
                for f, m in sorted(self.milestones.items())
            },
            "history": [list(h) for h in self.history],
        }


class _Coverage:
    """The union of sector ranges read good at least once."""

    def __init__(self) -> None:
        self._iv: SortedDict = SortedDict()  # start -> end
        self.total = 0

    def add(self, lo: int, hi: int) -> int:
        """Add [lo, hi); returns how many sectors were new."""
        iv = self._iv
        i = iv.bisect_right(lo) - 1
        if i >= 0:
            s, e = iv.peekitem(i)
            if e >= lo:
                if e >= hi:
                    return 0
                lo = s
        added_before = self.total
        # absorb every interval starting within [lo, hi]
        j = iv.bisect_left(lo)
        while j < len(iv):
            s, e = iv.peekitem(j)
            if s > hi:
                break
            hi = max(hi, e)
            self.total -= e - s
            del iv[s]
        iv[lo] = hi
        self.total += hi - lo
        return self.total - added_before


class SimDrive:
    """One virtual drive with its state (errors since power-on, weak sector attempts, head position)."""

    def __init__(self, model: DriveModel | Layout, *, time_scale: float = 0.0) -> None:
        self.layout = model if isinstance(model, Layout) else model.build()
        self.model = self.layout.model
        self.geometry = self.layout.geometry
        self.timing = self.model.timing
        self.sector_size = self.model.sector_size
        self.sectors = self.model.sectors
        self.time_scale = time_scale
        segs = self.layout.segments
        self._seg_starts = [s.start for s in segs]
        self._seg_ends = [s.end for s in segs]
        self._segs = segs
        self.readable_sectors = self.sectors - self.layout.bad_sectors
        self.stats = Stats()
        self._coverage = _Coverage()
        self._rng = random.Random(self.model.seed ^ 0x5EED)
        self._weak_rngs: dict[int, random.Random] = {}
        self._head_lba = 0  # where the heads are: the LBA after the last read
        self._errors_since_power = 0
        self._powered = True
        self._hung = False
        self._lock = threading.RLock()
        self._unhang = threading.Condition(self._lock)
        self._generation = 0  # bumps at each power cycle, releasing hung reads
        self._wear: dict[int, int] = {}  # sectors each degrading head has read
        self._first_read: float | None = None  # time.monotonic() of the first read command

    # -- clock ------------------------------------------------------------------------------------

    def clock(self) -> float:
        """Simulated seconds since the drive was made (an engine may use this as its clock)."""
        return self.stats.seconds

    def _charge(self, seconds: float) -> None:
        self.stats.seconds += seconds
        if self.time_scale > 0 and seconds > 0:
            time.sleep(seconds * self.time_scale)

    # -- power -------------------------------------------------------------------------------------

    @property
    def powered(self) -> bool:
        return self._powered

    @property
    def hung(self) -> bool:
        return self._hung

    def power_off(self) -> None:
        with self._lock:
            self._powered = False
            self._hung = False
            self._generation += 1
            self._unhang.notify_all()

    def power_on(self) -> None:
        with self._lock:
            if not self._powered:
                self._powered = True
                self._errors_since_power = 0
                self.stats.power_cycles += 1
                self._head_lba = 0
                self._charge(self.timing.spinup)

    def power_cycle(self) -> None:
        self.power_off()
        self.power_on()

    # -- reads -------------------------------------------------------------------------------------

    def read(self, lba: int, count: int, *, block: bool = True, hang_wait: float | None = None) -> ReadResult:
        """One read command of `count` sectors at `lba` (clipped at the end of the drive).

        Raises DrivePoweredOff without power, and DriveHung once the drive has stopped
        answering: if `block`, only after waiting (up to `hang_wait` seconds of real time, None
        for ever) for a power cycle that does not come, as a hung device would keep a reader.
        """
        with self._lock:
            if not self._powered:
                raise DrivePoweredOff("drive has no power")
            if self._hung:
                self._wait_hung(block, hang_wait)
            lba = max(0, lba)
            count = max(0, min(count, self.sectors - lba))
            if self._first_read is None:
                self._first_read = time.monotonic()
            self.stats.reads += 1
            cost = self._position_cost(lba) + self.timing.command_us / 1e6
            if count == 0:
                self._charge(cost)
                return ReadResult(lba, 0, 0, True, cost)
            fail_at, transfer = self._scan(lba, count)
            if fail_at is None:
                cost += transfer
                self._charge(cost)
                self._head_lba = lba + count
                self._delivered(lba, count)
                return ReadResult(lba, count, count, True, cost)
            # a failed command: time to reach the bad sector, then the drive's own retries
            good = fail_at - lba
            cost += transfer + self.timing.error_penalty
            self._charge(cost)
            self._head_lba = fail_at + 1
            self.stats.read_errors += 1
            self._errors_since_power += 1
            limit = self.model.hang_after_errors
            if limit is not None and self._errors_since_power >= limit:
                self._hung = True
                self.stats.hangs += 1
            return ReadResult(lba, count, good, False, cost, error_lba=fail_at)

    def _wait_hung(self, block: bool, hang_wait: float | None) -> None:
        gen = self._generation
        self._charge(self.timing.hang_timeout)
        if block:
            self._unhang.wait_for(lambda: self._generation != gen, hang_wait)
        if self._generation == gen:
            raise DriveHung("drive not responding")
        raise DrivePoweredOff("drive lost power during the read")

    def _position_cost(self, lba: int) -> float:
        """Seek and rotational latency to start reading at lba (nothing when sequential)."""
        if lba == self._head_lba:
            return 0.0
        g = self.geometry
        here = g.track_of(min(self._head_lba, self.sectors - 1))
        there = g.track_of(min(lba, self.sectors - 1))
        d = abs(there.cylinder - here.cylinder)
        t = self.timing
        if d:
            frac = math.sqrt(d / max(1, g.cylinders - 1))
            seek = (t.settle_ms + (t.full_seek_ms - t.settle_ms) * frac) / 1000
        elif there.head != here.head:
            seek = t.head_switch_ms / 1000
        else:
            seek = 0.0
        return seek + g.revolution / 2

    def _scan(self, lba: int, count: int) -> tuple[int | None, float]:
        """Walk the read's sectors: the first that fails (or None) and the transfer time to it."""
        end = lba + count
        pos = lba
        seconds = 0.0
        i = bisect_right(self._seg_ends, lba)  # first segment ending after lba
        segs = self._segs
        while pos < end:
            seg = segs[i] if i < len(segs) and segs[i].start < end else None
            plain_end = seg.start if seg is not None and seg.start > pos else (end if seg is None else pos)
            if plain_end > pos:  # sectors without defects
                seconds += self.media_time(pos, plain_end, 1.0)
                pos = plain_end
                continue
            assert seg is not None
            s_end = min(seg.end, end)
            if seg.flags & BAD:
                return pos, seconds
            seconds += seg.delay
            slow = seg.slowdown if seg.flags & SLOW else 1.0
            cap = seg.rate if seg.flags & SLOW else 0.0
            if seg.flags & WEAK:
                failed, retries = self._weak(seg, pos, s_end)
                seconds += retries
                if failed is not None:
                    seconds += self.media_time(pos, failed, slow, cap)
                    return failed, seconds
            seconds += self.media_time(pos, s_end, slow, cap)
            pos = s_end
            i += 1
        return None, seconds

    def _weak(self, seg, lo: int, hi: int) -> tuple[int | None, float]:
        """The first sector of [lo, hi) that fails this time, if any (seeded, per attempt), and
        the seconds that weak sectors' retries cost on the way."""
        fail_p = seg.fail_p
        if seg.wear:  # a degrading head: worse the more it has read
            worn = self._wear.get(seg.head, 0)
            fail_p = min(seg.max_p, fail_p + seg.wear * worn * self.sector_size / (1 << 20))
        if fail_p > 0:  # a weak head: each sector read may fail
            u = self._rng.random()
            k = int(math.log(1.0 - u) / math.log(1.0 - fail_p)) if u > 0 else 0
            if seg.wear:
                self._wear[seg.head] = self._wear.get(seg.head, 0) + min(k + 1, hi - lo)
            if k < hi - lo:
                return lo + k, 0.0
        elif seg.wear:
            self._wear[seg.head] = self._wear.get(seg.head, 0) + hi - lo
        retries = 0.0
        if seg.success_p > 0:  # weak sectors: each attempt on each succeeds with success_p
            for lba in range(lo, hi):
                rng = self._weak_rngs.get(lba)
                if rng is None:
                    rng = self._weak_rngs[lba] = random.Random(self.model.seed * 1_000_003 + lba)
                if rng.random() >= seg.success_p:
                    return lba, retries
                retries += self.timing.weak_retry
        return None, retries

    def media_time(self, lo: int, hi: int, slowdown: float, rate: float = 0.0) -> float:
        """Media time for [lo, hi), zone by zone (at most `rate` bytes per second if given)."""
        g = self.geometry
        seconds = 0.0
        pos = lo
        while pos < hi:
            ti = g.track_index(pos)
            t = g.tracks[ti]
            stop = min(hi, t.end if g.spec.head_scale else g.zone_end[t.zone])  # heads' rates differ
            speed = g.zone_rate(t) / slowdown
            if rate:
                speed = min(speed, rate)
            seconds += (stop - pos) * self.sector_size / speed
            pos = stop
        return seconds

    def _delivered(self, lba: int, count: int) -> None:
        st = self.stats
        st.bytes_read += count * self.sector_size
        new = self._coverage.add(lba, lba + count)
        if not new:
            return
        st.covered = self._coverage.total * self.sector_size
        readable = self.readable_sectors
        step = max(1, readable // HISTORY_STEPS)
        if not st.history or self._coverage.total - st.history[-1][2] // self.sector_size >= step:
            st.history.append((st.seconds, st.read_errors, st.covered))
        for f in MILESTONES:
            if f not in st.milestones and self._coverage.total >= math.ceil(f * readable - 1e-9):
                wall = time.monotonic() - (self._first_read or time.monotonic())
                st.milestones[f] = Milestone(f, st.seconds, st.read_errors, st.reads, wall)
                if st.history[-1][2] != st.covered:
                    st.history.append((st.seconds, st.read_errors, st.covered))

    def is_bad(self, lba: int) -> bool:
        """Whether a sector can never be read (for verification and tests)."""
        i = bisect_right(self._seg_starts, lba) - 1
        return i >= 0 and self._segs[i].end > lba and bool(self._segs[i].flags & BAD)

    def bad_ranges(self) -> list[tuple[int, int]]:
        return [(s.start, s.end) for s in self._segs if s.flags & BAD]


__all__ = ["MILESTONES", "DriveHung", "DrivePoweredOff", "ReadResult", "SimDrive", "Stats"]
