"""What a virtual drive holds: every sector is its own LBA as 8 little-endian bytes, repeated.

Deterministic per sector and different for every sector, so any image can be checked byte by
byte against the drive it came from (`station sim verify`), and a sector written to the wrong
place is caught.  Generation is done in C through array slices, fast enough to serve a drive
over FUSE at hundreds of MB/s.
"""

from __future__ import annotations

import sys
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
