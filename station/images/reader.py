"""One way to read an image, whatever its format, that knows which bytes were never rescued.

Filesystem browsing, `affected`, restore, verify and reports read images only through
`ImageReader`.  Bytes the rescue did not finish (bad, non-tried, non-trimmed, non-scraped) read
as zeros, and `unrescued(pos, size)` names them, so a caller can tell a zero that was on the
drive from a zero that stands in for a sector nobody could read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from station.rescue.rescuemap import RescueMap, Status

Range = tuple[int, int]  # [start, end) in bytes


@runtime_checkable
class ImageReader(Protocol):
    """A read-only, seekable view of a rescued image."""

    path: str

    @property
    def size(self) -> int:
        """The source drive's size in bytes (the raw image's size)."""
        ...

    @property
    def rescue_map(self) -> RescueMap | None:
        """The rescue's map (None: no map, every byte counts as rescued)."""
        ...

    def read(self, pos: int, size: int) -> bytes:
        """`size` bytes at `pos` (short only past the end); unrescued bytes read as zeros."""
        ...

    def unrescued(self, pos: int, size: int) -> list[Range]:
        """The ranges inside [pos, pos+size) that the rescue has not finished."""
        ...

    def close(self) -> None: ...


def unrescued_ranges(m: RescueMap | None, pos: int, size: int) -> list[Range]:
    """Ranges of [pos, pos+size) whose status in `m` is anything but finished."""
    end = min(pos + size, m.size) if m is not None else pos
    out: list[Range] = []
    if m is None or pos >= end:
        return out
    for b in m.blocks(pos, end):
        if b.status == Status.FINISHED:
            continue
        lo, hi = max(b.pos, pos), min(b.end, end)
        if out and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def read_into(reader: ImageReader, pos: int, view: memoryview) -> None:
    """Fill view with the image's bytes at pos (as `read` gives them), with one copy where the
    reader can (`read_into` of its own) instead of three: restoring many drives reads gigabytes."""
    own = getattr(reader, "read_into", None)
    if own is not None:
        own(pos, view)
    else:
        data = reader.read(pos, len(view))
        view[: len(data)] = data
        view[len(data) :] = bytes(len(view) - len(data))


def zero_ranges(buf: bytearray | memoryview, base: int, ranges: list[Range]) -> None:
    """Zero the parts of `buf` (which holds bytes from offset `base`) that `ranges` cover."""
    for lo, hi in ranges:
        a, b = max(lo - base, 0), min(hi - base, len(buf))
        if b > a:
            buf[a:b] = bytes(b - a)


class RawImageReader:
    """A raw image file (sparse or not), with the rescue's map if there is one; an ImageReader."""

    def __init__(self, path: str, rescue_map: RescueMap | None = None, size: int | None = None) -> None:
        self.path = path
        self._map = rescue_map
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            on_disk = os.fstat(self._fd).st_size
            if on_disk == 0:  # a block device reports 0: ask for its end
                on_disk = os.lseek(self._fd, 0, os.SEEK_END)
        except OSError:
            os.close(self._fd)
            raise
        self._size = size if size is not None else (rescue_map.size if rescue_map is not None else on_disk)

    @property
    def size(self) -> int:
        return self._size

    @property
    def rescue_map(self) -> RescueMap | None:
        return self._map

    def read(self, pos: int, size: int) -> bytes:
        if pos < 0 or size < 0:
            raise ValueError("negative position or size")
        size = max(0, min(size, self._size - pos))
        if size == 0:
            return b""
        buf = bytearray(size)
        os.preadv(self._fd, [buf], pos)  # past the file's end (a short image) stays zero
        zero_ranges(buf, pos, unrescued_ranges(self._map, pos, size))
        return bytes(buf)

    def unrescued(self, pos: int, size: int) -> list[Range]:
        return unrescued_ranges(self._map, pos, size)

    def read_into(self, pos: int, view: memoryview) -> None:
        """`read` into a buffer of the caller's, with no copy but the kernel's."""
        size = max(0, min(len(view), self._size - pos))
        got = os.preadv(self._fd, [view[:size]], pos) if size else 0
        while 0 < got < size:
            n = os.preadv(self._fd, [view[got:size]], pos + got)
            if n == 0:
                break
            got += n
        view[got:] = bytes(len(view) - got)  # past the file's end (a short image): zeros
        zero_ranges(view, pos, unrescued_ranges(self._map, pos, size))

    def chunks(self, chunk: int = 8 << 20) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) over the whole image in order, unrescued bytes as zeros."""
        for pos in range(0, self._size, chunk):
            yield pos, self.read(pos, chunk)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RawImageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
