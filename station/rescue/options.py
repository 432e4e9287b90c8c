"""Rescue options, comparable to GNU ddrescue's (names in comments are its long options)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass
class RescueOptions:
    sector_size: int | None = None  # --sector-size; None: the source's logical sector size
    cluster_size: int = 64 * KiB  # --cluster-size: the read size where errors were seen
    max_read_size: int = 1 * MiB  # reads grow up to this over healthy areas
    skip_size: int = 64 * KiB  # --skip-size initial
    max_skip_size: int | None = None  # --skip-size max; None: 1% of the domain, within [64 KiB, 1 GiB]
    min_read_rate: float | None = 0.0  # --min-read-rate; 0 = auto (station.rescue.slowness), None = off
    slow_read_time: float = 0.05  # a read longer than this plus its size at the minimum rate is slow
    delay_slow: float = 30.0  # --delay-slow: seconds before slow reads count
    max_read_errors: int | None = None  # --max-read-errors
    max_bad_areas: int | None = None  # --max-bad-areas
    timeout: float | None = None  # --timeout: max seconds since the last good read
    reverse: bool = False  # --reverse
    retry_passes: int = 0  # --retry-passes (-1: until no bad sector is left or stopped)
    no_trim: bool = False  # --no-trim
    no_scrape: bool = False  # --no-scrape
    no_sweep: bool = False  # skip the sweeping phase (the remaining non-tried after trimming)
    direct: bool = False  # --idirect: O_DIRECT reads on the source
    reopen_on_error: bool | None = None  # --reopen-on-error; None: on for block devices
    read_timeout: float = 30.0  # a read taking longer is abandoned as hung
    max_hung_reads: int = 3  # consecutive hung reads before the source counts as not responding
    save_interval: float = 30.0  # seconds between syncing the sink and saving the map
    domain: list[tuple[int, int]] | None = field(default=None)  # (pos, end) ranges; None: all
    heads: int | None = None  # the drive's head count, for the head layout (None: from the patterns)
    head_first: list[int] | None = None  # heads whose data is read before the others'
    head_last: list[int] | None = None  # ... after everything else
    head_skip: list[int] | None = None  # ... not at all

    def validate(self) -> None:
        """Raise ValueError with a clear message for options that cannot work."""
        ss = self.sector_size
        if ss is not None and (ss <= 0 or ss & (ss - 1)):
            raise ValueError(f"sector size {ss} is not a power of two")
        for name in ("cluster_size", "max_read_size", "skip_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name.replace('_', ' ')} must be positive")
        if self.max_read_size < self.cluster_size:
            self.max_read_size = self.cluster_size
        for name in ("read_timeout", "save_interval", "delay_slow", "slow_read_time"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0) and not (name == "delay_slow" and value == 0):
                raise ValueError(f"{name.replace('_', ' ')} must be a positive number of seconds")
        for name in ("max_read_errors", "max_bad_areas", "timeout"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name.replace('_', ' ')} must be zero or more")
        if self.min_read_rate is not None and not (
            math.isfinite(self.min_read_rate) and self.min_read_rate >= 0
        ):
            raise ValueError("min read rate must be zero (auto) or more")
        if self.max_hung_reads < 1:
            raise ValueError("max hung reads must be at least 1")
        if self.retry_passes < -1:
            raise ValueError("retry passes must be >= -1")
        if self.heads is not None and not 1 <= self.heads <= 32:
            raise ValueError("heads must be from 1 to 32")
        chosen = [h for name in ("head_first", "head_last", "head_skip") for h in getattr(self, name) or []]
        if any(h < 0 or h >= (self.heads or 32) for h in chosen):
            raise ValueError("a head number must be from 0 to the drive's heads - 1")
        if len(set(chosen)) != len(chosen):
            raise ValueError("a head can be first, last or skipped, not two of them")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RescueOptions:
        """Options as a session recorded them (`to_dict` through JSON); missing ones are defaults,
        unknown ones (from another version) are left out."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        if values.get("domain") is not None:
            values["domain"] = [(int(lo), int(hi)) for lo, hi in values["domain"]]
        return cls(**values)
