"""ext2/3/4: superblocks, group descriptors, bitmaps and inode tables from the group descriptors.

TSK 4.x prints a muddled layout for flex_bg filesystems, so the groups are read here, from the
superblock and the descriptor table (the kernel's own ext4_group_desc), and cross-checked in the
tests against debugfs.
"""

from __future__ import annotations

import struct

from station.fs.entry import Entry
from station.fs.ranges import Range, merge
from station.fs.structures.base import Layout, bitmap_ranges

_COMPAT_HAS_JOURNAL = 0x4
_COMPAT_RESIZE_INODE = 0x10
_COMPAT_SPARSE_SUPER2 = 0x200
_INCOMPAT_META_BG = 0x10
_INCOMPAT_64BIT = 0x80
_RO_COMPAT_SPARSE_SUPER = 0x1
_BLOCK_UNINIT = 0x2


def _is_power_of(n: int, base: int) -> bool:
    while n > 1 and n % base == 0:
        n //= base
    return n == 1


class ExtLayout(Layout):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ok = False
        self.groups: list[tuple[int, int, int, int]] = []  # block bitmap, inode bitmap, inode table, flags
        sb = self.read(1024, 1024, "ext superblock")
        if sb is None or struct.unpack_from("<H", sb, 56)[0] != 0xEF53:
            self.notes.append("ext superblock unreadable: inode tables and bitmaps not located")
            return
        self._parse(sb)

    def _parse(self, sb: bytes) -> None:
        u32 = lambda o: struct.unpack_from("<I", sb, o)[0]  # noqa: E731
        u16 = lambda o: struct.unpack_from("<H", sb, o)[0]  # noqa: E731
        self.compat, self.incompat, self.ro_compat = u32(92), u32(96), u32(100)
        self.volume_name = sb[120:136].split(b"\0", 1)[0].decode("utf-8", "replace")
        self.bs = 1024 << u32(24)
        self.first_data_block = u32(20)
        self.bpg, self.ipg = u32(32), u32(40)
        self.inode_size = u16(88) if u32(76) >= 1 else 128
        blocks = u32(4) | ((u32(0x150) << 32) if self.incompat & _INCOMPAT_64BIT else 0)
        self.blocks = blocks
        self.desc_size = u16(0xFE) if self.incompat & _INCOMPAT_64BIT else 32
        if self.desc_size < 32 or self.bpg == 0 or self.ipg == 0:
            self.notes.append("ext superblock has impossible values")
            return
        self.ngroups = -(-(blocks - self.first_data_block) // self.bpg)
        self.reserved_gdt = u16(206) if self.compat & _COMPAT_RESIZE_INODE else 0
        self.first_meta_bg = u32(260)
        self.backup_bgs = (u32(0x24C), u32(0x250))
        self.journal_inum = u32(0xE0) if self.compat & _COMPAT_HAS_JOURNAL else 0
        self.quota_inums = [u32(0x240), u32(0x244)] + ([u32(0x26C)] if len(sb) > 0x270 else [])
        self.itable_blocks = -(-self.ipg * self.inode_size // self.bs)
        self.desc_per_block = self.bs // self.desc_size
        gdt_blocks = -(-self.ngroups // self.desc_per_block)
        if self.incompat & _INCOMPAT_META_BG:
            gdt_blocks = min(gdt_blocks, self.first_meta_bg)
        self.gdt_blocks = gdt_blocks
        self._read_descriptors()

    def label(self) -> str | None:
        return getattr(self, "volume_name", None)

    def group_start(self, g: int) -> int:
        return self.first_data_block + g * self.bpg

    def has_super(self, g: int) -> bool:
        if g == 0:
            return True
        if self.compat & _COMPAT_SPARSE_SUPER2:
            return g in self.backup_bgs
        if not self.ro_compat & _RO_COMPAT_SPARSE_SUPER:
            return True
        return g == 1 or _is_power_of(g, 3) or _is_power_of(g, 5) or _is_power_of(g, 7)

    def _descriptor_blocks(self) -> list[int]:
        """Blocks of the primary descriptor table, in order (meta_bg spreads them out)."""
        out = [self.group_start(0) + 1 + i for i in range(self.gdt_blocks)]
        if self.incompat & _INCOMPAT_META_BG:
            nmeta = -(-self.ngroups // self.desc_per_block)
            for m in range(self.first_meta_bg, nmeta):
                g = m * self.desc_per_block
                out.append(self.group_start(g) + (1 if self.has_super(g) else 0))
        return out

    def _read_descriptors(self) -> None:
        bs, ds = self.bs, self.desc_size
        groups = []
        for blk in self._descriptor_blocks():
            raw = self.read(blk * bs, bs, "ext group descriptors")
            if raw is None:
                self.notes.append("ext group descriptors unreadable: inode tables and bitmaps not located")
                return
            for i in range(self.desc_per_block):
                if len(groups) == self.ngroups:
                    break
                d = raw[i * ds : (i + 1) * ds]
                bb, ib, it = struct.unpack_from("<III", d, 0)
                (flags,) = struct.unpack_from("<H", d, 0x12)
                if ds >= 64:
                    bbh, ibh, ith = struct.unpack_from("<III", d, 0x20)
                    bb, ib, it = bb | bbh << 32, ib | ibh << 32, it | ith << 32
                groups.append((bb, ib, it, flags))
        self.groups = groups
        self.ok = len(groups) == self.ngroups

    # -- answers ----------------------------------------------------------------------------------

    def _blocks(self, first: int, count: int) -> Range:
        return (self.offset + first * self.bs, self.offset + (first + count) * self.bs)

    def record(self, inode: int) -> list[Range]:
        if not self.ok or inode < 1:
            return []
        g, i = divmod(inode - 1, self.ipg)
        if g >= len(self.groups):
            return []
        pos = self.offset + self.groups[g][2] * self.bs + i * self.inode_size
        return [(pos, pos + self.inode_size)]

    def _find_structures(self) -> list[Entry]:
        if not self.ok:
            return []
        supers: list[Range] = []
        gdt: list[Range] = []
        meta_bg = self.incompat & _INCOMPAT_META_BG
        for g in range(self.ngroups):
            if not self.has_super(g):
                continue
            start = self.group_start(g)
            if g == 0:
                supers.append((self.offset + 1024, self.offset + 2048))  # block 0 also holds the boot area
                if self.bs > 1024:
                    supers[-1] = self._blocks(0, 1)
            else:
                supers.append(self._blocks(start, 1))
            gdt.append(self._blocks(start + 1, self.gdt_blocks + self.reserved_gdt))
        if meta_bg:
            nmeta = -(-self.ngroups // self.desc_per_block)
            for m in range(self.first_meta_bg, nmeta):
                first = m * self.desc_per_block
                for g in (first, first + 1, first + self.desc_per_block - 1):
                    if g < self.ngroups:
                        gdt.append(self._blocks(self.group_start(g) + (1 if self.has_super(g) else 0), 1))
        items = [
            self.item("$Superblock", supers),
            self.item("$GroupDescriptors", gdt),
            self.item("$BlockBitmaps", [self._blocks(b, 1) for b, _, _, _ in self.groups]),
            self.item("$InodeBitmaps", [self._blocks(i, 1) for _, i, _, _ in self.groups]),
            self.item("$InodeTables", [self._blocks(t, self.itable_blocks) for _, _, t, _ in self.groups]),
        ]
        specials = [("$Journal", self.journal_inum)]
        if self.compat & _COMPAT_RESIZE_INODE:
            specials.append(("$ResizeInode", 7))
        inodes = self.ipg * self.ngroups
        specials += [(f"$Quota{i}", n) for i, n in enumerate(self.quota_inums) if 2 < n < inodes]
        for name, inum in specials:
            if inum:
                e = self.tree_item(name, inum)
                if e is not None:
                    items.append(e)
        return items

    def used(self) -> list[Range] | None:
        """Allocated blocks from the block bitmaps, plus every structure (uninitialised groups)."""
        if not self.ok:
            return None
        out: list[Range] = []
        bs = self.bs
        unread = 0
        for g, (bb, _, _, flags) in enumerate(self.groups):
            if flags & _BLOCK_UNINIT:
                continue  # only the group's own structures are in use: added below
            first = self.group_start(g)
            count = min(self.bpg, self.blocks - first)
            pos = bb * bs
            if self.reader.unrescued(self.offset + pos, bs):
                unread += 1
                out.append(self._blocks(first, count))  # unknown: count the whole group as used
                continue
            out += bitmap_ranges(self.reader.read(self.offset + pos, bs), count, bs, self.offset + first * bs)
        if unread:
            self.notes.append(f"{unread} ext block bitmap(s) not rescued: their groups counted as used")
        for e in self.structures():
            out += e.extents
        return merge(out)
