"""Domains from filesystems: byte ranges to rescue, written as GNU ddrescue domain mapfiles.

Three domains (`station domain --metadata | --used | --files GLOB`), and `resolve()`, the
building block of `--files-first`: given a reader over a partly rescued image, it says what it
can resolve now (metadata to rescue next, the chosen files' extents, the used blocks) and, in
one line each, what it cannot.  A rescue calls it again after each round of metadata: every
round makes another level of directories readable.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field

from station.fs.disk import Disk, open_disk
from station.fs.entry import DIR, METADATA, Entry
from station.fs.ranges import Range, clip, merge
from station.images.reader import ImageReader
from station.rescue.mapfile import write_mapfile
from station.rescue.rescuemap import RescueMap, Status

MiB = 1 << 20
BOOT_SPAN = MiB  # read first: the partition table and every partition's boot sector/superblock
_QUALIFIED = re.compile(r"/p(\d+)(/.*)?\Z")  # a glob naming its partition: /p1/docs/*


def _metadata_of(e: Entry) -> list[Range]:
    """What of an entry belongs in the metadata domain: a directory's or structure's bytes."""
    if e.kind in (DIR, METADATA):
        return e.extents + e.record
    return []


def bootstrap_ranges(disk: Disk) -> list[Range]:
    """Ranges worth reading before anything is known: the start and end of the disk and of each partition.

    1 MiB at the start of the disk holds the MBR or GPT (and usually nothing else); its last
    MiB the backup GPT; each partition's first MiB its boot sector, superblock or volume header
    (and ext's group descriptors), its last sector the NTFS backup boot sector or the HFS+
    alternate volume header.
    """
    size = disk.reader.size
    out = [(0, min(BOOT_SPAN, size)), (max(0, size - BOOT_SPAN), size)]
    for p in disk.table.partitions:
        if p.number:
            out += [(p.start, min(p.end, p.start + BOOT_SPAN)), (max(p.start, p.end - 4096), p.end)]
    return merge(clip(out, 0, size))


def metadata_domain(disk: Disk) -> list[Range]:
    """Partition tables, filesystem structures, system files and every directory."""
    out = list(disk.table.ranges)
    for fs in disk.filesystems:
        for e in fs.structures():
            out += e.extents + e.record
        for e in fs.walk():
            if not e.deleted:
                out += _metadata_of(e)
    return merge(clip(out, 0, disk.reader.size))


def used_domain(disk: Disk, notes: list[str] | None = None) -> list[Range]:
    """Every allocated byte (as partclone images used blocks), plus the partition tables.

    From each filesystem's own allocation map; where that cannot be read, the union of every
    entry's extents and structures.  A partition with no filesystem we know is taken whole.
    """
    notes = notes if notes is not None else []
    out = list(disk.table.ranges)
    seen = set()
    for fs in disk.filesystems:
        seen.add(fs.partition.number)
        used = fs.used()
        if used is None:
            notes.append(
                f"partition {fs.partition.number}: allocation map unreadable, used = files + metadata"
            )
            used = [r for e in fs.structures() for r in e.extents]
            for e in fs.walk():
                if not e.deleted:
                    used += e.extents + e.record
        out += used
    for p in disk.table.partitions:
        if p.number not in seen:
            notes.append(f"partition {p.number}: no filesystem known, taken whole")
            out.append((p.start, p.end))
    return merge(clip(out, 0, disk.reader.size))


def matches(path: str, patterns: list[str]) -> bool:
    """Whether an absolute path matches a glob; a pattern without "/" matches the name alone."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path if "/" in p else name, p) for p in patterns)


def for_partition(patterns: list[str], number: int) -> list[str]:
    """The globs that apply inside partition `number`.

    A glob may name its partition as the CLI's paths do, `/p1/docs/*`: it applies there only,
    without its `/p1`.  Other globs apply in every partition.  On a disk without partitions
    (number 0) every glob applies as written.
    """
    if number == 0:
        return list(patterns)
    out = []
    for p in patterns:
        m = _QUALIFIED.match(p)
        if m is None:
            out.append(p)
        elif int(m[1]) == number:
            out.append(m[2] or "/")
    return out


def files_domain(disk: Disk, patterns: list[str], *, under: bool = True) -> list[Range]:
    """The extents and records of live files matching the globs (and, with under, files in
    directories that match)."""
    out: list[Range] = []
    for fs in disk.filesystems:
        pats = for_partition(patterns, fs.partition.number)
        if not pats:
            continue
        for e in _matching(fs.walk(), pats, under):
            out += e.extents + e.record
    return merge(clip(out, 0, disk.reader.size))


def _matching(entries, patterns: list[str], under: bool):
    chosen_dirs: list[str] = []
    for e in entries:
        if e.deleted:
            continue
        inside = under and any(e.path.startswith(d + "/") for d in chosen_dirs)
        if inside or matches(e.path, patterns):
            if e.kind == DIR:
                chosen_dirs.append(e.path.rstrip("/"))
            yield e


def write_domain(path: str | os.PathLike, ranges: list[Range], size: int) -> None:
    """A GNU ddrescue domain mapfile: finished (+) inside the ranges, non-tried (?) elsewhere.

    `ddrescue -m FILE` and `station image --domain FILE` read only where it says +.
    """
    m = RescueMap(size, Status.NON_TRIED)
    for lo, hi in merge(clip(ranges, 0, size)):
        m.set_status(lo, hi - lo, Status.FINISHED)
    write_mapfile(path, m)


@dataclass
class Resolution:
    """What a partly rescued image lets us resolve now, and what it does not."""

    metadata: list[Range]  # rescue these first (some may already be rescued)
    files: list[Range]  # the chosen files' extents and records, as far as known
    used: list[Range]  # allocated bytes, as far as known
    notes: list[str] = field(default_factory=list)
    pending_metadata: list[Range] = field(default_factory=list)  # metadata not yet rescued

    @property
    def settled(self) -> bool:
        """True when every piece of metadata found is rescued: another round would find no more."""
        return not self.pending_metadata


def resolve(
    reader: ImageReader,
    patterns: list[str] | None = None,
    *,
    disk: Disk | None = None,
    used: bool = True,
) -> Resolution:
    """What a files-first rescue should read next, from what has been rescued so far.

    Never raises for damaged or missing metadata; each thing not resolved is one note.  `disk`:
    the image already opened with open_disk (opened here otherwise); `used=False` leaves the
    used blocks out (and their notes).
    """
    notes: list[str] = []
    try:
        disk = disk if disk is not None else open_disk(reader)
    except Exception as e:  # a bug or a TSK failure we did not foresee: say it, go on
        return Resolution([(0, min(BOOT_SPAN, reader.size))], [], [], [f"image unreadable: {e}"])
    metadata = bootstrap_ranges(disk) + list(disk.table.ranges)
    files: list[Range] = []
    for fs in disk.filesystems:
        try:
            for e in fs.structures():
                metadata += e.extents + e.record
            chosen: list[str] = []
            pats = for_partition(patterns or [], fs.partition.number)
            for e in fs.walk():
                if e.deleted:
                    continue
                metadata += _metadata_of(e)
                if e.kind == DIR and any(reader.unrescued(lo, hi - lo) for lo, hi in e.extents):
                    where = f"partition {fs.partition.number}: {e.path}"
                    notes.append(f"{where}: directory not (yet) rescued, what it holds is unknown")
                if pats:
                    inside = any(e.path.startswith(d + "/") for d in chosen)
                    if inside or matches(e.path, pats):
                        if e.kind == DIR:
                            chosen.append(e.path.rstrip("/"))
                        files += e.extents + e.record
        except Exception as e:
            notes.append(f"partition {fs.partition.number}: walk stopped: {e}")
    used_ranges: list[Range] = []
    try:
        used_ranges = used_domain(disk, notes) if used else []
    except Exception as e:
        notes.append(f"used blocks unknown: {e}")
    notes = disk.all_notes() + notes
    metadata = merge(clip(metadata, 0, reader.size))
    pending = [r for lo, hi in metadata for r in reader.unrescued(lo, hi - lo)]
    files = merge(clip(files, 0, reader.size))
    return Resolution(metadata, files, used_ranges, notes, pending)
