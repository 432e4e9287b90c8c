"""Fault models of virtual failing drives: a size, a geometry, timing and defects, from TOML.

A model file looks like this (sizes take suffixes as on the command line: 512Mi, 4k...):

    name = "dead-head"
    description = "4 heads, serpentine bands, head 2 dead"
    size = "512Mi"
    sector_size = 512
    seed = 7

    [geometry]            # see station.sim.geometry.GeometrySpec
    heads = 4
    track_order = "serpentine"
    band_cylinders = 16

    [timing]              # see Timing
    error_penalty = 2.0

    [failure]             # optional: stops answering after this many errors until power-cycled
    hang_after_errors = 200

    [[defects]]
    kind = "dead_head"
    head = 2

Defect kinds: dead_head (head), weak_head (head, slowdown, fail_probability per sector read),
degrading_head (head, fail_probability at first, worsens: added to it per MiB the head has
read, max_probability), scratch (heads, angle, width, from/to as fractions of the stroke,
drift), bad_sectors (count, cluster, from/to, inside = "slow": only inside the slow areas made
by the defects before it), bad_range (start, length), slow_zone (start and length, or zone: a
geometry zone; delay per request, slowdown and/or rate), slow_head (head, delay, slowdown
and/or rate, from/to as fractions of the stroke), weak_sectors (count, probability of success
per attempt, cluster, from/to).

Slow areas read without errors, slowly, as a drive whose firmware retries internally does:
`delay` seconds per request that touches them, and their bytes at the zone's rate divided by
`slowdown`, or at `rate` bytes per second (e.g. "40k"), whichever is slower.

A GNU ddrescue test mapfile is accepted as a model too ('+' readable, anything else bad), as
`ddrescuelog --make-test` of ddrescue 1.30 writes it for `ddrescue --test-mode`.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import os
import random
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from station.core.units import parse_size
from station.sim.geometry import Geometry, GeometrySpec

# Segment flags, combined where defects overlap.
BAD, WEAK, SLOW = 1, 2, 4


class ModelError(ValueError):
    """A model file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Timing:
    """What reads cost on this drive, in simulated seconds."""

    full_seek_ms: float = 16.0  # a seek across the whole stroke
    settle_ms: float = 1.0  # the shortest seek
    head_switch_ms: float = 1.0  # another head on the same cylinder
    command_us: float = 40.0  # per command, whatever it reads
    error_penalty: float = 2.0  # seconds a failed read costs (the drive's internal retries)
    weak_retry: float = 0.3  # extra seconds a weak sector costs when it does read
    spinup: float = 8.0  # a power cycle, until the drive answers again
    hang_timeout: float = 30.0  # what a read into a drive that stopped answering costs

    def validate(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int | float) or v < 0:
                raise ValueError(f"timing.{f.name} must be a number >= 0")


@dataclass(frozen=True)
class Segment:
    """A run of sectors with the same behaviour."""

    start: int  # LBA
    end: int
    flags: int
    delay: float = 0.0  # SLOW: extra seconds per read touching it
    slowdown: float = 1.0  # SLOW: transfer rate divided by this
    rate: float = 0.0  # SLOW: at most this many bytes per second (0: no cap)
    fail_p: float = 0.0  # WEAK head: chance that each sector read fails
    success_p: float = 0.0  # WEAK sector: chance that an attempt on it succeeds (per sector)
    wear: float = 0.0  # WEAK head that degrades: added to fail_p per MiB its head has read
    max_p: float = 1.0  # ... up to this
    head: int = -1  # the head whose reads wear it (degrading heads)


@dataclass
class DriveModel:
    name: str
    size: int
    sector_size: int = 512
    seed: int = 1
    description: str = ""
    geometry: GeometrySpec = field(default_factory=GeometrySpec)
    timing: Timing = field(default_factory=Timing)
    defects: list[dict[str, Any]] = field(default_factory=list)
    hang_after_errors: int | None = None
    source_path: str | None = None  # the file it came from, if any
    extra_bad: list[tuple[int, int]] = field(default_factory=list)  # LBA ranges (test mapfiles)
    content: str | None = None  # an image file whose bytes the drive holds (None: the LBA pattern)

    @property
    def sectors(self) -> int:
        return self.size // self.sector_size

    @property
    def serial(self) -> str:
        h = hashlib.sha1(f"{self.name}:{self.seed}:{self.size}".encode()).hexdigest()[:8].upper()
        return f"SIM-{h}"

    def validate(self) -> None:
        ss = self.sector_size
        if ss < 8 or ss & (ss - 1):
            raise ValueError(f"sector_size {ss} is not a power of two >= 8")
        if self.size <= 0 or self.size % ss:
            raise ValueError(f"size {self.size} is not a positive multiple of the sector size {ss}")
        self.geometry.validate()
        self.timing.validate()
        if self.hang_after_errors is not None and self.hang_after_errors < 1:
            raise ValueError("failure.hang_after_errors must be at least 1")

    def build(self) -> Layout:
        """The geometry and the merged defect segments (deterministic for the seed)."""
        return build_layout(self)


@dataclass
class Layout:
    """A model made concrete: its track table and sorted, disjoint defect segments."""

    model: DriveModel
    geometry: Geometry
    segments: list[Segment]

    @property
    def bad_sectors(self) -> int:
        return sum(s.end - s.start for s in self.segments if s.flags & BAD)

    @property
    def readable_bytes(self) -> int:
        return self.model.size - self.bad_sectors * self.model.sector_size


# -- loading --------------------------------------------------------------------------------------


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in _preset_dir().iterdir() if p.name.endswith(".toml"))


def _preset_dir():
    return resources.files("station.sim") / "presets"


def load_model(spec: str) -> DriveModel:
    """A preset name, a model TOML file, or a GNU ddrescue test mapfile."""
    if os.sep not in spec and not spec.endswith((".toml", ".map", ".log")) and not os.path.exists(spec):
        p = _preset_dir() / f"{spec}.toml"
        if not p.is_file():
            raise ModelError(f"no preset named {spec!r} (presets: {', '.join(preset_names())})")
        return parse_model(p.read_text(), origin=f"preset {spec}")
    path = Path(spec)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ModelError(f"{spec}: no such model file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ModelError(f"{spec}: cannot read it ({e})") from None
    if spec.endswith(".toml") or _looks_like_toml(text):
        m = parse_model(text, origin=spec, base=path.resolve().parent)
    else:
        m = model_from_test_mapfile(text, origin=spec)
    m.source_path = str(path.resolve())
    return m


def _looks_like_toml(text: str) -> bool:
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            return "=" in s or s.startswith("[")
    return False


def parse_model(text: str, origin: str = "model", base: Path | None = None) -> DriveModel:
    """A model from TOML.  `content = "disk.img"` makes the drive hold that image's bytes instead of
    its LBA pattern (station.sim.content), `size` then defaulting to the file's; a relative path is
    taken from `base` (the model file's folder)."""
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ModelError(f"{origin}: not valid TOML: {e}") from None
    try:
        if "content" in d:
            d = {**d, **_content(d, base)}
        return _model_from_dict(d)
    except (ValueError, TypeError, KeyError) as e:
        raise ModelError(f"{origin}: {e}") from None


def _content(d: dict[str, Any], base: Path | None) -> dict[str, Any]:
    """`content` as an absolute path to a readable file, and `size` from it when not given."""
    c = d["content"]
    if not isinstance(c, str) or not c:
        raise ValueError("content must be the path of an image file")
    path = Path(c) if os.path.isabs(c) or base is None else base / c
    try:
        st = path.stat()
    except OSError as e:
        raise ValueError(f"content {c}: {e.strerror or e}") from None
    if not path.is_file():
        raise ValueError(f"content {c}: not a regular file")
    out: dict[str, Any] = {"content": str(path.resolve())}
    if "size" not in d:
        ss = int(d.get("sector_size", 512))
        out["size"] = st.st_size // ss * ss
    return out


def _size(v: Any, what: str) -> int:
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        return parse_size(v)
    raise ValueError(f"{what} must be a size (e.g. 512Mi), not {v!r}")


def _model_from_dict(d: dict[str, Any]) -> DriveModel:
    known = {"name", "description", "size", "sector_size", "seed", "geometry", "timing", "failure", "defects",
             "content"}  # fmt: skip
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
    if "size" not in d:
        raise ValueError("size is required")
    geo = d.get("geometry", {})
    gnames = {f.name for f in fields(GeometrySpec)}
    if set(geo) - gnames:
        raise ValueError(f"unknown geometry keys {', '.join(sorted(set(geo) - gnames))}")
    tim = d.get("timing", {})
    tnames = {f.name for f in fields(Timing)}
    if set(tim) - tnames:
        raise ValueError(f"unknown timing keys {', '.join(sorted(set(tim) - tnames))}")
    failure = d.get("failure", {})
    if set(failure) - {"hang_after_errors"}:
        raise ValueError(f"unknown failure keys {', '.join(sorted(set(failure) - {'hang_after_errors'}))}")
    defects = d.get("defects", [])
    if not isinstance(defects, list) or not all(isinstance(x, dict) for x in defects):
        raise ValueError("defects must be an array of tables ([[defects]])")
    for x in defects:
        if x.get("kind") not in _DEFECTS:
            raise ValueError(f"unknown defect kind {x.get('kind')!r} (kinds: {', '.join(sorted(_DEFECTS))})")
    m = DriveModel(
        name=str(d.get("name", "unnamed")),
        description=str(d.get("description", "")),
        size=_size(d["size"], "size"),
        sector_size=int(d.get("sector_size", 512)),
        seed=int(d.get("seed", 1)),
        geometry=GeometrySpec(**{**geo, "head_scale": tuple(geo.get("head_scale", ()))}),
        timing=Timing(**{k: float(v) for k, v in tim.items()}),
        defects=defects,
        hang_after_errors=failure.get("hang_after_errors"),
        content=d.get("content"),
    )
    m.validate()
    build_layout(m)  # every defect's parameters are checked here, before anyone relies on them
    return m


def model_from_test_mapfile(text: str, origin: str = "mapfile") -> DriveModel:
    """ddrescue's test mode: '+' blocks read, every other block fails."""
    from station.rescue.mapfile import MapfileError, parse_mapfile
    from station.rescue.rescuemap import Status

    try:
        m = parse_mapfile(text, origin)
    except MapfileError as e:
        raise ModelError(str(e)) from None
    ss = 512
    size = m.size // ss * ss
    if size <= 0:
        raise ModelError(f"{origin}: the test mapfile covers less than one sector")
    bad: list[tuple[int, int]] = []
    for b in m:
        if b.status != Status.FINISHED:
            lo, hi = b.pos // ss, min(-(-b.end // ss), size // ss)
            if hi > lo:
                bad.append((lo, hi))
    model = DriveModel(
        name=Path(origin).name,
        size=size,
        sector_size=ss,
        description="GNU ddrescue test mapfile",
        geometry=GeometrySpec(zones=1, heads=1, outer_spt=1024, inner_spt=1024),
        extra_bad=bad,
    )
    model.validate()
    return model


# -- defects -------------------------------------------------------------------------------------


def _frac_range(d: dict[str, Any], total: int) -> tuple[int, int]:
    lo, hi = float(d.get("from", 0.0)), float(d.get("to", 1.0))
    if not (0.0 <= lo < hi <= 1.0):
        raise ValueError(f"{d['kind']}: need 0 <= from < to <= 1")
    return int(lo * total), max(int(lo * total) + 1, int(hi * total))


def _head(d: dict[str, Any], geo: Geometry) -> int:
    h = int(d["head"])
    if not 0 <= h < geo.spec.heads:
        raise ValueError(f"{d['kind']}: head {h} does not exist (heads 0..{geo.spec.heads - 1})")
    return h


def _dead_head(d, m, geo, rng, out) -> None:
    h = _head(d, geo)
    for t in geo.tracks_of_head(h):
        out.append(Segment(t.start, t.end, BAD))


def _weak_head(d, m, geo, rng, out) -> None:
    h = _head(d, geo)
    slowdown = float(d.get("slowdown", 3.0))
    p = float(d.get("fail_probability", 0.0005))
    if slowdown < 1 or not 0 <= p < 1:
        raise ValueError("weak_head: need slowdown >= 1 and 0 <= fail_probability < 1")
    for t in geo.tracks_of_head(h):
        out.append(Segment(t.start, t.end, WEAK | SLOW, slowdown=slowdown, fail_p=p))


def _scratch(d, m, geo, rng, out) -> None:
    heads = d.get("heads", [d["head"]] if "head" in d else [0])
    heads = [_head({"kind": "scratch", "head": h}, geo) for h in heads]
    angle = float(d.get("angle", rng.random()))
    width = float(d.get("width", 0.004))
    drift = float(d.get("drift", 0.02))  # a scratch is not quite radial: angle change over the stroke
    lo_c, hi_c = _frac_range(d, geo.cylinders)
    if not 0 < width < 1:
        raise ValueError("scratch: need 0 < width < 1")
    for i, t in enumerate(geo.tracks):
        if t.head in heads and lo_c <= t.cylinder < hi_c:
            a = angle + drift * (t.cylinder - lo_c) / max(1, hi_c - lo_c)
            for s, e in geo.sectors_at_angle(i, a, width):
                out.append(Segment(s, e, BAD))


def _bad_sectors(d, m, geo, rng, out) -> None:
    count, cluster = int(d.get("count", 100)), int(d.get("cluster", 1))
    lo, hi = _frac_range(d, m.sectors)
    if count < 0 or cluster < 1:
        raise ValueError("bad_sectors: need count >= 0 and cluster >= 1")
    inside = d.get("inside")
    if inside is not None:
        if inside != "slow":
            raise ValueError(f'bad_sectors: inside must be "slow", not {inside!r}')
        _bad_inside(
            count, cluster, [s for s in out if s.flags & SLOW and s.end > lo and s.start < hi], rng, out
        )
        return
    for _ in range(count):
        n = rng.randint(1, cluster)
        s = rng.randrange(lo, max(lo + 1, hi - n))
        out.append(Segment(s, min(s + n, m.sectors), BAD))


def _bad_inside(
    count: int, cluster: int, areas: list[Segment], rng: random.Random, out: list[Segment]
) -> None:
    """`count` bad clusters placed inside `areas` (each area as likely as its length)."""
    if not areas:
        raise ValueError('bad_sectors: inside = "slow" needs a slow defect before it')
    ends, total = [], 0
    for a in areas:
        total += a.end - a.start
        ends.append(total)
    for _ in range(count):
        k = rng.randrange(total)
        a = areas[bisect.bisect_right(ends, k)]
        n = min(rng.randint(1, cluster), a.end - a.start)
        s = rng.randrange(a.start, a.end - n + 1)
        out.append(Segment(s, s + n, BAD))


def _lba_range(d: dict[str, Any], m: DriveModel) -> tuple[int, int]:
    start = _size(d["start"], f"{d['kind']}.start")
    length = _size(d["length"], f"{d['kind']}.length")
    ss = m.sector_size
    lo, hi = start // ss, -(-(start + length) // ss)
    if length <= 0 or hi > m.sectors:
        raise ValueError(f"{d['kind']}: range {start}+{length} is empty or beyond the drive's end")
    return lo, hi


def _bad_range(d, m, geo, rng, out) -> None:
    lo, hi = _lba_range(d, m)
    out.append(Segment(lo, hi, BAD))


def _slowness(d: dict[str, Any]) -> dict[str, float]:
    """A slow defect's delay per request, slowdown and rate cap, checked."""
    delay, slowdown = float(d.get("delay", 0.05)), float(d.get("slowdown", 1.0))
    rate = float(_size(d["rate"], f"{d['kind']}.rate")) if "rate" in d else 0.0
    if delay < 0 or slowdown < 1 or rate < 0:
        raise ValueError(f"{d['kind']}: need delay >= 0, slowdown >= 1 and rate >= 0")
    return {"delay": delay, "slowdown": slowdown, "rate": rate}


def _slow_zone(d, m, geo, rng, out) -> None:
    if "zone" in d:
        z = int(d["zone"])
        tracks = [t for t in geo.tracks if t.zone == z]
        if not tracks:
            raise ValueError(f"slow_zone: zone {z} does not exist (zones 0..{geo.spec.zones - 1})")
        lo, hi = tracks[0].start, tracks[-1].end
    else:
        lo, hi = _lba_range(d, m)
    out.append(Segment(lo, hi, SLOW, **_slowness(d)))


def _slow_head(d, m, geo, rng, out) -> None:
    h = _head(d, geo)
    slow = _slowness(d)
    lo_c, hi_c = _frac_range(d, geo.cylinders)
    for t in geo.tracks_of_head(h):
        if lo_c <= t.cylinder < hi_c:
            out.append(Segment(t.start, t.end, SLOW, **slow))


def _degrading_head(d, m, geo, rng, out) -> None:
    h = _head(d, geo)
    p, worsens = float(d.get("fail_probability", 1e-6)), float(d.get("worsens", 1e-6))
    cap, slowdown = float(d.get("max_probability", 0.01)), float(d.get("slowdown", 1.0))
    if not (0 <= p <= cap < 1 and worsens >= 0 and slowdown >= 1):
        raise ValueError("degrading_head: need 0 <= fail_probability <= max_probability < 1, worsens >= 0")
    flags = WEAK | (SLOW if slowdown > 1 else 0)
    for t in geo.tracks_of_head(h):
        out.append(
            Segment(t.start, t.end, flags, slowdown=slowdown, fail_p=p, wear=worsens, max_p=cap, head=h)
        )


def _weak_sectors(d, m, geo, rng, out) -> None:
    count, cluster = int(d.get("count", 50)), int(d.get("cluster", 1))
    p = float(d.get("probability", 0.3))
    if not 0 < p <= 1:
        raise ValueError("weak_sectors: need 0 < probability <= 1")
    lo, hi = _frac_range(d, m.sectors)
    for _ in range(count):
        n = rng.randint(1, cluster)
        s = rng.randrange(lo, max(lo + 1, hi - n))
        out.append(Segment(s, min(s + n, m.sectors), WEAK, success_p=p))


_DEFECTS = {
    "dead_head": _dead_head,
    "weak_head": _weak_head,
    "scratch": _scratch,
    "bad_sectors": _bad_sectors,
    "bad_range": _bad_range,
    "slow_zone": _slow_zone,
    "slow_head": _slow_head,
    "degrading_head": _degrading_head,
    "weak_sectors": _weak_sectors,
}


def build_layout(m: DriveModel) -> Layout:
    geo = Geometry(m.geometry, m.sectors, m.sector_size)
    rng = random.Random(m.seed)
    raw: list[Segment] = [Segment(lo, hi, BAD) for lo, hi in m.extra_bad]
    for d in m.defects:
        _DEFECTS[d["kind"]](d, m, geo, rng, raw)
    return Layout(m, geo, merge_segments(raw))


def merge_segments(raw: list[Segment]) -> list[Segment]:
    """Disjoint segments from overlapping ones: BAD wins; otherwise behaviours combine."""
    points = sorted({p for s in raw for p in (s.start, s.end)})
    if not points:
        return []
    cover: list[list[Segment]] = [[] for _ in points]
    for s in raw:
        for i in range(bisect.bisect_left(points, s.start), bisect.bisect_left(points, s.end)):
            cover[i].append(s)
    out: list[Segment] = []
    for i in range(len(points) - 1):
        segs = cover[i]
        if not segs:
            continue
        lo, hi = points[i], points[i + 1]
        if any(s.flags & BAD for s in segs):
            seg = Segment(lo, hi, BAD)
        else:
            flags = 0
            for s in segs:
                flags |= s.flags
            seg = Segment(
                lo,
                hi,
                flags,
                delay=sum(s.delay for s in segs),
                slowdown=max(s.slowdown for s in segs),
                rate=min((s.rate for s in segs if s.rate), default=0.0),
                fail_p=max(s.fail_p for s in segs),
                success_p=min((s.success_p for s in segs if s.success_p), default=0.0),
                wear=max(s.wear for s in segs),
                max_p=min(s.max_p for s in segs),
                head=max(s.head for s in segs),
            )
        prev = out[-1] if out else None
        if prev and prev.end == lo and _same(prev, seg):
            out[-1] = dataclasses.replace(prev, end=hi)
        else:
            out.append(seg)
    return out


def _same(a: Segment, b: Segment) -> bool:
    return dataclasses.replace(a, start=0, end=0) == dataclasses.replace(b, start=0, end=0)
