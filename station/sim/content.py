"""What a virtual drive holds: every sector is its own LBA as 8 little-endian bytes, repeated.

Deterministic per sector and different for every sector, so any image can be checked byte by
byte against the drive it came from (`station sim verify`), and a sector written to the wrong
place is caught.  Generation is done in C through array slices, fast enough to serve a drive
over FUSE at hundreds of MB/s.

A model may name an image file as its `content` instead (a disk with real filesystems, for
files-first rescues and browsing): `DriveContent` reads either, and every reader of a virtual
drive (the in-process source, the FUSE server, `station sim verify`) goes through it.
"""

from __future__ import annotations

import os
import sys
import threading
from array import array


def sector_content(lba: int, sector_size: int) -> bytes:
    """The bytes of one sector."""
    return lba.to_bytes(8, "little") * (sector_size // 8)


def sectors_content(first_lba: int, count: int, sector_size: int) -> bytes:
    """The bytes of `count` sectors from `first_lba`."""
    if count <= 0:
        return b""
    per = sector_size // 8
    words = array("Q", bytes(8 * per * count))
    lbas = array("Q", range(first_lba, first_lba + count))
    for k in range(per):
        words[k::per] = lbas
    if sys.byteorder != "little":
        words.byteswap()
    return words.tobytes()


def expected_bytes(pos: int, size: int, sector_size: int = 512) -> bytes:
    """What a virtual drive holds at [pos, pos+size)."""
    if size <= 0:
        return b""
    first, last = pos // sector_size, (pos + size - 1) // sector_size
    data = sectors_content(first, last - first + 1, sector_size)
    off = pos - first * sector_size
    return data[off : off + size]


class DriveContent:
    """A virtual drive's bytes: the LBA pattern, or an image file's bytes (zeros past its end)."""

    def __init__(self, sector_size: int, path: str | None = None) -> None:
        self.sector_size = sector_size
        self.path = path
        self._fd = -1  # the image file, opened at the first read (again after close)
        self._lock = threading.Lock()  # the FUSE server reads from several threads

    def read(self, pos: int, size: int) -> bytes:
        """The drive's bytes at [pos, pos+size)."""
        if self.path is None:
            return expected_bytes(pos, size, self.sector_size)
        with self._lock:
            if self._fd < 0:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            fd = self._fd
        data = os.pread(fd, size, pos) if size > 0 else b""
        return data + bytes(max(0, size) - len(data))

    def sectors(self, first_lba: int, count: int) -> bytes:
        """The bytes of `count` sectors from `first_lba`."""
        if self.path is None:
            return sectors_content(first_lba, count, self.sector_size)
        return self.read(first_lba * self.sector_size, count * self.sector_size)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
