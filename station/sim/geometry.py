"""Where each LBA sits on a virtual drive: zone, cylinder, head, and angle on the platter.

A drive's LBAs are laid out track by track.  Zones go from the outer edge (more sectors per
track, faster) inwards.  Within a zone the track order is either

* forward: cylinder by cylinder, every head in turn on each cylinder (older drives), so one
  head's tracks are every `heads`-th track: a dead head leaves a fine comb of bad tracks;
* serpentine: the zone is cut into bands of `band_cylinders` cylinders; within a band, head 0
  reads its surface outward-in, head 1 inward-out, and so on (most modern drives), so one
  head's data forms a contiguous chunk of LBA space per band: a dead head leaves long bad
  stretches at a regular period.

Heads need not hold the same number of sectors per track: drives format each surface to what
its head can do (`head_scale`), so a weak head's bands are narrower than the others' in LBA space.

This is what makes damage look like a real drive's in LBA space, and what the engine's band
learning has to discover.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Track:
    start: int  # first LBA
    count: int  # sectors on it (the last track of the drive may be short)
    zone: int
    cylinder: int
    head: int
    spt: int  # sectors per track of its zone and head (a short last track still has the full count)

    @property
    def end(self) -> int:
        return self.start + self.count


@dataclass(frozen=True)
class GeometrySpec:
    """The shape of a drive, as a model file gives it."""

    heads: int = 4
    zones: int = 8
    outer_spt: int = 2048  # sectors per track in the outermost zone
    inner_spt: int = 1024  # ... and in the innermost
    track_order: str = "serpentine"  # or "forward"
    band_cylinders: int = 16  # serpentine: cylinders per band
    rpm: int = 7200
    track_skew: float = 0.0  # fraction of a revolution the start of each next track is shifted
    head_scale: tuple[float, ...] = ()  # per head: its sectors per track as a share of the zone's [all 1]

    def validate(self) -> None:
        if self.heads < 1 or self.zones < 1:
            raise ValueError("geometry needs at least one head and one zone")
        if not (1 <= self.inner_spt <= self.outer_spt):
            raise ValueError("geometry: need 1 <= inner_spt <= outer_spt")
        if self.track_order not in ("forward", "serpentine"):
            raise ValueError(f"geometry: track_order must be forward or serpentine, not {self.track_order!r}")
        if self.band_cylinders < 1:
            raise ValueError("geometry: band_cylinders must be at least 1")
        if self.rpm <= 0:
            raise ValueError("geometry: rpm must be positive")
        if self.head_scale and (
            len(self.head_scale) != self.heads or not all(0 < f <= 1 for f in self.head_scale)
        ):
            raise ValueError("geometry: head_scale needs one share in (0, 1] per head")

    def head_spt(self, spt: int, head: int) -> int:
        """Sectors per track of `head` in a zone of `spt` (adaptive formatting: `head_scale`)."""
        return max(1, round(spt * self.head_scale[head])) if self.head_scale else spt


class Geometry:
    """The track table of one drive: LBA -> track, and each head's tracks."""

    def __init__(self, spec: GeometrySpec, total_sectors: int, sector_size: int) -> None:
        spec.validate()
        self.spec = spec
        self.total_sectors = total_sectors
        self.sector_size = sector_size
        self.tracks: list[Track] = list(_layout(spec, total_sectors))
        self._starts = [t.start for t in self.tracks]
        self.cylinders = 1 + max((t.cylinder for t in self.tracks), default=0)
        self.revolution = 60.0 / spec.rpm  # seconds
        self.zone_end: dict[int, int] = {}  # zone -> first LBA after it (its transfer rate ends there)
        for t in self.tracks:
            self.zone_end[t.zone] = t.end

    def track_of(self, lba: int) -> Track:
        return self.tracks[bisect.bisect_right(self._starts, lba) - 1]

    def track_index(self, lba: int) -> int:
        return bisect.bisect_right(self._starts, lba) - 1

    def tracks_of_head(self, head: int) -> Iterator[Track]:
        return (t for t in self.tracks if t.head == head)

    def zone_rate(self, track: Track) -> float:
        """Media transfer rate on this track, bytes per second."""
        return track.spt * self.sector_size / self.revolution

    def angle(self, track_index: int, sector_in_track: int) -> float:
        """Angular position (0..1) of a sector, with the track skew applied."""
        t = self.tracks[track_index]
        return (sector_in_track / t.spt + track_index * self.spec.track_skew) % 1.0

    def sectors_at_angle(self, track_index: int, lo: float, width: float) -> list[tuple[int, int]]:
        """LBA ranges of a track whose sectors lie in the angular window [lo, lo + width)."""
        t = self.tracks[track_index]
        shift = (track_index * self.spec.track_skew) % 1.0
        first = math.floor(((lo - shift) % 1.0) * t.spt)
        end = first + max(1, math.ceil(width * t.spt))
        parts = [(first, min(end, t.spt))]
        if end > t.spt:  # the window wraps past the track's index mark
            parts.append((0, end - t.spt))
        out = []
        for a, b in parts:
            a, b = min(a, t.count), min(b, t.count)
            if b > a:
                out.append((t.start + a, t.start + b))
        return out


def _zone_spts(spec: GeometrySpec) -> list[int]:
    if spec.zones == 1:
        return [spec.outer_spt]
    step = (spec.outer_spt - spec.inner_spt) / (spec.zones - 1)
    return [round(spec.outer_spt - z * step) for z in range(spec.zones)]


def _layout(spec: GeometrySpec, total: int) -> Iterator[Track]:
    """Tracks in LBA order until `total` sectors are placed; zones share the sectors evenly."""
    spts = _zone_spts(spec)
    per_zone = -(-total // spec.zones)
    lba = 0
    cyl_base = 0
    for zone, spt in enumerate(spts):
        if lba >= total:
            break
        zone_end = min(total, lba + per_zone) if zone < spec.zones - 1 else total
        per_cylinder = sum(spec.head_spt(spt, h) for h in range(spec.heads))
        cyls = max(1, -(-(zone_end - lba) // per_cylinder))
        for cyl_rel, head in _order(spec, cyls):
            if lba >= zone_end:
                break
            head_spt = spec.head_spt(spt, head)
            count = min(head_spt, total - lba)
            yield Track(lba, count, zone, cyl_base + cyl_rel, head, head_spt)
            lba += count
        cyl_base += cyls


def _order(spec: GeometrySpec, cyls: int) -> Iterator[tuple[int, int]]:
    if spec.track_order == "forward":
        for c in range(cyls):
            for h in range(spec.heads):
                yield c, h
        return
    b = spec.band_cylinders
    for band_start in range(0, cyls, b):
        band = range(band_start, min(band_start + b, cyls))
        for h in range(spec.heads):
            for c in band if h % 2 == 0 else reversed(band):
                yield c, h
