"""Check an image and its map against the virtual drive they came from.

Every byte the map calls finished ('+') must hold the drive's content (station.sim.content);
finished bytes inside sectors the model makes unreadable cannot have come from the drive at all
(a bug in whatever wrote the map).  Readable bytes the map does not call finished are missed.

Streams the image in big chunks and compares with memcmp; only chunks that differ are looked at
byte by byte (through an XOR of big integers, still in C), so a 512 MiB image takes about a
second when it is right.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from station.core.ranges import Range, intersect
from station.sim.content import DriveContent
from station.sim.model import BAD, DriveModel

CHUNK = 8 << 20
FIRST = 10  # offsets listed per kind of problem


@dataclass
class Verdict:
    model: str
    size: int
    readable_bytes: int  # bytes in sectors the model lets a drive read
    finished_bytes: int  # '+' in the map
    rescued_readable_bytes: int  # '+' bytes in readable sectors
    missed_bytes: int  # readable bytes not finished
    wrong_bytes: int  # '+' bytes that differ from the drive (or lie past the image's end)
    first_wrong: list[int] = field(default_factory=list)
    impossible_bytes: int = 0  # '+' bytes in unreadable sectors
    first_impossible: list[int] = field(default_factory=list)
    image_size: int = 0

    @property
    def ok(self) -> bool:
        return self.wrong_bytes == 0 and self.impossible_bytes == 0

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


class VerifyError(ValueError):
    """Bad input (exit 2): the message is one line."""


def finished_ranges(mapfile: str, size: int) -> list[Range]:
    """Merged [pos, end) ranges of finished blocks of a ddrescue mapfile covering `size` bytes."""
    from station.rescue.mapfile import MapfileError, read_mapfile
    from station.rescue.rescuemap import Status

    try:
        m = read_mapfile(mapfile)
    except FileNotFoundError:
        raise VerifyError(f"{mapfile}: no such mapfile") from None
    except MapfileError as e:
        raise VerifyError(str(e)) from None
    except OSError as e:
        raise VerifyError(f"{mapfile}: {e.strerror}") from None
    if m.size != size:
        raise VerifyError(f"{mapfile} covers {m.size} bytes but the drive holds {size}")
    out: list[Range] = []
    for b in m:
        if b.status != Status.FINISHED:
            continue
        if out and out[-1][1] == b.pos:
            out[-1] = (out[-1][0], b.end)
        else:
            out.append((b.pos, b.end))
    return out


def _differences(got: bytes, want: bytes) -> tuple[int, list[int]]:
    """How many bytes differ between two equal-length strings, and the first few offsets."""
    n = len(want)
    x = (int.from_bytes(got, "little") ^ int.from_bytes(want, "little")).to_bytes(n, "little")
    wrong = n - x.count(0)
    first: list[int] = []
    pos = 0
    while len(first) < FIRST and pos < n:
        rest = x[pos:]
        skipped = len(rest) - len(rest.lstrip(b"\0"))
        if skipped == len(rest):
            break
        pos += skipped
        first.append(pos)
        pos += 1
    return wrong, first


def verify(model: DriveModel, image: str, mapfile: str) -> Verdict:
    """Compare the finished bytes of image (per mapfile) with the drive's content."""
    layout = model.build()
    ss = model.sector_size
    size = model.size
    finished = finished_ranges(mapfile, size)
    bad = [(s.start * ss, s.end * ss) for s in layout.segments if s.flags & BAD]
    impossible = intersect(finished, bad)
    finished_bytes = sum(hi - lo for lo, hi in finished)
    impossible_bytes = sum(hi - lo for lo, hi in impossible)
    try:
        fd = os.open(image, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise VerifyError(f"{image}: no such image") from None
    except OSError as e:
        raise VerifyError(f"{image}: {e.strerror}") from None
    wrong, first = 0, []
    content = DriveContent(ss, model.content)
    try:
        if os.path.isdir(image):
            raise VerifyError(f"{image}: is a directory")
        image_size = os.lseek(fd, 0, os.SEEK_END)
        past_end = False  # one offset for everything past the image's end
        for lo, hi in finished:
            pos = lo
            while pos < hi:
                if pos >= image_size:  # missing from the image: wrong
                    wrong += hi - pos
                    if not past_end:
                        first.append(pos)
                        past_end = True
                    break
                n = min(CHUNK - pos % CHUNK, hi - pos, image_size - pos)  # sector-aligned chunks
                got = os.pread(fd, n, pos)
                lba = pos // ss
                want = content.sectors(lba, -(-(pos + n) // ss) - lba)
                skip = pos - lba * ss
                if skip or len(want) != n:
                    want = want[skip : skip + n]
                if got != want:
                    w, f = _differences(got, want)
                    wrong += w
                    first += [pos + k for k in f[: max(0, FIRST - len(first))]]
                pos += n
    finally:
        os.close(fd)
        content.close()
    rescued_readable = finished_bytes - impossible_bytes
    return Verdict(
        model=model.name,
        size=size,
        readable_bytes=layout.readable_bytes,
        finished_bytes=finished_bytes,
        rescued_readable_bytes=rescued_readable,
        missed_bytes=layout.readable_bytes - rescued_readable,
        wrong_bytes=wrong,
        first_wrong=first[:FIRST],
        impossible_bytes=impossible_bytes,
        first_impossible=[lo for lo, _ in impossible[:FIRST]],
        image_size=image_size,
    )
