"""Where each filesystem keeps its own structures, and which of its blocks are in use.

TSK walks files; it does not list an ext4 inode table or a FAT as something with a place on
disk, and it does not expose allocation bitmaps.  One `Layout` per filesystem type answers what
`affected` and the domains need beyond the file walk:

- `structures()`: metadata outside the directory tree (superblocks, group descriptors, bitmaps,
  inode tables, FATs, boot sectors, volume headers, journals), as METADATA entries;
- `classify(path, inode, kind)`: which tree entries are metadata (NTFS's `$MFT`...), and which
  TSK inventions to drop (its `$FAT1` stands in for our own);
- `record(inode)`: where an entry's own record lies (inode slot, MFT record);
- `used()`: the allocated ranges from the filesystem's own allocation map, or None.

Every layout reads through the ImageReader and turns unrescued or nonsensical structures into
notes, never exceptions.
"""

from __future__ import annotations

from station.fs.structures.base import Layout, bitmap_ranges
from station.fs.structures.ext import ExtLayout
from station.fs.structures.fat import ExfatLayout, FatLayout
from station.fs.structures.hfs import HfsLayout
from station.fs.structures.ntfs import NtfsLayout


def layout_for(fs_type: str) -> type[Layout]:
    """The Layout class for a filesystem type name ("ext4", "fat32", "ntfs"...)."""
    if fs_type.startswith("ext"):
        return ExtLayout
    if fs_type.startswith("fat"):
        return FatLayout
    return {"exfat": ExfatLayout, "ntfs": NtfsLayout, "hfs+": HfsLayout}.get(fs_type, Layout)


__all__ = ["Layout", "bitmap_ranges", "layout_for"]
