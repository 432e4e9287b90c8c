"""NTFS: system files are in the tree (`$MFT`, `$Bitmap`...); records located through $MFT's runs."""

from __future__ import annotations

import struct

import pytsk3

from station.fs.entry import METADATA, Entry
from station.fs.ranges import Range, merge
from station.fs.structures.base import Layout, bitmap_ranges

_VOLUME_NAME = 0x60  # $Volume's attribute holding the label
_FIRST_USER_RECORD = 16  # records 0-15 are the system files; $Extend's children are metadata too


class NtfsLayout(Layout):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ok = False
        self.mft_runs: list[tuple[int, int, int]] = []  # (first byte in $MFT, length, image offset)
        boot = self.read(0, 512, "NTFS boot sector")
        if boot is None or boot[3:11] != b"NTFS    ":
            self.notes.append("NTFS boot sector unreadable: MFT records not located")
            return
        bps, spc = struct.unpack_from("<HB", boot, 11)
        if spc > 0x80:
            spc = 1 << (256 - spc)
        self.bps, self.cluster = bps, bps * spc
        (self.sectors,) = struct.unpack_from("<Q", boot, 0x28)
        (cpr,) = struct.unpack_from("<b", boot, 0x40)
        self.record_size = cpr * self.cluster if cpr > 0 else 1 << -cpr
        self._mft_runs()

    def _mft_runs(self) -> None:
        try:
            f = self.walker.open_inode(0)
            for a in f:
                if int(a.info.type) != int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA) or a.info.name:
                    continue
                for r in a:
                    if r.len:
                        c = self.cluster
                        self.mft_runs.append((r.offset * c, r.len * c, self.offset + r.addr * c))
        except Exception as e:
            self.notes.append(f"$MFT runs unreadable: {e}")
            return
        self.mft_runs.sort()
        self.ok = bool(self.mft_runs)

    def classify(self, path: str, inode: int, kind: str) -> str | None:
        if path == "/$Extend" or path.startswith("/$Extend/"):
            return METADATA
        if inode < _FIRST_USER_RECORD and path.count("/") == 1 and path.startswith("/$"):
            return METADATA
        return kind

    def record(self, inode: int) -> list[Range]:
        """The bytes of MFT record `inode`, through $MFT's runs (a record may span two)."""
        lo, hi = inode * self.record_size, (inode + 1) * self.record_size
        out = []
        for vpos, length, at in self.mft_runs:
            a, b = max(lo, vpos), min(hi, vpos + length)
            if b > a:
                out.append((at + a - vpos, at + b - vpos))
        return out

    def label(self) -> str | None:
        """$Volume's $VOLUME_NAME attribute (UTF-16LE)."""
        f = self.walker.open_inode(3)
        for a in f:
            if int(a.info.type) == _VOLUME_NAME and int(a.info.size):
                return f.read_random(0, int(a.info.size), _VOLUME_NAME, int(a.info.id)).decode("utf-16-le")
        return None

    def _find_structures(self) -> list[Entry]:
        if not self.bps:
            return []
        backup = self.offset + self.sectors * self.bps  # the backup boot sector: the partition's last
        if backup + self.bps <= self.reader.size:
            return [self.item("$BootBackup", [(backup, backup + self.bps)])]
        return []

    def used(self) -> list[Range] | None:
        """Clusters set in $Bitmap (record 6)."""
        try:
            bm = self.walker.entry_of(self.walker.open_inode(6), "/$Bitmap")
        except Exception as e:
            self.notes.append(f"$Bitmap unreadable: {e}")
            return None
        if bm is None or any(self.reader.unrescued(lo, hi - lo) for lo, hi in bm.extents):
            self.notes.append("$Bitmap not rescued: used clusters unknown")
            return None
        try:
            data = self.walker.read(6, 0, bm.size)
        except Exception as e:
            self.notes.append(f"$Bitmap unreadable: {e}")
            return None
        clusters = self.sectors * self.bps // self.cluster
        out = bitmap_ranges(data, clusters, self.cluster, self.offset)
        for e in self.structures():
            out += e.extents
        return merge(out)


__all__ = ["NtfsLayout"]
