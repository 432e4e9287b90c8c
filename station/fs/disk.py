"""An image opened for browsing: its partition table and a Filesystem per partition we can read.

`open_disk(reader)` is the one entry point; everything it finds damaged becomes a note.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field

from station.fs.entry import DIR, METADATA, Entry
from station.fs.partitions import Partition, PartitionTable, read_partitions
from station.fs.ranges import Range, merge
from station.fs.structures import Layout, layout_for
from station.fs.tsk import FS_TYPES, FsError, ReaderImg, TskWalker, open_tsk
from station.images.reader import ImageReader

_UNSET = object()


class Filesystem:
    """One filesystem in one partition: walk it, read its files, locate its metadata.

    The interface Station uses; TSK (through TskWalker) and a per-type Layout sit behind it.
    """

    def __init__(self, reader: ImageReader, img: ReaderImg, partition: Partition) -> None:
        tsk = open_tsk(img, partition)
        self.reader = reader
        self.partition = partition
        self.type = FS_TYPES.get(int(tsk.info.ftype), f"tsk-{int(tsk.info.ftype):#x}")
        self.block_size: int = tsk.info.block_size
        self._walker = TskWalker(tsk, partition)
        self._layout: Layout = layout_for(self.type)(reader, self._walker, self.type)
        self._walker.classify = self._layout.classify
        self._walker.record = self._layout.record
        self.notes: list[str] = self._layout.notes
        self._label: str | None | object = _UNSET

    def __repr__(self) -> str:
        return f"<Filesystem {self.type} in partition {self.partition.number}>"

    def walk(self, path: str = "/") -> Iterator[Entry]:
        """Every entry at and under path, depth first (deleted ones flagged, not descended into)."""
        return self._walker.walk(self.notes, path)

    def entry(self, path: str) -> Entry:
        """The entry at an absolute path; FsError ("...: no such file or directory") if none.

        On filesystems that ignore case (FAT, exFAT, NTFS, HFS+) the path is matched as they
        do, and the entry's path is spelled as the filesystem stores it.
        """
        path = "/" + path.strip("/")
        f = self._open(path)
        if path != "/" and self.ignores_case:
            path = self._lookup(path)[0] or path
        e = self._walker.entry_of(f, path)
        if e is None:
            raise FsError(f"{path}: no such file or directory")
        return e

    def list(self, path: str = "/") -> list[Entry]:
        """A directory's entries (one level), in the filesystem's order; FsError if not a directory."""
        path = "/" + path.strip("/")
        d = self._open(path)
        top = self._walker.entry_of(d, path)
        if top is None:
            raise FsError(f"{path}: no such file or directory")
        if top.kind != DIR:
            raise FsError(f"{path}: not a directory")
        out = []
        for f, p, deleted in self._walker.children(d, path, self.notes):
            e = self._walker.entry_of(f, p, deleted)
            if e is not None:
                out.append(e)
        return out

    def read(self, entry: Entry, offset: int = 0, size: int | None = None) -> bytes:
        """Content of an entry (unrescued bytes as zeros); FsError if the filesystem cannot say."""
        if size is None:
            size = max(0, entry.size - offset)
        if size <= 0:
            return b""
        return self._walker.read(entry.inode, offset, size)

    def _open(self, path: str):
        """TSK's file at an absolute path, or FsError saying which component is missing."""
        w = self._walker
        if path == "/":
            return w.open_inode(w.fs.info.root_inum)
        try:
            return w.open_path(path)
        except FsError as e:
            raise FsError(self._lookup(path)[1] or str(e)) from None

    def _lookup(self, path: str) -> tuple[str | None, str | None]:
        """(the path as stored, None), or (None, why it does not resolve), one directory at a time.

        A name matches exactly, or else, on a filesystem that ignores case, ignoring case.
        """
        fold = self.ignores_case
        w = self._walker
        d = w.open_inode(w.fs.info.root_inum)
        here = ""
        names = path.strip("/").split("/")
        for i, name in enumerate(names):
            found, stored = None, name
            for f, p, deleted in w.children(d, here, []):
                other = p.rsplit("/", 1)[-1]
                if not deleted and other == name:
                    found, stored = f, other
                    break
                if fold and not deleted and found is None and other.casefold() == name.casefold():
                    found, stored = f, other
            e = w.entry_of(found, f"{here}/{stored}") if found is not None else None
            if e is None:
                return None, f"{here}/{name}: no such file or directory"
            here = e.path
            if i < len(names) - 1 and e.kind != DIR:
                return None, f"{here}: not a directory"
            d = found
        return here, None

    @property
    def ignores_case(self) -> bool:
        """FAT, exFAT, NTFS and HFS+ (not HFSX, which TSK reads the same) match names ignoring case."""
        return not self.type.startswith(("ext", "ufs", "iso"))

    @property
    def label(self) -> str | None:
        """The volume's label (ext, FAT, NTFS, exFAT, HFS+ volume name), None if none or unreadable."""
        if self._label is _UNSET:
            try:
                self._label = self._layout.label() or None
            except Exception:  # a damaged or unrescued structure: no label, not an error
                self._label = None
        return self._label  # type: ignore[return-value]

    def link_target(self, entry: Entry) -> str:
        """A symlink's target."""
        f = self._walker.open_inode(entry.inode)
        link = getattr(f.info.meta, "link", None)
        if link:
            return link.decode("utf-8", "surrogateescape") if isinstance(link, bytes) else str(link)
        return self.read(entry).decode("utf-8", "surrogateescape")

    def structures(self) -> list[Entry]:
        """Filesystem metadata outside the directory tree (superblocks, inode tables, FATs...)."""
        return self._layout.structures()

    def used(self) -> list[Range] | None:
        """Allocated ranges from the filesystem's own allocation map; None if it cannot be read."""
        return self._layout.used()

    def glob(self, patterns: list[str]) -> Iterator[Entry]:
        """Live entries whose absolute path matches a pattern (fnmatch: `*` also crosses `/`)."""
        for e in self.walk():
            if not e.deleted and any(fnmatch.fnmatchcase(e.path, p) for p in patterns):
                yield e


@dataclass
class Disk:
    """An image's partition table and the filesystems found in it."""

    reader: ImageReader
    table: PartitionTable
    filesystems: list[Filesystem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def filesystem(self, partition: int) -> Filesystem:
        for fs in self.filesystems:
            if fs.partition.number == partition:
                return fs
        raise FsError(f"partition {partition}: no filesystem")

    def table_entries(self) -> list[Entry]:
        """The partition tables' own sectors, as one METADATA entry of partition 0."""
        if not self.table.ranges:
            return []
        ranges = merge(self.table.ranges)
        name = {"mbr": "$PartitionTable", "gpt": "$GPT"}.get(self.table.scheme, "$PartitionTable")
        size = sum(hi - lo for lo, hi in ranges)
        return [Entry(path="/" + name, kind=METADATA, size=size, inode=0, partition=0, extents=ranges)]

    def all_notes(self) -> list[str]:
        out = list(self.table.notes) + list(self.notes)
        for fs in self.filesystems:
            out += [f"partition {fs.partition.number} ({fs.type}): {n}" for n in fs.notes]
        return out


def open_disk(reader: ImageReader) -> Disk:
    """Partitions and filesystems of an image.  Damaged or unknown parts become notes."""
    table = read_partitions(reader)
    img = ReaderImg(reader)
    disk = Disk(reader, table)
    for p in table.partitions:
        if p.start >= reader.size:
            disk.notes.append(f"partition {p.number} starts past the image's end")
            continue
        try:
            disk.filesystems.append(Filesystem(reader, img, p))
        except FsError as e:
            where = "whole disk" if p.number == 0 else f"partition {p.number}"
            unread = " (its first sectors are not rescued)" if reader.unrescued(p.start, 65536) else ""
            why = "" if str(e) == "Cannot determine file system type" else f": {e}"
            disk.notes.append(f"{where}: no filesystem recognised{unread}{why}")
    return disk


__all__ = ["DIR", "Disk", "Filesystem", "FsError", "open_disk"]
