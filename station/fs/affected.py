"""Which files, directories and filesystem structures have bytes the rescue has not got.

`affected(reader)` walks each filesystem's directory tree (through its metadata, never its data)
and sets every entry's extents and record against the map's unrescued areas with `Areas`
(bisection over the sorted areas), so a million-fragment map costs no more per file than a
ten-fragment one.  An entry is listed if and only if one of its allocated bytes (or a byte of its
record) lies in a bad, non-tried, non-trimmed or non-scraped area.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from station.fs.disk import Disk, open_disk
from station.fs.entry import Entry
from station.fs.ranges import Areas, Range, total, unrescued_areas
from station.images.reader import ImageReader
from station.rescue.rescuemap import RescueMap


@dataclass
class Hit:
    """An entry with unrescued bytes: where they are and how many."""

    entry: Entry
    ranges: list[Range]  # unrescued parts of its extents
    record: list[Range] = field(default_factory=list)  # unrescued parts of its record

    @property
    def affected_bytes(self) -> int:
        return total(self.ranges)

    def to_dict(self) -> dict:
        e = self.entry
        return {
            "path": e.path,
            "partition": e.partition,
            "kind": e.kind,
            "size": e.size,
            "allocated_bytes": e.allocated_bytes,
            "affected_bytes": self.affected_bytes,
            "ranges": [[lo, hi - lo] for lo, hi in self.ranges],
            "record_affected": bool(self.record),
            "record_ranges": [[lo, hi - lo] for lo, hi in self.record],
            "inode": e.inode,
            "deleted": e.deleted,
            "mtime": e.mtime,
        }


@dataclass
class Report:
    """The answer to "which of my files are hit": live entries, deleted ones apart, and notes."""

    files: list[Hit]
    deleted: list[Hit]
    partitions: list[dict]
    notes: list[str]
    unrescued_bytes: int
    entries_checked: int

    def to_dict(self) -> dict:
        return {
            "files": [h.to_dict() for h in self.files],
            "deleted": [h.to_dict() for h in self.deleted],
            "partitions": self.partitions,
            "notes": self.notes,
            "unrescued_bytes": self.unrescued_bytes,
            "affected_bytes": sum(h.affected_bytes for h in self.files),
            "entries_checked": self.entries_checked,
        }

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)


def hit(entry: Entry, areas: Areas) -> Hit | None:
    """The entry's unrescued parts, or None when it has none."""
    ranges: list[Range] = []
    for lo, hi in entry.extents:
        if areas.hits(lo, hi):
            ranges += areas.within(lo, hi)
    record: list[Range] = []
    for lo, hi in entry.record:
        if areas.hits(lo, hi):
            record += areas.within(lo, hi)
    if ranges or record:
        return Hit(entry, ranges, record)
    return None


def all_entries(disk: Disk) -> Iterator[Entry]:
    """Every entry of the image: partition tables, then per filesystem its structures and tree."""
    yield from disk.table_entries()
    for fs in disk.filesystems:
        yield from fs.structures()
        yield from fs.walk()


def affected(reader: ImageReader, rescue_map: RescueMap | None = None, *, disk: Disk | None = None) -> Report:
    """Every entry with bytes in unrescued areas of `rescue_map` (default: the reader's map).

    Deleted entries the filesystems still list are checked too and reported apart (their extents
    are what the filesystem remembers, possibly reused since).  Never raises for damaged
    metadata: what could not be walked is in `notes`.
    """
    m = rescue_map if rescue_map is not None else reader.rescue_map
    areas = unrescued_areas(m)
    disk = disk if disk is not None else open_disk(reader)
    files: list[Hit] = []
    deleted: list[Hit] = []
    checked = 0
    if areas:
        for e in all_entries(disk):
            checked += 1
            h = hit(e, areas)
            if h is not None:
                (deleted if e.deleted else files).append(h)
    else:
        checked = sum(1 for _ in all_entries(disk))
    parts = []
    fs_of = {fs.partition.number: fs.type for fs in disk.filesystems}
    for p in disk.table.partitions:
        d = p.to_dict()
        d["filesystem"] = fs_of.get(p.number)
        d["unrescued_bytes"] = total(areas.within(p.start, p.end))
        parts.append(d)
    notes = disk.all_notes()
    return Report(files, deleted, parts, notes, areas.bytes, checked)
