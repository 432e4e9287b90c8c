"""Fitting a disk image to a target of another size: what must change so that the restored disk is valid.

* **GPT.**  A GPT records the disk's size: its backup header sits on the last sector, its backup
  table just before it, and the primary header names both and the last usable sector.  On a
  target of another size the backup is moved to the target's end, as `sgdisk -e` does: the
  primary header gets the new backup LBA and last usable LBA, the backup header and table are
  written at the end, both header CRCs are recomputed (the entries, and so their CRC, do not
  change).  The image's old backup header, left inside the restored disk, is zeroed so that no
  tool mistakes it for the disk's.  A protective MBR whose one 0xEE partition covered the image
  is resized to cover the target.  When the primary header is damaged and the backup good, the
  primary is rebuilt from the backup.
* **MBR.**  Partitions are absolute sector numbers and nothing records the disk's size: the table
  is copied as it is; a larger target's extra space is left unpartitioned.
* **Smaller targets.**  The target must hold every partition (and, for a GPT, the backup table and
  header after the last one); the unpartitioned tail of the image is then not written.  An image
  without a partition table (a bare filesystem, or unknown content) must fit whole.
* **Logical sector size.**  Partition tables count in logical sectors: an image of a 512-byte-sector
  disk on a 4Kn target (or the reverse) would put every partition at the wrong place.  A target
  whose logical sector size differs is refused when the image has a partition table; converting
  the tables (and filesystems whose blocks are smaller than the new sector) is not done.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from station.fs.partitions import GptHeader, PartitionTable, gpt_header_at, read_partitions
from station.images.reader import ImageReader

MBR_SIZE = 512


@dataclass(frozen=True)
class Patch:
    """Bytes written over the restored stream at pos, after it; `what` says why, in words."""

    pos: int
    data: bytes
    what: str

    @property
    def end(self) -> int:
        return self.pos + len(self.data)


@dataclass
class DiskLayout:
    """What a target needs to receive this image: its table, sector size and the room it needs."""

    scheme: str  # "gpt", "mbr" or "none"
    sector_size: int  # the logical sector size the table counts in (512 without a table)
    needed: int  # bytes a target must hold
    size: int  # the image's size
    gpt: GptHeader | None = None  # the good header (primary, else backup)
    mbr: bytes = b""  # sector 0 as the image holds it
    notes: list[str] = field(default_factory=list)


def read_layout(reader: ImageReader, table: PartitionTable | None = None) -> DiskLayout:
    """The image's layout (its table as station.fs.partitions reads it, and the room it needs)."""
    table = table or read_partitions(reader)
    mbr = reader.read(0, MBR_SIZE)
    if table.scheme == "gpt":
        ss = table.sector_size
        gpt = _good_header(reader, ss)
        if gpt is not None:
            table_sectors = -(-gpt.count * gpt.entry_size // ss)
            first_usable = struct.unpack_from("<Q", gpt.raw, 40)[0]
            last_used = max([first_usable - 1] + [(p.end // ss) - 1 for p in table.partitions])
            needed = (last_used + 1 + table_sectors + 1) * ss
            return DiskLayout("gpt", ss, needed, reader.size, gpt, mbr, list(table.notes))
    if table.scheme == "mbr":
        needed = max([MBR_SIZE] + [p.end for p in table.partitions] + [hi for _, hi in table.ranges])
        return DiskLayout("mbr", MBR_SIZE, needed, reader.size, None, mbr, list(table.notes))
    return DiskLayout("none", MBR_SIZE, reader.size, reader.size, None, mbr, list(table.notes))


def _good_header(reader: ImageReader, ss: int) -> GptHeader | None:
    for lba in (1, reader.size // ss - 1):
        h = gpt_header_at(reader, ss, lba)
        if not isinstance(h, str):
            return h
    return None


def refusal(layout: DiskLayout, target: str, size: int, sector_size: int) -> str | None:
    """Why this image cannot go onto a target of `size` bytes and `sector_size` sectors, or None."""
    if layout.scheme != "none" and sector_size != layout.sector_size:
        return (
            f"refusing: {target} has {sector_size}-byte logical sectors, the image's "
            f"{layout.scheme.upper()} counts in {layout.sector_size}-byte sectors"
        )
    if size < layout.needed:
        what = {"gpt": "its partitions and a backup GPT", "mbr": "its last partition"}.get(
            layout.scheme, "the whole image (it has no partition table)"
        )
        return f"refusing: {target} holds {size} bytes, the image needs {layout.needed} ({what})"
    return None


def fit(layout: DiskLayout, size: int) -> tuple[list[Patch], list[str]]:
    """The patches that make the image valid on a drive of `size` bytes, and what they do in words.

    `refusal()` must have passed.  The same image and size always give the same patches, so a
    later `station verify` knows what the target should hold.
    """
    if size == layout.size:
        return [], []
    if layout.scheme == "mbr":
        return [], ["MBR copied as it is (it does not record the disk's size)"]
    if layout.scheme != "gpt" or layout.gpt is None:
        return [], []
    return _move_gpt(layout, layout.gpt, size)


def _header(raw: bytes, my_lba: int, other_lba: int, last_usable: int, entries_lba: int) -> bytes:
    """A GPT header with these LBAs and its CRC recomputed."""
    h = bytearray(raw)
    struct.pack_into("<QQ", h, 24, my_lba, other_lba)
    struct.pack_into("<Q", h, 48, last_usable)
    struct.pack_into("<Q", h, 72, entries_lba)
    struct.pack_into("<I", h, 16, 0)
    struct.pack_into("<I", h, 16, zlib.crc32(h))
    return bytes(h)


def _move_gpt(layout: DiskLayout, g: GptHeader, size: int) -> tuple[list[Patch], list[str]]:
    ss = g.sector_size
    last = size // ss - 1
    table_sectors = -(-len(g.entries) // ss)
    entries = g.entries + bytes(table_sectors * ss - len(g.entries))
    backup_entries = last - table_sectors
    last_usable = backup_entries - 1
    primary_entries = g.entries_lba if g.lba == 1 else 2
    pad = bytes(ss - len(g.raw))
    patches = [
        Patch(ss, _header(g.raw, 1, last, last_usable, primary_entries) + pad, "primary GPT header"),
        Patch(backup_entries * ss, entries, "backup GPT table"),
        Patch(last * ss, _header(g.raw, last, 1, last_usable, backup_entries) + pad, "backup GPT header"),
    ]
    words = [f"GPT: backup header and table moved to the end (LBA {last}), CRCs recomputed"]
    if g.lba != 1:
        patches.insert(1, Patch(primary_entries * ss, entries, "primary GPT table"))
        words.append("GPT: primary header and table rebuilt from the backup (the primary was damaged)")
    old = layout.size // ss - 1
    if (old + 1) * ss <= size and old != last:
        patches.append(Patch(old * ss, bytes(ss), "the image's old backup GPT header, zeroed"))
    mbr = _protective_mbr(layout.mbr, last)
    if mbr is not None:
        patches.insert(0, Patch(0, mbr, "protective MBR"))
        words.append("protective MBR resized to the target")
    return sorted(patches, key=lambda p: p.pos), words


def _protective_mbr(mbr: bytes, last: int) -> bytes | None:
    """Sector 0 with its 0xEE partition covering LBA 1..last, when it is the only partition there."""
    if len(mbr) < MBR_SIZE or mbr[510:512] != b"\x55\xaa":
        return None
    slots = [mbr[446 + 16 * i : 462 + 16 * i] for i in range(4)]
    used = [i for i, e in enumerate(slots) if e[4] != 0]
    if len(used) != 1 or slots[used[0]][4] != 0xEE:
        return None
    out = bytearray(mbr[:MBR_SIZE])
    struct.pack_into("<I", out, 446 + 16 * used[0] + 12, min(last, 0xFFFFFFFF))
    return bytes(out)


def stale_gpt(last_sector: bytes, pos: int) -> Patch | None:
    """A zeroing patch for a GPT header left on a target's last sector by an earlier disk, if any:
    restoring an image without a GPT there must not leave one that tools would find."""
    if last_sector[:8] == b"EFI PART":
        return Patch(pos, bytes(len(last_sector)), "an earlier disk's backup GPT header, zeroed")
    return None
