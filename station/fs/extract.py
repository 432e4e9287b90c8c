"""Copying files and directories out of an image, times kept, gaps reported.

A file with unrescued bytes is still written whole (zeros where nothing was rescued, as the
reader gives them) and reported incomplete with the missing ranges as offsets in the file, so
the technician can say "the first 4 MiB of the video are fine" rather than "the file is bad".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from station.fs.disk import Filesystem
from station.fs.entry import DIR, FILE, SYMLINK, Entry
from station.fs.ranges import Range, merge, total
from station.fs.tsk import FsError

CHUNK = 4 << 20


@dataclass
class Extracted:
    """One entry written out (or not, with the reason)."""

    path: str  # inside the filesystem
    dest: str  # where it was written
    kind: str
    size: int
    missing: list[Range] = field(default_factory=list)  # unrescued bytes, as offsets in the file
    error: str | None = None  # set when it could not be written (or read) at all

    @property
    def complete(self) -> bool:
        return not self.missing and self.error is None

    @property
    def missing_bytes(self) -> int:
        return total(self.missing)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "dest": self.dest,
            "kind": self.kind,
            "size": self.size,
            "complete": self.complete,
            "missing_bytes": self.missing_bytes,
            "missing": [[lo, hi - lo] for lo, hi in self.missing],
            "error": self.error,
        }


@dataclass
class ExtractReport:
    items: list[Extracted]
    notes: list[str] = field(default_factory=list)

    @property
    def incomplete(self) -> list[Extracted]:
        return [i for i in self.items if not i.complete]

    def to_dict(self) -> dict:
        return {
            "items": [i.to_dict() for i in self.items],
            "incomplete": len(self.incomplete),
            "notes": self.notes,
        }


def missing_in_file(fs: Filesystem, entry: Entry) -> list[Range]:
    """Offsets of the file's content that read as zeros because the rescue has not got them."""
    reader = fs.reader
    if entry.resident:
        lost = any(reader.unrescued(lo, hi - lo) for lo, hi in entry.record)
        return [(0, entry.size)] if lost and entry.size else []
    runs, exact = fs._walker.data_runs(entry.inode)
    out: list[Range] = []
    for foff, at, length in runs:
        for lo, hi in reader.unrescued(at, length):
            out.append((foff + lo - at, foff + hi - at))
    if not exact and out:
        return [(0, entry.size)]  # compressed or encrypted: any lost run spoils what follows
    out = [(lo, min(hi, entry.size)) for lo, hi in merge(out) if lo < entry.size]
    if any(reader.unrescued(lo, hi - lo) for lo, hi in entry.record):
        out = [(0, entry.size)] if entry.size else [(0, 0)]
    return out


def _times(path: Path, e: Entry) -> None:
    if e.mtime is None:
        return
    atime = e.atime if e.atime is not None else e.mtime
    os.utime(path, ns=(int(atime * 1e9), int(e.mtime * 1e9)), follow_symlinks=False)


def _write_file(fs: Filesystem, e: Entry, dest: Path) -> Extracted:
    item = Extracted(e.path, str(dest), e.kind, e.size)
    try:
        item.missing = missing_in_file(fs, e)
    except FsError as ex:
        item.error = str(ex)
    with open(dest, "wb") as out:
        pos = 0
        while pos < e.size:
            n = min(CHUNK, e.size - pos)
            try:
                data = fs.read(e, pos, n)
            except FsError as ex:
                item.error = item.error or str(ex)
                data = b""
            if len(data) < n:  # what TSK could not read stays zeros; say so
                item.missing = merge(item.missing + [(pos + len(data), pos + n)])
                data += bytes(n - len(data))
            out.write(data)
            pos += n
    _times(dest, e)
    return item


def extract(fs: Filesystem, paths: list[str], dest: str | os.PathLike) -> ExtractReport:
    """Copy entries (files, or directories with everything under them) into dest.

    Each path lands under dest by its base name (`/docs/a.txt` -> `dest/a.txt`; the directory
    `/docs` -> `dest/docs/...`).  Times are kept; deleted entries are skipped.
    """
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    report = ExtractReport([])
    for p in paths:
        try:
            top = fs.entry(p)
        except FsError as ex:
            report.items.append(Extracted(p, "", "", 0, error=str(ex)))
            continue
        base = top.path.rstrip("/").rsplit("/", 1)[0]
        entries = list(fs.walk(top.path)) if top.kind == DIR else [top]
        dirs: list[tuple[Path, Entry]] = []
        for e in entries:
            if e.deleted:
                continue
            rel = e.path[len(base) :].lstrip("/")
            target = root / rel if rel else root
            try:
                if e.kind == DIR:
                    target.mkdir(parents=True, exist_ok=True)
                    dirs.append((target, e))
                elif e.kind == SYMLINK:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.unlink(missing_ok=True)
                    os.symlink(fs.link_target(e), target)
                    _times(target, e)
                    report.items.append(Extracted(e.path, str(target), e.kind, e.size))
                elif e.kind == FILE:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    report.items.append(_write_file(fs, e, target))
            except (OSError, FsError) as ex:
                report.items.append(Extracted(e.path, str(target), e.kind, e.size, error=str(ex)))
        for target, e in reversed(dirs):  # after their contents, deepest first
            _times(target, e)
    report.notes = list(fs.notes)
    return report
