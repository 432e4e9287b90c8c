"""What a filesystem holds, as Station sees it: entries with their places on the image."""

from __future__ import annotations

from dataclasses import dataclass, field

from station.fs.ranges import Range

FILE, DIR, SYMLINK, METADATA, OTHER = "file", "dir", "symlink", "metadata", "other"


@dataclass(slots=True)
class Entry:
    """A file, directory, symlink or piece of filesystem metadata in one filesystem.

    `extents` are the entry's allocated bytes as ranges on the image (absolute offsets, so
    they can be set against a rescue map directly): data runs, NTFS non-resident attributes and
    index allocations, ext4 extent-tree and indirect blocks.  Sparse holes hold no bytes and are
    not in it.  `record` is where the entry's own metadata record lies (its MFT record(s), its
    inode), since losing the record loses the file as surely as losing its data.
    """

    path: str  # absolute inside its filesystem: "/dir/name"
    kind: str  # FILE, DIR, SYMLINK, METADATA or OTHER
    size: int  # bytes of content (a directory's size as the filesystem reports it)
    inode: int  # the filesystem's address of its metadata (inode, MFT entry, TSK's FAT address)
    partition: int  # partition number (0: no partition table)
    deleted: bool = False
    resident: bool = False  # content stored inside the record (NTFS resident $DATA, ext4 inline)
    mtime: float | None = None
    atime: float | None = None
    ctime: float | None = None
    crtime: float | None = None
    extents: list[Range] = field(default_factory=list)
    record: list[Range] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] or "/"

    @property
    def allocated_bytes(self) -> int:
        return sum(hi - lo for lo, hi in self.extents)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "kind": self.kind,
            "size": self.size,
            "inode": self.inode,
            "partition": self.partition,
            "deleted": self.deleted,
            "resident": self.resident,
            "mtime": self.mtime,
            "atime": self.atime,
            "ctime": self.ctime,
            "crtime": self.crtime,
            "extents": [[lo, hi - lo] for lo, hi in self.extents],
            "record": [[lo, hi - lo] for lo, hi in self.record],
        }
