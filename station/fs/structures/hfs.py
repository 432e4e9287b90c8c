"""HFS+ (and HFSX): volume headers, the special files (catalog, extents, allocation...), the journal."""

from __future__ import annotations

import struct

from station.fs.entry import METADATA, Entry
from station.fs.ranges import Range, merge
from station.fs.structures.base import Layout, bitmap_ranges

_SPECIAL = {
    3: "$ExtentsFile",
    4: "$CatalogFile",
    5: "$BadBlockFile",
    6: "$AllocationFile",
    7: "$StartupFile",
    8: "$AttributesFile",
}
_JOURNALED = 1 << 13
_CATALOG = 4  # the catalog file's CNID


class HfsLayout(Layout):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ok = False
        vh = self.read(1024, 512, "HFS+ volume header")
        if vh is None or vh[:2] not in (b"H+", b"HX"):
            self.notes.append("HFS+ volume header unreadable: special files not located")
            return
        self.attributes, _, self.journal_block = struct.unpack_from(">III", vh, 4)
        self.block_size, self.total_blocks = struct.unpack_from(">II", vh, 40)
        self.ok = self.block_size >= 512

    def label(self) -> str | None:
        """The volume name: the root folder's name, the key of the catalog's first leaf record."""
        if not self.ok:
            return None
        header = self.walker.read(_CATALOG, 0, 256)
        (first_leaf,) = struct.unpack_from(">I", header, 24)
        (node_size,) = struct.unpack_from(">H", header, 32)
        if not first_leaf or node_size < 512:
            return None
        node = self.walker.read(_CATALOG, first_leaf * node_size, node_size)
        (at,) = struct.unpack_from(">H", node, node_size - 2)  # the first record's offset
        parent, length = struct.unpack_from(">IH", node, at + 2)
        if parent != 1:  # the root folder's record has the root's parent, 1, in its key
            return None
        return node[at + 8 : at + 8 + 2 * length].decode("utf-16-be")

    def classify(self, path: str, inode: int, kind: str) -> str | None:
        if path.count("/") == 1 and (inode in _SPECIAL or path in ("/.journal", "/.journal_info_block")):
            return METADATA
        return kind

    def _find_structures(self) -> list[Entry]:
        if not self.ok:
            return []
        o = self.offset
        end = o + self.total_blocks * self.block_size
        items = [
            self.item("$VolumeHeader", [(o + 1024, o + 1536)]),
            self.item("$AlternateVolumeHeader", [(end - 1024, end - 512)]),
        ]
        # The special files ($CatalogFile...) are in TSK's root directory: classify() marks them.
        if self.attributes & _JOURNALED and self.journal_block:
            jib = o + self.journal_block * self.block_size
            items.append(self.item("$JournalInfoBlock", [(jib, jib + self.block_size)]))
            raw = self.read(self.journal_block * self.block_size, 52, "HFS+ journal info block")
            if raw is not None:
                offset, size = struct.unpack_from(">QQ", raw, 36)
                if size > 0 and offset + size <= self.total_blocks * self.block_size:
                    items.append(self.item("$Journal", [(o + offset, o + offset + size)]))
        return items

    def used(self) -> list[Range] | None:
        """Blocks set in the allocation file (most significant bit first)."""
        if not self.ok:
            return None
        alloc = self.tree_item("$AllocationFile", 6)
        if alloc is None:
            return None
        if any(self.reader.unrescued(lo, hi - lo) for lo, hi in alloc.extents):
            self.notes.append("HFS+ allocation file not rescued: used blocks unknown")
            return None
        try:
            data = self.walker.read(6, 0, (self.total_blocks + 7) // 8)
        except Exception as e:
            self.notes.append(f"HFS+ allocation file unreadable: {e}")
            return None
        out = bitmap_ranges(data, self.total_blocks, self.block_size, self.offset, msb_first=True)
        for e in self.structures():
            out += e.extents
        return merge(out)


__all__ = ["HfsLayout"]
