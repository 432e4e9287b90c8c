"""Checking an image: against the hashes it recorded, or against the drive it came from.

`verify_image` recomputes the whole-image and per-chunk digests and names the byte ranges
whose chunk digests differ (or whose frames are damaged).  `verify_against_source` re-reads
the source where the map says finished and compares byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from station.core.safeopen import write_atomic
from station.images.errors import ImageCorrupt
from station.images.formats import image_format
from station.images.hashing import ImageHashes, check_algorithms
from station.images.reader import ImageReader, Range
from station.images.zstreader import ZstImageReader
from station.media.base import Source
from station.rescue.mapfile import read_mapfile
from station.rescue.rescuemap import RescueMap, Status

HASHES_SUFFIX = ".hashes.json"
Progress = Callable[[int, int], None]  # (bytes done, bytes to do)


@dataclass
class VerifyResult:
    """The outcome: ok, what was expected and found, and where the image differs."""

    ok: bool
    expected: dict[str, str] = field(default_factory=dict)
    actual: dict[str, str] = field(default_factory=dict)
    bad_ranges: list[Range] = field(default_factory=list)  # raw byte ranges that differ or are damaged
    problems: list[str] = field(default_factory=list)  # one line each (damaged frames, unreadable source)
    checked_bytes: int = 0
    unreadable_ranges: list[Range] = field(default_factory=list)  # source reads that failed (against source)

    def summary(self) -> str:
        if self.ok:
            return f"ok: {self.checked_bytes} bytes checked" + "".join(
                f", {a} {h}" for a, h in sorted(self.actual.items())
            )
        where = ", ".join(f"{a}-{b}" for a, b in self.bad_ranges[:10])
        more = f" and {len(self.bad_ranges) - 10} more" if len(self.bad_ranges) > 10 else ""
        return (
            f"MISMATCH: {len(self.bad_ranges)} range(s) differ: {where}{more}"
            if self.bad_ranges
            else ("MISMATCH: " + "; ".join(self.problems[:3]))
        )


def _merge(ranges: list[Range]) -> list[Range]:
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if out and out[-1][1] >= lo:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def record_raw_hashes(path: str, hashes: ImageHashes, out: str | None = None) -> str:
    """Write a raw image's hashes to `out` (default PATH.hashes.json), for verify_image later."""
    out = out or path + HASHES_SUFFIX
    doc = {
        "hashes": hashes.whole,
        "segment_size": hashes.segment_size,
        "segments": {a: b"".join(d).hex() for a, d in hashes.segments.items()},
    }
    write_atomic(out, json.dumps(doc).encode())
    return out


def verify_image(
    path: str,
    rescue_map: RescueMap | None = None,
    progress: Progress | None = None,
    *,
    hashes_path: str | None = None,
) -> VerifyResult:
    """Recompute an image's hashes and compare them with what was recorded.

    A sealed zst image carries its hashes; a raw image needs its hashes file (`hashes_path`,
    else PATH.hashes.json: see record_raw_hashes) and its map (given, or PATH.map).  ValueError
    when there is nothing to compare with (a working zst image: seal it first); ImageCorrupt
    when a zst image cannot even be opened (its header, its end, its seek table).
    """
    if image_format(path) == "raw":
        return _verify_raw(path, rescue_map, progress, hashes_path or path + HASHES_SUFFIX)
    try:
        r = ZstImageReader(path, rescue_map)
    except ImageCorrupt as e:  # its end is lost or damaged: name the chunks that are gone
        return _salvage(path, rescue_map, progress, e)
    try:
        meta = r.metadata
        if meta is None:
            raise ValueError(f"{path}: a working image, not sealed: nothing recorded to verify against")
        expected = dict(meta["hashes"])
        try:
            segments = r.segment_digests() or {}
        except ImageCorrupt as e:
            segments = {}
            problem = [str(e)]
        else:
            problem = []
        return _compare(r, expected, segments, r.chunk_size, progress, problem)
    finally:
        r.close()


def _salvage(
    path: str, rescue_map: RescueMap | None, progress: Progress | None, damage: ImageCorrupt
) -> VerifyResult:
    """A sealed image whose seek table or tail is lost (a cut, damage): every chunk that can still
    be found among its records is checked by its frame's checksum, the others are named lost.
    The recorded hashes went with the tail, so nothing is compared but the frames themselves."""
    try:
        r = ZstImageReader(path, rescue_map, salvage=True)
    except ImageCorrupt:
        raise damage from None  # the header itself: nothing to salvage
    try:
        problems = [str(damage) + "; its recorded hashes, map and seek table are lost"]
        return _compare(r, {}, {}, r.chunk_size, progress, problems)
    finally:
        r.close()


def _verify_raw(
    path: str, rescue_map: RescueMap | None, progress: Progress | None, hashes_path: str
) -> VerifyResult:
    try:
        with open(hashes_path) as f:
            doc = json.load(f)
        seg = int(doc["segment_size"])
        expected = dict(doc["hashes"])
        recorded = dict(doc["segments"])
    except FileNotFoundError:
        raise ValueError(f"{path}: no recorded hashes ({hashes_path} is missing)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{hashes_path}: not a hashes file Station wrote ({e})") from None
    if rescue_map is None and os.path.exists(path + ".map"):
        rescue_map = read_mapfile(path + ".map")
    segments = {
        a: [
            bytes.fromhex(h)[i : i + hashlib.new(a).digest_size]
            for i in range(0, len(h) // 2, hashlib.new(a).digest_size)
        ]
        for a, h in recorded.items()
    }
    from station.images.reader import RawImageReader

    with RawImageReader(path, rescue_map) as r:
        return _compare(r, expected, segments, seg, progress, [])


def _compare(
    r: ImageReader,
    expected: dict[str, str],
    segments: dict[str, list[bytes]],
    seg: int,
    progress: Progress | None,
    problems: list[str],
) -> VerifyResult:
    """Every segment read (a zst frame's own checksum is checked as it is), hashed, compared."""
    algos = check_algorithms(expected) if expected else ()  # none recorded: frames checked only
    whole = {a: hashlib.new(a) for a in algos}
    bad: list[Range] = []
    nseg = -(-r.size // seg)
    for i in range(nseg):
        lo, hi = i * seg, min((i + 1) * seg, r.size)
        try:
            data = r.read(lo, hi - lo)
        except ImageCorrupt as e:
            problems.append(str(e))
            bad.append((lo, hi))
            data = bytes(hi - lo)
        for h in whole.values():
            h.update(data)
        for a, digs in segments.items():
            if (
                i < len(digs)
                and hashlib.new(a, data).digest() != digs[i]
                and (not bad or bad[-1] != (lo, hi))
            ):
                bad.append((lo, hi))
        if progress is not None:
            progress(hi, r.size)
    actual = {a: h.hexdigest() for a, h in whole.items()}
    if any(expected[a] != actual[a] for a in algos) and not bad:
        problems.append("whole-image hash differs but no segment does (the recorded segments may be stale)")
    ok = not bad and not problems and all(expected[a] == actual[a] for a in algos)
    return VerifyResult(ok, expected, actual, _merge(bad), problems, r.size)


def _differing(img: bytes, src: bytes, pos: int, unit: int) -> list[Range]:
    """The `unit`-aligned ranges (in image offsets) where two pieces read at `pos` differ."""
    out: list[Range] = []
    at, end = pos, pos + len(img)
    while at < end:
        stop = min((at // unit + 1) * unit, end)
        if img[at - pos : stop - pos] != src[at - pos : stop - pos]:
            out.append((at, stop))
        at = stop
    return out


def _aligned(size: int) -> mmap.mmap:
    return mmap.mmap(-1, size)  # page-aligned: good for O_DIRECT sources


def verify_against_source(
    reader: ImageReader,
    source: Source,
    rescue_map: RescueMap | None = None,
    progress: Progress | None = None,
    *,
    step: int = 8 << 20,
    compare_unit: int = 64 << 10,
) -> VerifyResult:
    """Re-read the source where the map says finished and compare with the image.

    Differences are named to `compare_unit`, aligned (a multiple of the sector size); a source read
    that fails now is listed in unreadable_ranges, not as a difference.
    """
    m = rescue_map if rescue_map is not None else reader.rescue_map
    if m is None:
        m = RescueMap(reader.size, Status.FINISHED)
    finished = [(b.pos, b.end) for b in m if b.status == Status.FINISHED]
    total = sum(e - p for p, e in finished)
    align = max(source.alignment, 1)
    step = max(align, step // align * align)
    buf = _aligned(step + 2 * align)
    bad: list[Range] = []
    unreadable: list[Range] = []
    problems: list[str] = []
    done = 0
    for start, end in finished:
        pos = start
        while pos < end:
            n = min(step, end - pos)
            lo = pos // align * align
            hi = min(-(-(pos + n) // align) * align, source.size)
            view = memoryview(buf)[: hi - lo]
            try:
                got = source.read_into(lo, view)
                src = bytes(view[pos - lo : min(got, pos + n - lo)])
            except OSError as e:
                unreadable.append((pos, pos + n))
                problems.append(f"source read failed at {pos}: {e.strerror or e}")
                src = None
            if src is not None:
                try:
                    img = reader.read(pos, n)
                except ImageCorrupt as e:
                    problems.append(str(e))
                    bad.append((pos, pos + n))
                    img = None
                if img is not None and img != src:
                    bad += _differing(img, src, pos, compare_unit)
            view.release()
            pos += n
            done += n
            if progress is not None:
                progress(done, total)
    buf.close()
    ok = not bad and not unreadable and not problems
    return VerifyResult(ok, {}, {}, _merge(bad), problems, done, _merge(unreadable))
