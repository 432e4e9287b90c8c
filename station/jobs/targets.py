"""The targets of a restore or a clone, checked one by one before the first byte is written.

Each target must be a block device or an image file (new, or existing with --force); it must not
be the source under any name (station.media.safety), nor mounted, swap or held, nor the disk the
system runs from, nor read-only; no target may be named twice, also under two names of the same
drive (/dev/sdb and its /dev/disk/by-id link are one dev_t).  A drive holds data, so it needs
--force as an existing file does (the workstation's typed confirmation is its --force).  Every
check raises Refused with one line and changes nothing.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from station.core.identity import SourceIdentity
from station.jobs.drives import system_disks
from station.media import blockdev
from station.media.base import Refused
from station.media.safety import check_not_source, stat_writable


@dataclass(frozen=True)
class TargetInfo:
    """A target as checked: what it is, its size and sector size, and who it is."""

    path: str  # as the user named it
    kind: str  # "block" or "file"
    exists: bool
    size: int  # bytes a drive holds; an existing file's size; 0 for a new file
    sector_size: int  # a drive's logical sector size (512 for files)
    model: str | None = None
    serial: str | None = None

    @property
    def label(self) -> str:
        """The drive as a person knows it: model and serial, or the path."""
        bits = [b for b in (self.model, self.serial) if b]
        return " ".join(bits) if bits else self.path


def _key(path: str, st: os.stat_result | None) -> tuple:
    """What makes two names one target: a drive's dev_t, a file's inode, else its real path."""
    if st is None:
        return ("path", os.path.realpath(path))
    if stat.S_ISBLK(st.st_mode):
        return ("blk", st.st_rdev)
    return ("ino", st.st_dev, st.st_ino)


def check_targets(paths: list[str], sources: list[SourceIdentity | str], *, force: bool) -> list[TargetInfo]:
    """Every target checked (see the module's docstring); Refused names the first that fails."""
    if not paths:
        raise Refused("no target given")
    seen: dict[tuple, str] = {}
    system: set[int] | None = None
    out = []
    for path in paths:
        st = stat_writable(path, "target")
        key = _key(path, st)
        if key in seen:
            if seen[key] == path:
                raise Refused(f"refusing: {path} is named twice as a target")
            raise Refused(f"refusing: {seen[key]} and {path} are the same target, named twice")
        seen[key] = path
        for src in sources:
            check_not_source(src, path, role="target")
        if st is not None and stat.S_ISBLK(st.st_mode):
            if system is None:
                system = system_disks()
            out.append(_check_drive(path, st.st_rdev, system, force))
        else:
            out.append(_check_file(path, st, force))
    return out


def _check_drive(path: str, rdev: int, system: set[int], force: bool) -> TargetInfo:
    if blockdev.bottom_disks(rdev) & system:
        raise Refused(f"refusing: {path} is on the disk the running system is on")
    busy = blockdev.in_use(rdev)
    if busy:
        raise Refused(f"refusing: {path} is in use ({'; '.join(busy)})")
    if blockdev.read_only(rdev):
        raise Refused(f"refusing: {path} is read-only")
    if not force:
        raise Refused(f"refusing: {path} is a drive; everything on it will be overwritten (--force)")
    return _drive_info(path, rdev)


def _drive_info(path: str, rdev: int) -> TargetInfo:
    ident = blockdev.read_identity(rdev)
    return TargetInfo(
        path, "block", True, blockdev.size_bytes(rdev) or 0, blockdev.logical_block_size(rdev) or 512,
        ident.get("model"), ident.get("serial"),
    )  # fmt: skip


def target_info(path: str) -> TargetInfo:
    """What an existing target is, for reading it back (none of the checks for writing)."""
    st = stat_writable(path, "target")
    if st is None:
        raise Refused(f"target {path}: no such file or directory")
    if stat.S_ISBLK(st.st_mode):
        return _drive_info(path, st.st_rdev)
    return TargetInfo(path, "file", True, st.st_size, 512)


def _check_file(path: str, st: os.stat_result | None, force: bool) -> TargetInfo:
    where = path if st is not None else os.path.dirname(os.path.realpath(path))
    try:
        if os.statvfs(where).f_flag & os.ST_RDONLY:
            raise Refused(f"refusing: {path} is on a read-only filesystem")
    except OSError as e:
        raise Refused(f"target {path}: {(e.strerror or str(e)).lower()}") from None
    if not os.access(where, os.W_OK):
        raise Refused(f"target {path}: permission denied")
    if st is None:
        return TargetInfo(path, "file", False, 0, 512)
    loops = blockdev.loops_backed_by(st)
    if loops:
        raise Refused(f"refusing: {path} is in use as the backing file of {blockdev.dev_path(loops[0])}")
    if st.st_size > 0 and not force:
        raise Refused(f"refusing: {path} exists; it would be overwritten (--force)")
    return TargetInfo(path, "file", True, st.st_size, 512)
