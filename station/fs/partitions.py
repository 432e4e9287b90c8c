"""Partition tables read from an image: MBR (primary, extended and logical) and GPT, or none.

Our own parser rather than TSK's volume system, for three reasons: partitions get the numbers
Linux gives them (sda5 is the first logical partition, GPT entry N is partition N), a damaged
primary GPT falls back on the backup with a note instead of failing, and the tables' own sectors
are returned as ranges, since they are the first thing to rescue.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field

from station.fs.ranges import Range
from station.images.reader import ImageReader

SECTOR = 512
_EXTENDED = {0x05, 0x0F, 0x85}
_MBR_TYPES = {
    0x01: "FAT12",
    0x04: "FAT16 <32M",
    0x06: "FAT16",
    0x07: "NTFS/exFAT/HPFS",
    0x0B: "FAT32",
    0x0C: "FAT32 (LBA)",
    0x0E: "FAT16 (LBA)",
    0x82: "Linux swap",
    0x83: "Linux",
    0x8E: "Linux LVM",
    0xA5: "FreeBSD",
    0xAF: "Apple HFS/HFS+",
    0xEE: "GPT protective",
    0xEF: "EFI system",
    0xFD: "Linux RAID",
}
_GPT_TYPES = {
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI system",
    "e3c9e316-0b5c-4db8-817d-f92df00215ae": "Microsoft reserved",
    "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Microsoft basic data",
    "de94bba4-06d1-4d40-a16a-bfd50179d6ac": "Windows recovery",
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
    "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f": "Linux swap",
    "e6d6d379-f507-44c2-a23c-238f2a3df928": "Linux LVM",
    "48465300-0000-11aa-aa11-00306543ecac": "Apple HFS/HFS+",
    "7c3457ef-0000-11aa-aa11-00306543ecac": "Apple APFS",
    "21686148-6449-6e6f-744e-656564454649": "BIOS boot",
}


@dataclass(frozen=True)
class Partition:
    """One partition (or the whole disk, number 0, when there is no table)."""

    number: int
    start: int  # bytes from the image's start
    size: int  # bytes
    type: str  # "0x83" for MBR, the type GUID for GPT, "" for the whole disk
    description: str = ""
    name: str = ""  # GPT partition name

    @property
    def end(self) -> int:
        return self.start + self.size

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "start": self.start,
            "size": self.size,
            "type": self.type,
            "description": self.description,
            "name": self.name,
        }


@dataclass
class PartitionTable:
    """What the image's first sectors say: the scheme, its partitions, where the tables live."""

    scheme: str  # "mbr", "gpt" or "none"
    partitions: list[Partition]
    ranges: list[Range] = field(default_factory=list)  # the table's own sectors
    notes: list[str] = field(default_factory=list)
    sector_size: int = SECTOR


def read_partitions(reader: ImageReader) -> PartitionTable:
    """The image's partition table; scheme "none" (one partition 0 over the whole image) if none.

    Never raises for damaged or unrescued tables: what could not be read becomes a note.
    """
    notes: list[str] = []
    if reader.unrescued(0, SECTOR):
        notes.append("sector 0 (MBR) is not rescued: partitions may be missing")
    mbr = reader.read(0, SECTOR)
    entries = _mbr_entries(mbr)
    if entries is not None and any(e[0] == 0xEE for e in entries):
        for ss in (SECTOR, 4096):
            table = _read_gpt(reader, ss, notes)
            if table is not None:
                table.ranges.insert(0, (0, SECTOR))
                return table
        notes.append("protective MBR but no valid GPT (primary and backup unreadable)")
        entries = [e for e in entries if e[0] != 0xEE]
    if entries:
        return _read_mbr(reader, entries, notes)
    whole = Partition(0, 0, reader.size, "", "whole disk")
    return PartitionTable("none", [whole], [], notes)


def _mbr_entries(sector: bytes) -> list[tuple[int, int, int, int]] | None:
    """(type, first LBA, sectors, slot) of the used primary slots, or None if this is no MBR.

    A volume boot sector (a partitionless FAT or NTFS disk) also ends in 55 AA; its boot code
    fails the checks Linux makes: boot flag 0x00 or 0x80, and a nonzero type with a nonzero
    start and size.
    """
    if len(sector) < SECTOR or sector[510:512] != b"\x55\xaa":
        return None
    if sector[3:11] in (b"NTFS    ", b"EXFAT   "):
        return None
    out = []
    for i in range(4):
        e = sector[446 + 16 * i : 462 + 16 * i]
        boot, ptype = e[0], e[4]
        lba, count = struct.unpack_from("<II", e, 8)
        if boot not in (0x00, 0x80):
            return None
        if ptype == 0:
            continue
        if lba == 0 or count == 0:
            return None
        out.append((ptype, lba, count, i + 1))
    return out


def _read_mbr(
    reader: ImageReader, entries: list[tuple[int, int, int, int]], notes: list[str]
) -> PartitionTable:
    parts: list[Partition] = []
    ranges: list[Range] = [(0, SECTOR)]
    logical = 5
    for ptype, lba, count, slot in entries:
        desc = _MBR_TYPES.get(ptype, "")
        if ptype in _EXTENDED:
            ranges_before = len(ranges)
            logical = _read_ebr_chain(reader, lba, parts, ranges, notes, logical)
            if len(ranges) == ranges_before:
                notes.append(f"extended partition {slot}: no logical partitions found")
            continue
        parts.append(Partition(slot, lba * SECTOR, count * SECTOR, f"0x{ptype:02x}", desc))
    for p in parts:
        if p.end > reader.size:
            notes.append(f"partition {p.number} ends past the image ({p.end} > {reader.size})")
    parts.sort(key=lambda p: p.number)
    return PartitionTable("mbr", parts, ranges, notes)


def _read_ebr_chain(
    reader: ImageReader,
    ext_lba: int,
    parts: list[Partition],
    ranges: list[Range],
    notes: list[str],
    number: int,
) -> int:
    """Follow the chain of extended boot records; logical partitions get numbers from 5."""
    seen: set[int] = set()
    ebr = ext_lba
    while ebr not in seen and len(seen) < 256:
        seen.add(ebr)
        pos = ebr * SECTOR
        if pos + SECTOR > reader.size:
            notes.append(f"extended boot record at sector {ebr} lies past the image")
            break
        ranges.append((pos, pos + SECTOR))
        if reader.unrescued(pos, SECTOR):
            notes.append(f"extended boot record at sector {ebr} is not rescued: later logicals unknown")
            break
        sector = reader.read(pos, SECTOR)
        if sector[510:512] != b"\x55\xaa":
            notes.append(f"extended boot record at sector {ebr} has no signature")
            break
        t1, s1, n1 = sector[446 + 4], *struct.unpack_from("<II", sector, 446 + 8)
        t2, s2 = sector[462 + 4], struct.unpack_from("<I", sector, 462 + 8)[0]
        if t1 and n1:
            desc = _MBR_TYPES.get(t1, "")
            parts.append(Partition(number, (ebr + s1) * SECTOR, n1 * SECTOR, f"0x{t1:02x}", desc))
            number += 1
        if t2 not in _EXTENDED or s2 == 0:
            break
        ebr = ext_lba + s2
    return number


def _read_gpt(reader: ImageReader, ss: int, notes: list[str]) -> PartitionTable | None:
    last_lba = reader.size // ss - 1
    for which, lba in (("primary", 1), ("backup", last_lba)):
        got = _gpt_at(reader, ss, lba)
        if isinstance(got, str):
            if got != "no signature":
                notes.append(f"{which} GPT header ({ss}-byte sectors): {got}")
            continue
        parts, ranges, other_lba = got
        if which == "backup":
            notes.append("using the backup GPT (the primary is damaged)")
        other = _gpt_at(reader, ss, other_lba) if 0 < other_lba <= last_lba else "outside the image"
        if not isinstance(other, str):
            ranges += other[1]
        elif which == "primary":
            notes.append(f"backup GPT header: {other}")
        return PartitionTable("gpt", parts, sorted(ranges), notes, ss)
    return None


@dataclass(frozen=True)
class GptHeader:
    """A GPT header that passed its checks, with its partition entries, as the image holds them."""

    lba: int  # where it is (1: the primary; the disk's last sector: the backup)
    sector_size: int
    raw: bytes  # the header's own bytes (its header size, CRC included)
    entries: bytes  # the partition entry array (count * entry size bytes)
    other_lba: int  # where it says the other header is
    entries_lba: int
    count: int
    entry_size: int


def gpt_header_at(reader: ImageReader, ss: int, lba: int) -> GptHeader | str:
    """The GPT header at lba with its entries, both CRC-checked, or why not (one word or line)."""
    pos = lba * ss
    if reader.unrescued(pos, ss):
        return "not rescued"
    hdr = reader.read(pos, ss)
    if hdr[:8] != b"EFI PART":
        return "no signature"
    hsize = struct.unpack_from("<I", hdr, 12)[0]
    if not 92 <= hsize <= ss:
        return "bad header size"
    crc = struct.unpack_from("<I", hdr, 16)[0]
    if zlib.crc32(hdr[:16] + b"\0\0\0\0" + hdr[20:hsize]) != crc:
        return "bad header checksum"
    other_lba = struct.unpack_from("<Q", hdr, 32)[0]
    entries_lba, count, esize, ecrc = struct.unpack_from("<QIII", hdr, 72)
    if esize < 128 or count > 65536:
        return "bad entry size or count"
    nbytes = count * esize
    epos = entries_lba * ss
    if reader.unrescued(epos, nbytes):
        return "partition entries not rescued"
    raw = reader.read(epos, nbytes)
    if zlib.crc32(raw) != ecrc:
        return "bad partition entries checksum"
    return GptHeader(lba, ss, hdr[:hsize], raw, other_lba, entries_lba, count, esize)


def _gpt_at(reader: ImageReader, ss: int, lba: int):
    """(partitions, ranges, the other header's LBA) from the GPT header at lba, or why not (str)."""
    h = gpt_header_at(reader, ss, lba)
    if isinstance(h, str):
        return h
    parts = []
    for i in range(h.count):
        e = h.entries[i * h.entry_size : (i + 1) * h.entry_size]
        tguid = uuid.UUID(bytes_le=e[:16])
        if tguid.int == 0:
            continue
        first, last = struct.unpack_from("<QQ", e, 32)
        name = e[56:128].decode("utf-16-le", errors="replace").split("\0", 1)[0]
        t = str(tguid)
        parts.append(Partition(i + 1, first * ss, (last - first + 1) * ss, t, _GPT_TYPES.get(t, ""), name))
    pos, epos = lba * ss, h.entries_lba * ss
    ranges = [(pos, pos + ss), (epos, epos + -(-len(h.entries) // ss) * ss)]
    return parts, ranges, h.other_lba
