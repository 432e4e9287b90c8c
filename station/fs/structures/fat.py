"""FAT12/16/32 and exFAT: reserved and boot regions, the FATs, root directory, cluster allocation."""

from __future__ import annotations

import struct

import numpy as np

from station.fs.entry import METADATA, Entry
from station.fs.ranges import Range, merge
from station.fs.structures.base import (
    VOLUME_LABEL_ENTRY,
    Layout,
    bitmap_ranges,
    nonzero_ranges,
    root_label_entry,
)

_TSK_VIRTUAL = {"/$MBR", "/$FAT1", "/$FAT2"}  # TSK's stand-ins for the regions we list ourselves


def _is_label_entry(path: str) -> bool:
    return path.count("/") == 1 and path.endswith(VOLUME_LABEL_ENTRY)


class FatLayout(Layout):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ok = False
        bpb = self.read(0, 512, "FAT boot sector")
        if bpb is None:
            self.notes.append("FAT boot sector unreadable: FATs and root directory not located")
            return
        bps, spc, rsvd, nfats, root_ents, tot16, _, fatsz16 = struct.unpack_from("<HBHBHHBH", bpb, 11)
        tot32, fatsz32 = struct.unpack_from("<II", bpb, 32)
        if bps not in (512, 1024, 2048, 4096) or spc == 0 or nfats == 0:
            self.notes.append("FAT boot sector has impossible values")
            return
        self.bps, self.rsvd, self.nfats = bps, rsvd, nfats
        self.fat_bytes = (fatsz16 or fatsz32) * bps
        self.root_bytes = -(-root_ents * 32 // bps) * bps
        self.total = (tot16 or tot32) * bps
        self.cluster = spc * bps
        self.fats_start = rsvd * bps
        self.root_start = self.fats_start + nfats * self.fat_bytes
        self.data_start = self.root_start + self.root_bytes
        self.clusters = max(0, (self.total - self.data_start) // self.cluster)
        self.bits = {"fat12": 12, "fat16": 16, "fat32": 32}.get(self.fs_type, 32)
        self.boot_label = bpb[71 if self.bits == 32 else 43 :][:11].decode("latin-1").strip()
        self.ok = True

    def classify(self, path: str, inode: int, kind: str) -> str | None:
        if kind == METADATA and path in _TSK_VIRTUAL:
            return None
        if _is_label_entry(path):
            return None  # the volume label: a directory entry, not a file (see label())
        return kind

    def label(self) -> str | None:
        """The root directory's label entry (what Windows shows), else the boot sector's."""
        found = root_label_entry(self.walker)
        if found:
            return found
        if self.ok and self.boot_label not in ("", "NO NAME"):
            return self.boot_label
        return None

    def _find_structures(self) -> list[Entry]:
        if not self.ok:
            return []
        o = self.offset
        items = [self.item("$ReservedSectors", [(o, o + self.fats_start)])]
        for i in range(self.nfats):
            s = o + self.fats_start + i * self.fat_bytes
            items.append(self.item(f"$FAT{i + 1}", [(s, s + self.fat_bytes)]))
        return items  # a FAT12/16 root directory region is the tree's "/" entry

    def _fat_copy(self) -> bytes | None:
        for i in range(self.nfats):
            raw = self.read(self.fats_start + i * self.fat_bytes, self.fat_bytes, f"FAT{i + 1}")
            if raw is not None:
                if i:
                    self.notes.append(f"FAT1 not rescued: allocation read from FAT{i + 1}")
                return raw
        return None

    def used(self) -> list[Range] | None:
        if not self.ok:
            return None
        raw = self._fat_copy()
        if raw is None:
            return None
        n = self.clusters + 2
        if self.bits == 12:
            b = np.frombuffer(raw[: (n + 1) // 2 * 3].ljust((n + 1) // 2 * 3, b"\0"), dtype=np.uint8)
            b = b.reshape(-1, 3).astype(np.uint16)
            even = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
            odd = (b[:, 1] >> 4) | (b[:, 2] << 4)
            values = np.stack([even, odd], axis=1).reshape(-1)[:n]
        elif self.bits == 16:
            values = np.frombuffer(raw[: n * 2], dtype="<u2")
        else:
            values = np.frombuffer(raw[: n * 4], dtype="<u4") & 0x0FFFFFFF
        out = nonzero_ranges(values[2:], self.cluster, self.offset + self.data_start)
        out.append((self.offset + self.root_start, self.offset + self.data_start))
        for e in self.structures():
            out += e.extents
        return merge(out)


class ExfatLayout(Layout):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ok = False
        boot = self.read(0, 512, "exFAT boot sector")
        if boot is None or boot[3:11] != b"EXFAT   ":
            self.notes.append("exFAT boot sector unreadable: FAT and bitmap not located")
            return
        fat_off, fat_len, heap_off, count, root = struct.unpack_from("<IIIII", boot, 80)
        bps_shift, spc_shift, nfats = boot[108], boot[109], boot[110]
        if not 9 <= bps_shift <= 12 or spc_shift > 25 or nfats not in (1, 2):
            self.notes.append("exFAT boot sector has impossible values")
            return
        self.bps = 1 << bps_shift
        self.cluster = self.bps << spc_shift
        self.fat_start, self.fat_bytes, self.nfats = fat_off * self.bps, fat_len * self.bps, nfats
        self.heap = heap_off * self.bps
        self.clusters = count
        self.ok = True

    def classify(self, path: str, inode: int, kind: str) -> str | None:
        if path in ("/$MBR", "/$FAT1", "/$FAT2") or _is_label_entry(path):
            return None
        if path in ("/$ALLOC_BITMAP", "/$UPCASE_TABLE", "/$VOLUME_GUID", "/$TEXFAT"):
            return METADATA
        return kind

    def label(self) -> str | None:
        return root_label_entry(self.walker)

    def _find_structures(self) -> list[Entry]:
        if not self.ok:
            return []
        o, b = self.offset, self.bps
        items = [
            self.item("$BootRegion", [(o, o + 12 * b)]),
            self.item("$BackupBootRegion", [(o + 12 * b, o + 24 * b)]),
        ]
        for i in range(self.nfats):
            s = o + self.fat_start + i * self.fat_bytes
            items.append(self.item(f"$FAT{i + 1}", [(s, s + self.fat_bytes)]))
        return items

    def used(self) -> list[Range] | None:
        """Clusters from the allocation bitmap.  Contiguous (NoFatChain) files are only there."""
        if not self.ok:
            return None
        try:
            bitmap = self.walker.entry_of(self.walker.open_path("/$ALLOC_BITMAP"), "/$ALLOC_BITMAP")
        except Exception as e:
            self.notes.append(f"exFAT allocation bitmap not found: {e}")
            return None
        data = b""
        for lo, hi in bitmap.extents:
            if self.reader.unrescued(lo, hi - lo):
                self.notes.append("exFAT allocation bitmap not rescued")
                return None
            data += self.reader.read(lo, hi - lo)
        out = bitmap_ranges(data, self.clusters, self.cluster, self.offset + self.heap)
        for e in self.structures():
            out += e.extents
        return merge(out)
