"""Does a target hold what the image holds?  Read it back and compare: right after a restore, or later.

What a target must hold is an `Expectation`: the image's bytes (holes as zeros) over the
verified domain, up to the target's end, except where the restore put something else on
purpose: the fill of unread areas (a marker: checked byte for byte; skip: not checked) and the
partition table patches (station.fs.fit: checked byte for byte).  Where it differs on purpose,
the image's own bytes are put back before hashing, so a target that holds exactly what it should
has exactly the image's hash, the one a sealed zst image recorded when it was made.

`check_target` reads the target from the medium (O_DIRECT, or with its cached pages dropped):

1. with the expected digest known (recorded in the image, or computed while restoring), one pass
   over the target alone: its digest, the marker and patch bytes;
2. when the digests differ, or nothing was recorded, a pass over the target and the image side by
   side, which names the byte ranges that differ (and gives the image's digest).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from station.core.record import TargetCheck
from station.fs.fit import Patch
from station.fs.ranges import merge
from station.images.reader import ImageReader
from station.jobs.restore_stream import marker_bytes
from station.media.target import open_for_reading, read_back

Range = tuple[int, int]
CHUNK = 8 << 20  # bytes read at a time by `station verify`
READBACK_CHUNK = 2 << 20  # ... and by each lane of a restore (at most READBACKS of them at once)
READBACKS = 32  # targets read back at once, READBACK_CHUNK bytes each: 64 MiB at most, however many
UNIT = 64 << 10  # differences are named to this many bytes
MAX_RANGES = 1000  # bad ranges kept in a record


@dataclass
class Expectation:
    """What one target must hold (see the module's docstring)."""

    end: int  # bytes of the image the target received
    domain: list[Range]  # verified ranges, sorted (the whole image, or its used blocks)
    fill: str  # zero, skip or marker
    holes: Callable[[int, int], list[Range]]  # the image's unread ranges inside [pos, pos+size)
    patches: list[Patch] = field(default_factory=list)
    originals: dict[int, bytes] = field(default_factory=dict)  # patch pos -> the image's bytes there
    algorithm: str = "sha256"
    digest: str | None = None  # the image's, over the domain up to `end` (None: not known)
    digest_from: str | None = None

    def ranges(self) -> list[Range]:
        """The verified domain cut at the target's end."""
        return [(lo, min(hi, self.end)) for lo, hi in self.domain if lo < self.end]


@dataclass
class _Pass:
    digest: str
    image_digest: str | None
    bad: list[Range]
    checked: int


Progress = Callable[[int], None]  # bytes checked so far


def check_target(
    path: str,
    exp: Expectation,
    open_image: Callable[[], ImageReader] | None,
    *,
    progress: Progress | None = None,
    first: tuple[str, list[Range]] | None = None,
) -> TargetCheck:
    """Read the target back and compare (see the module's docstring).  `first`: the target's digest
    and known-bad ranges from a pass over it already made (`target_digest`, in the restore's lanes)."""
    t0 = time.monotonic()
    try:
        if exp.digest is not None:
            if first is None:
                first = target_digest(path, exp, progress)
            one = _Pass(first[0], None, first[1], sum(b - a for a, b in exp.ranges()))
            if one.digest == exp.digest and not one.bad:
                return _result("ok", exp, one, t0)
            if open_image is None:
                return _result("mismatch", exp, one, t0)
        elif open_image is None:
            return TargetCheck("skipped", detail="nothing to compare with: no recorded hash, no image")
        reader = open_image()
        try:
            two = _walk(path, exp, reader, progress)
        finally:
            reader.close()
        if exp.digest is None:
            exp.digest, exp.digest_from = two.image_digest, "computed from the image while checking"
        ok = not two.bad and two.digest == exp.digest
        return _result("ok" if ok else "mismatch", exp, two, t0)
    except OSError as e:
        return TargetCheck(
            "failed", exp.algorithm, exp.digest, None, exp.digest_from,
            detail=f"could not read it back: {(e.strerror or str(e)).lower()}",
            seconds=round(time.monotonic() - t0, 3),
        )  # fmt: skip


def _result(state: str, exp: Expectation, p: _Pass, t0: float) -> TargetCheck:
    bad = [[a, b] for a, b in p.bad[:MAX_RANGES]]
    return TargetCheck(
        state, exp.algorithm, exp.digest, p.digest, exp.digest_from,
        bad_ranges=bad or None, checked_bytes=p.checked,
        seconds=round(time.monotonic() - t0, 3),
    )  # fmt: skip


def target_digest(
    path: str, exp: Expectation, progress: Progress | None = None, *, chunk: int = CHUNK
) -> tuple[str, list[Range]]:
    """One pass over the target alone: its digest (as the image's) and the ranges already known bad.
    It reads `chunk` bytes at a time into one buffer of its own: the memory a read-back takes."""
    p = _walk(path, exp, None, progress, chunk)
    return p.digest, p.bad


def _walk(
    path: str, exp: Expectation, image: ImageReader | None, progress: Progress | None, chunk: int = CHUNK
) -> _Pass:
    """Read the verified domain of the target (and the image beside it when given)."""
    fd, align = open_for_reading(path)
    buf = mmap.mmap(-1, chunk + 2 * max(align, 4096))
    try:
        h = hashlib.new(exp.algorithm)
        hi_img = hashlib.new(exp.algorithm) if image is not None else None
        bad: list[Range] = []
        done = 0
        inside = [p for p in exp.patches if p.pos < exp.end]
        for lo, hi in exp.ranges():
            for pos in range(lo, hi, chunk):
                n = min(chunk, hi - pos)
                got = read_back(fd, align, pos, n, buf)
                bad += _put_back(got, pos, exp, inside)
                h.update(got)
                if len(got) < n:  # the target ends early: the rest counts as zeros, and as wrong
                    bad.append((pos + len(got), hi))
                    h.update(bytes(n - len(got)))
                if image is not None and hi_img is not None:
                    want = image.read(pos, n)
                    hi_img.update(want)
                    mine = bytes(got) + bytes(n - len(got))
                    if want != mine:
                        bad += _differences(want, mine, pos)
                got.release()  # the buffer is closed at the end: no view of it may outlive its use
                done += n
                if progress is not None:
                    progress(done)
        for p in exp.patches:  # the patches outside the domain: byte for byte
            if any(lo < p.end and p.pos < hi for lo, hi in exp.ranges()):
                continue
            with read_back(fd, align, p.pos, len(p.data), buf) as got:
                if bytes(got) != p.data:
                    bad.append((p.pos, p.end))
        return _Pass(h.hexdigest(), hi_img.hexdigest() if hi_img else None, merge(bad), done)
    finally:
        buf.close()
        os.close(fd)


def _put_back(got: memoryview, pos: int, exp: Expectation, patches: list[Patch]) -> list[Range]:
    """Check what the restore put on purpose in this chunk, then put the image's bytes back in
    its place; the ranges where the target does not hold what was put there."""
    bad: list[Range] = []
    end = pos + len(got)
    if exp.fill != "zero":
        for a, b in exp.holes(pos, len(got)):
            if exp.fill == "marker" and bytes(got[a - pos : b - pos]) != marker_bytes(a, b):
                bad.append((a, b))
            got[a - pos : b - pos] = bytes(b - a)
    for p in patches:
        a, b = max(p.pos, pos), min(p.end, end)
        if a >= b:
            continue
        if bytes(got[a - pos : b - pos]) != p.data[a - p.pos : b - p.pos]:
            bad.append((a, b))
        original = exp.originals.get(p.pos, bytes(len(p.data)))
        got[a - pos : b - pos] = original[a - p.pos : b - p.pos]
    return bad


def _differences(want: bytes, got: bytes, pos: int) -> list[Range]:
    out = []
    for u in range(0, len(want), UNIT):
        if want[u : u + UNIT] != got[u : u + UNIT]:
            out.append((pos + u, pos + min(u + UNIT, len(want))))
    return out


def check_words(c: TargetCheck | None) -> str:
    """A target's check in words, for every view: ok, MISMATCH (where), or why it was not checked."""
    if c is None:
        return "-"
    # a restore's target is held to its image; a clone's to its first target, read back
    whose = c.expected_from if (c.expected_from or "").startswith("target ") else "the image's"
    if c.state == "ok":
        if c.expected is None:  # nothing to hold it to: it read back whole (a clone's first target)
            return f"ok (read back whole, {c.algorithm} {(c.actual or '')[:16]}…)"
        if whose != "the image's":
            return f"ok ({c.algorithm} matches {whose})"
        return f"ok ({c.algorithm} matches the image's, {c.expected_from})"
    if c.state == "mismatch":
        where = ", ".join(f"{lo}-{hi}" for lo, hi in (c.bad_ranges or [])[:3])
        return f"MISMATCH ({c.algorithm} differs from {whose}" + (f" at bytes {where}" if where else "") + ")"
    return c.state + (f" ({c.detail})" if c.detail else "")
