"""Scripted sources: a drive whose faults are listed by hand, for tests and the demo drive.

Content is deterministic per sector (the sector's number in every 8 bytes), so any image can
be checked against `expected_bytes`.  Time is charged to a clock that tests can fake, so the
engine's decisions about slow areas and timeouts are deterministic.
"""

from __future__ import annotations

import bisect
import errno
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from station.media.base import SourceIdentity
from station.sim.content import expected_bytes, sector_content

__all__ = ["FakeClock", "Fault", "ScriptedSource", "expected_bytes", "sector_content"]


class FakeClock:
    """A clock that only moves when a scripted read charges it time."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@dataclass(frozen=True)
class Fault:
    """A byte range with a behaviour: bad (EIO), slow (late), hang (never returns), weak
    (fails `tries` times per read, then reads)."""

    start: int
    end: int
    kind: str  # "bad", "slow", "hang", "weak"
    delay: float = 0.0  # extra seconds per read touching it (slow)
    tries: int = 2  # weak: failures before it reads


@dataclass
class ScriptedSource:
    """An in-process Source with listed faults and a simulated cost per read."""

    size_bytes: int
    faults: Iterable[Fault] = ()
    sector: int = 512
    clock: Callable[[], float] | None = None
    rate: float = 200e6  # bytes/s charged for good reads
    error_cost: float = 0.0  # seconds charged per failed read
    real_sleep: float = 0.0  # fraction of charged time really slept (demo pacing)
    partial_reads: bool = False  # a failed read returns the good sectors before the fault
    path: str = "scripted"
    model: str | None = "Scripted failing drive"
    serial: str | None = "SIM-0001"
    reads: list[tuple[int, int, bool]] = field(default_factory=list)
    reopens: int = 0
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.faults = sorted(self.faults, key=lambda f: f.start)
        self._starts = [f.start for f in self.faults]
        self._weak_hits: dict[int, int] = {}
        self.identity = SourceIdentity(
            path=self.path,
            kind="virtual",
            size=self.size_bytes,
            sector_size=self.sector,
            model=self.model,
            serial=self.serial,
        )

    # Source protocol
    @property
    def size(self) -> int:
        return self.size_bytes

    @property
    def sector_size(self) -> int:
        return self.sector

    @property
    def alignment(self) -> int:
        return 1

    def reopen(self) -> None:
        self.reopens += 1

    def close(self) -> None:
        self.release.set()

    def _charge(self, seconds: float) -> None:
        if isinstance(self.clock, FakeClock):
            self.clock.advance(seconds)
        if self.real_sleep > 0 and seconds > 0:
            time.sleep(seconds * self.real_sleep)

    def _touching(self, pos: int, end: int) -> list[Fault]:
        i = bisect.bisect_right(self._starts, end - 1)
        return [f for f in self.faults[:i] if f.end > pos]

    def read_into(self, pos: int, buf: memoryview) -> int:
        n = min(len(buf), max(self.size_bytes - pos, 0))
        end = pos + n
        cost = n / self.rate if self.rate else 0.0
        failed_at: int | None = None
        for f in self._touching(pos, end):
            if f.kind == "hang":
                self.reads.append((pos, n, False))
                self.release.wait(60)
                raise OSError(errno.EIO, "hung read released")
            if f.kind == "slow":
                cost += f.delay
            elif f.kind == "bad" or (f.kind == "weak" and self._weak_fails(f)):
                at = max(f.start, pos)
                failed_at = at if failed_at is None else min(failed_at, at)
        if failed_at is not None:
            self._charge(cost + self.error_cost)
            self.reads.append((pos, n, False))
            err = OSError(errno.EIO, "Input/output error")
            good = (failed_at - pos) // self.sector * self.sector if self.partial_reads else 0
            if good:
                buf[:good] = expected_bytes(pos, good, self.sector)
            err.partial = good  # type: ignore[attr-defined]
            raise err
        self._charge(cost)
        if n:
            buf[:n] = expected_bytes(pos, n, self.sector)
        self.reads.append((pos, n, True))
        return n

    def _weak_fails(self, f: Fault) -> bool:
        hits = self._weak_hits.get(f.start, 0)
        self._weak_hits[f.start] = hits + 1
        return hits < f.tries
