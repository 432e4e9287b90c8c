"""The Sleuth Kit (pytsk3) behind our small interface: a filesystem in a partition of an image.

TSK reads through `ReaderImg`, an `Img_Info` over Station's `ImageReader`, so it sees what the
rescue got and zeros elsewhere; it never opens the image file itself.  Everything TSK-specific
(its enums, its errors, its virtual files) stays in this module and `layout.py`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator

import pytsk3

from station.fs.entry import DIR, FILE, METADATA, OTHER, SYMLINK, Entry
from station.fs.partitions import Partition
from station.fs.ranges import Range, join
from station.images.reader import ImageReader

_A_RES = int(pytsk3.TSK_FS_ATTR_RES)
_A_NONRES = int(pytsk3.TSK_FS_ATTR_NONRES)
_A_COMP = int(pytsk3.TSK_FS_ATTR_COMP)
_A_ENC = int(pytsk3.TSK_FS_ATTR_ENC)
_RUN_HOLE = int(pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER) | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE)
_T_DEFAULT = int(pytsk3.TSK_FS_ATTR_TYPE_DEFAULT)
_T_NTFS_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA)
_T_HFS_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_HFS_DATA)
_CONTENT = (_T_DEFAULT, _T_NTFS_DATA, _T_HFS_DATA)
_T_ATTRLIST = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_ATTRLIST)
_NAME_UNALLOC = int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
_META_UNALLOC = int(pytsk3.TSK_FS_META_FLAG_UNALLOC)
_KINDS = {
    int(pytsk3.TSK_FS_META_TYPE_REG): FILE,
    int(pytsk3.TSK_FS_META_TYPE_DIR): DIR,
    int(pytsk3.TSK_FS_META_TYPE_LNK): SYMLINK,
    int(pytsk3.TSK_FS_META_TYPE_VIRT): METADATA,
}
_VIRT_DIR = int(pytsk3.TSK_FS_META_TYPE_VIRT_DIR)
_DIR_NAME = int(pytsk3.TSK_FS_NAME_TYPE_DIR)
FS_TYPES = {
    int(pytsk3.TSK_FS_TYPE_NTFS): "ntfs",
    int(pytsk3.TSK_FS_TYPE_FAT12): "fat12",
    int(pytsk3.TSK_FS_TYPE_FAT16): "fat16",
    int(pytsk3.TSK_FS_TYPE_FAT32): "fat32",
    int(pytsk3.TSK_FS_TYPE_EXFAT): "exfat",
    int(pytsk3.TSK_FS_TYPE_EXT2): "ext2",
    int(pytsk3.TSK_FS_TYPE_EXT3): "ext3",
    int(pytsk3.TSK_FS_TYPE_EXT4): "ext4",
    int(pytsk3.TSK_FS_TYPE_HFS): "hfs+",
    int(pytsk3.TSK_FS_TYPE_ISO9660): "iso9660",
    int(pytsk3.TSK_FS_TYPE_FFS1): "ufs1",
    int(pytsk3.TSK_FS_TYPE_FFS1B): "ufs1",
    int(pytsk3.TSK_FS_TYPE_FFS2): "ufs2",
    int(pytsk3.TSK_FS_TYPE_APFS): "apfs",
}


class FsError(Exception):
    """A filesystem or a path in it could not be read; the message is one line."""


class ReaderImg(pytsk3.Img_Info):
    """TSK's image over an ImageReader: TSK reads what the rescue got, zeros elsewhere."""

    def __init__(self, reader: ImageReader) -> None:
        self._reader = reader
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset: int, size: int) -> bytes:
        return self._reader.read(offset, size)

    def get_size(self) -> int:
        return self._reader.size

    def close(self) -> None:  # the reader belongs to the caller
        pass


def open_tsk(img: ReaderImg, partition: Partition) -> pytsk3.FS_Info:
    """TSK's filesystem at the partition's start; FsError when none is recognised."""
    try:
        return pytsk3.FS_Info(img, offset=partition.start)
    except (OSError, RuntimeError) as e:
        raise FsError(_tsk_message(e)) from None


_TSK_WHERE = re.compile(r"\w+: \(tsk3\.cpp:\d+\)\s*")  # pytsk3's own "FS_Info_open: (tsk3.cpp:378) "
_TSK_WHAT = re.compile(
    r"Unable to open (?:the filesystem|file): "
    r"|Unable to open the image as a filesystem at offset: \w+ with error: "
)


def _tsk_message(e: BaseException) -> str:
    """pytsk3's error as one short line: its source locations and boilerplate dropped."""
    text = _TSK_WHAT.sub("", _TSK_WHERE.sub("", " ".join(str(e).split())))
    return text.strip() or type(e).__name__


def _time(meta, name: str) -> float | None:
    sec = getattr(meta, name, 0)
    if not sec:
        return None
    return sec + getattr(meta, name + "_nano", 0) / 1e9


class TskWalker:
    """Entries of one TSK filesystem, with their extents on the image."""

    def __init__(self, fs: pytsk3.FS_Info, partition: Partition) -> None:
        self.fs = fs
        self.partition = partition
        self.offset = partition.start
        self.block_size = fs.info.block_size
        # Set by the filesystem's Layout: (path, inode, kind) -> kind or None (drop), inode -> ranges
        self.classify: Callable[[str, int, str], str | None] = lambda path, inode, kind: kind
        self.record: Callable[[int], list[Range]] = lambda inode: []

    # -- entries ---------------------------------------------------------------------------

    def entry_of(self, f, path: str, deleted: bool = False) -> Entry | None:
        """Our Entry for a TSK file object (None: the layout drops it)."""
        m = f.info.meta
        kind = self.classify(path, int(m.addr), _KINDS.get(int(m.type), OTHER))
        if kind is None:
            return None
        extents: list[Range] = []
        resident = False
        records: set[int] = set()
        base, bs = self.offset, self.block_size
        for a in f:
            ai = a.info
            flags = int(ai.flags)
            atype = int(ai.type)
            if flags & _A_NONRES:
                for r in a:
                    if r.len and not int(r.flags) & _RUN_HOLE:
                        s = base + r.addr * bs
                        extents.append((s, s + r.len * bs))
            elif flags & _A_RES and atype in _CONTENT and ai.size and not ai.name:
                resident = True
            if atype == _T_ATTRLIST:
                records |= self._attrlist_records(f, ai)
        extents.sort()
        record = self.record(int(m.addr))
        for n in sorted(records - {int(m.addr)}):
            record = record + self.record(n)
        return Entry(
            path=path,
            kind=kind,
            size=int(m.size),
            inode=int(m.addr),
            partition=self.partition.number,
            deleted=deleted,
            resident=resident,
            mtime=_time(m, "mtime"),
            atime=_time(m, "atime"),
            ctime=_time(m, "ctime"),
            crtime=_time(m, "crtime"),
            extents=join(extents),
            record=record,
        )

    def _attrlist_records(self, f, ai) -> set[int]:
        """MFT record numbers an NTFS $ATTRIBUTE_LIST points at (a file's extension records)."""
        try:
            raw = f.read_random(0, int(ai.size), _T_ATTRLIST, int(ai.id))
        except (OSError, RuntimeError):
            return set()
        out, pos = set(), 0
        while pos + 26 <= len(raw):
            (length,) = struct.unpack_from("<H", raw, pos + 4)
            if length < 26:
                break
            (ref,) = struct.unpack_from("<Q", raw, pos + 16)
            out.add(ref & 0xFFFFFFFFFFFF)
            pos += length
        return out

    def open_path(self, path: str):
        try:
            return self.fs.open(path)
        except (OSError, RuntimeError) as e:
            raise FsError(f"{path}: {_tsk_message(e)}") from None

    def open_inode(self, inode: int):
        try:
            return self.fs.open_meta(inode=inode)
        except (OSError, RuntimeError) as e:
            raise FsError(f"inode {inode}: {_tsk_message(e)}") from None

    def children(self, directory, path: str, notes: list[str]) -> Iterator[tuple[object, str, bool]]:
        """(TSK file, path, deleted) of a directory's entries, without . and .. and TSK's orphan dir."""
        try:
            d = directory.as_directory()
        except (OSError, RuntimeError) as e:
            notes.append(f"{path or '/'}: directory unreadable ({_tsk_message(e)})")
            return
        prefix = path.rstrip("/")
        try:
            for f in d:
                n = f.info.name
                name = n.name
                if name in (b".", b".."):
                    continue
                m = f.info.meta
                if m is None or int(m.type) == _VIRT_DIR:
                    continue
                deleted = bool(int(n.flags) & _NAME_UNALLOC) or bool(int(m.flags) & _META_UNALLOC)
                yield f, prefix + "/" + name.decode("utf-8", "surrogateescape"), deleted
        except (OSError, RuntimeError) as e:
            notes.append(f"{path or '/'}: directory partly unreadable ({_tsk_message(e)})")

    def walk(self, notes: list[str], start: str = "/") -> Iterator[Entry]:
        """Every entry under start (start itself first), depth first; deleted ones flagged."""
        try:
            top = self.fs.open_meta(inode=self.fs.info.root_inum) if start == "/" else self.fs.open(start)
        except (OSError, RuntimeError) as e:
            notes.append(f"{start}: {_tsk_message(e)}")
            return
        first = self.entry_of(top, start)
        if first is not None:
            yield first
        seen = {int(top.info.meta.addr)}
        stack = [(top, start)]
        while stack:
            d, path = stack.pop()
            subdirs = []
            for f, p, deleted in self.children(d, path, notes):
                e = self.entry_of(f, p, deleted)
                if e is None:
                    continue
                yield e
                if e.kind == DIR and not deleted and e.inode not in seen:
                    seen.add(e.inode)
                    subdirs.append((f, p))
            stack.extend(reversed(subdirs))

    def data_runs(self, inode: int) -> tuple[list[tuple[int, int, int]], bool]:
        """The default stream's runs as (file offset, image offset, length), and whether the
        mapping is exact (False for compressed or encrypted streams, where it is not 1:1).

        A resident stream is one run at the record's place (its exact offset inside the record
        is not needed: a record is read whole or not at all).
        """
        f = self.open_inode(inode)
        base, bs = self.offset, self.block_size
        for a in f:
            ai = a.info
            atype = int(ai.type)
            if atype not in _CONTENT or ai.name:
                continue
            flags = int(ai.flags)
            if flags & _A_RES:
                return [(0, lo, hi - lo) for lo, hi in self.record(inode)], False
            runs = []
            for r in a:
                if r.len and not int(r.flags) & _RUN_HOLE:
                    runs.append((r.offset * bs, base + r.addr * bs, r.len * bs))
            return runs, not flags & (_A_COMP | _A_ENC)
        return [], True

    def read(self, inode: int, offset: int, size: int) -> bytes:
        """Content bytes of an entry (its default stream), unreadable parts as zeros."""
        f = self.open_inode(inode)
        try:
            return f.read_random(offset, size)
        except (OSError, RuntimeError) as e:
            raise FsError(f"inode {inode}: {_tsk_message(e)}") from None
