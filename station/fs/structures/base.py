"""The Layout base (a filesystem we know nothing special about) and bitmap decoding."""

from __future__ import annotations

import numpy as np

from station.fs.entry import METADATA, Entry
from station.fs.ranges import Range, merge
from station.fs.tsk import TskWalker
from station.images.reader import ImageReader


class Layout:
    """Structures of a filesystem TSK reads but we have no map of: nothing beyond the walk."""

    def __init__(self, reader: ImageReader, walker: TskWalker, fs_type: str) -> None:
        self.reader = reader
        self.walker = walker
        self.fs_type = fs_type
        self.partition = walker.partition
        self.offset = walker.offset
        self.notes: list[str] = []
        self._structures: list[Entry] | None = None

    def classify(self, path: str, inode: int, kind: str) -> str | None:
        """The kind to give a tree entry; None drops it (a TSK stand-in we replace)."""
        return kind

    def record(self, inode: int) -> list[Range]:
        return []

    def structures(self) -> list[Entry]:
        """Metadata outside the tree (computed once: it reads the image and may add notes)."""
        if self._structures is None:
            self._structures = self._find_structures()
        return list(self._structures)

    def _find_structures(self) -> list[Entry]:
        return []

    def used(self) -> list[Range] | None:
        return None

    def label(self) -> str | None:
        """The volume label, None if the filesystem has none (or we cannot read it)."""
        return None

    # -- helpers for subclasses ----------------------------------------------------------------

    def read(self, pos: int, size: int, what: str) -> bytes | None:
        """Bytes at an offset inside the filesystem, or None (with a note) if not all rescued."""
        at = self.offset + pos
        if self.reader.unrescued(at, size):
            self.notes.append(f"{what} at byte {at} is not rescued")
            return None
        return self.reader.read(at, size)

    def item(self, name: str, ranges: list[Range], size: int | None = None) -> Entry:
        """A METADATA entry "/<name>" over absolute ranges."""
        ranges = merge(ranges)
        return Entry(
            path="/" + name,
            kind=METADATA,
            size=sum(hi - lo for lo, hi in ranges) if size is None else size,
            inode=0,
            partition=self.partition.number,
            extents=ranges,
        )

    def tree_item(self, name: str, inode: int) -> Entry | None:
        """A METADATA entry for a file TSK opens by inode (a journal, an HFS+ special file)."""
        try:
            e = self.walker.entry_of(self.walker.open_inode(inode), "/" + name)
        except Exception as ex:  # a damaged inode: say so, go on
            self.notes.append(f"{name} (inode {inode}): {ex}")
            return None
        if e is None:
            return None
        e.kind = METADATA
        return e


VOLUME_LABEL_ENTRY = " (Volume Label Entry)"  # how TSK names a FAT or exFAT volume label entry


def root_label_entry(walker: TskWalker) -> str | None:
    """A FAT or exFAT label from its root directory's volume label entry, as TSK lists it."""
    root = walker.open_inode(walker.fs.info.root_inum)
    for _, path, deleted in walker.children(root, "/", []):
        if not deleted and path.endswith(VOLUME_LABEL_ENTRY) and path.count("/") == 1:
            return path[1 : -len(VOLUME_LABEL_ENTRY)].strip() or None
    return None


def bitmap_ranges(bitmap: bytes, count: int, unit: int, base: int, *, msb_first: bool = False) -> list[Range]:
    """Ranges of set bits among the first `count` bits, as bytes: bit i covers base + i*unit.

    ext, NTFS and exFAT number bits from the least significant; HFS+ from the most.
    """
    if count <= 0:
        return []
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="big" if msb_first else "little")
    bits = bits[:count].astype(np.int8)
    if not bits.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], bits, [0]))))
    starts, ends = edges[0::2], edges[1::2]
    return [(base + int(s) * unit, base + int(e) * unit) for s, e in zip(starts, ends, strict=True)]


def nonzero_ranges(values: np.ndarray, unit: int, base: int) -> list[Range]:
    """Ranges of nonzero entries of an array (a FAT), as bytes: entry i covers base + i*unit."""
    flags = (values != 0).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags, [0]))))
    pairs = zip(edges[0::2], edges[1::2], strict=True)
    return [(base + int(s) * unit, base + int(e) * unit) for s, e in pairs]
