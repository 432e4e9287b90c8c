"""GNU ddrescue's test mode (-H, --test-mode=FILE) for our engine.

Reads touching a block that the test mapfile does not call finished fail with EIO, so the
same real file can be rescued by ddrescue and by Station with identical simulated damage.
"""

from __future__ import annotations

import errno

from station.media.base import Source, SourceIdentity
from station.rescue.rescuemap import RescueMap, Status


class TestModeSource:
    """A Source whose reads fail wherever `test_map` is not finished ('+')."""

    __test__ = False  # not a pytest class

    def __init__(self, inner: Source, test_map: RescueMap) -> None:
        self.inner = inner
        self.test_map = test_map
        self.identity: SourceIdentity = inner.identity

    @property
    def size(self) -> int:
        return self.inner.size

    @property
    def sector_size(self) -> int:
        return self.inner.sector_size

    @property
    def alignment(self) -> int:
        return self.inner.alignment

    def read_into(self, pos: int, buf: memoryview) -> int:
        end = min(pos + len(buf), self.size)
        for b in self.test_map.blocks(pos, end):
            if b.status != Status.FINISHED:
                raise OSError(errno.EIO, "Input/output error (test mode)")
        if end > self.test_map.size and pos < end:
            raise OSError(errno.EIO, "Input/output error (test mode: beyond the test map)")
        return self.inner.read_into(pos, buf)

    def reopen(self) -> None:
        self.inner.reopen()

    def close(self) -> None:
        self.inner.close()
