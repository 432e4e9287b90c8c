"""Checks made before anything is written: the source is never a target, and nothing is lost by mistake.

Names are never compared as strings: a symlink, a /dev/disk/by-id name, a second device node
or a hard link all lead to the same dev_t or inode, and that is what is compared.

What counts as "the source":

* a block device source: the whole drive under it.  Its partitions, the disk that holds it,
  its sibling partitions and anything built on that drive (dm, md) are all refused as targets,
  and so is a file on a filesystem there: a failing drive is not written to at all.
* an image file source: that file (any name of it), and the raw devices its filesystem is on.
* a loop device source: the loop device, and its backing file as above.
* a loop device target: judged by its backing file, since that is where its writes land.

Every check raises Refused with one line and changes nothing.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from station.core.safeopen import resolve
from station.media import blockdev
from station.media.base import Refused, SourceIdentity
from station.media.source import probe_source

_MAX_LOOP_DEPTH = 8  # a loop over a file on a loop over a file ... (each level is a real device)


def _stack(rdev: int) -> set[int]:
    """Every device whose bytes a write to rdev can change: itself, what is below it, what is built on it."""
    seen: set[int] = set()
    todo = [rdev]
    while todo:  # downwards: the disk of a partition, the members of dm/md
        dev = todo.pop()
        if dev not in seen:
            seen.add(dev)
            todo.extend([blockdev.whole_disk(dev), *blockdev.slaves(dev)])
    todo = [rdev]
    up: set[int] = set()
    while todo:  # upwards: partitions, and what is built on it
        dev = todo.pop()
        if dev not in up:
            up.add(dev)
            todo.extend([*blockdev.partitions(dev), *blockdev.holders(dev)])
    return seen | up


@dataclass
class _Footprint:
    """What a write must not touch so that the source's bytes stay as they are."""

    path: str  # the source as the user named it, for messages
    rdevs: set[int] = field(default_factory=set)  # block device sources (normally one)
    drives: set[int] = field(default_factory=set)  # the whole disks under them
    files: dict[tuple[int, int], str] = field(default_factory=dict)  # (st_dev, st_ino) -> who it is
    file_devices: dict[int, str] = field(default_factory=dict)  # devices holding those files -> who

    def add_block(self, rdev: int) -> None:
        """A block device source: its drive, and the backing file if it is a loop device."""
        self.rdevs.add(rdev)
        self.drives |= blockdev.bottom_disks(rdev)
        backing = blockdev.loop_backing_file(rdev)
        if backing:
            try:
                self.add_file(os.stat(backing), "the backing file of the source loop device")
            except OSError:
                pass  # deleted while attached: no other name can reach it

    def add_file(self, st: os.stat_result, who: str) -> None:
        """A file whose bytes are the source's: its inode, and the devices its filesystem sits on."""
        self.files[(st.st_dev, st.st_ino)] = who
        for dev in blockdev.filesystem_devices(st.st_dev):
            self.file_devices.setdefault(dev, who)


def _footprint(source: SourceIdentity | str) -> _Footprint:
    """The footprint of a source given by path or by identity (a virtual source may have none)."""
    path = source.path if isinstance(source, SourceIdentity) else source
    fp = _Footprint(path)
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and stat.S_ISBLK(st.st_mode):
        fp.add_block(st.st_rdev)
    elif st is not None and stat.S_ISREG(st.st_mode):
        fp.add_file(st, "the source file")
    if isinstance(source, SourceIdentity) and source.kind == "block" and source.device:
        fp.add_block(blockdev.parse_dev(source.device))  # also when the name has gone or moved
    return fp


def _existing_ancestor(path: str) -> str:
    """The nearest existing directory that holds path: where a new file would be created."""
    here = os.path.dirname(resolve(path))
    while not os.path.isdir(here):
        here = os.path.dirname(here)
    return here


def _below(devs: set[int]) -> tuple[set[int], dict[tuple[int, int], int]]:
    """Where a write through these block devices lands: every device under them (the disk of a
    partition, the members of dm/md, and through a loop device its backing file's filesystem,
    down to the bottom), and the loop backing files met on the way ((st_dev, st_ino) -> loop)."""
    seen: set[int] = set()
    files: dict[tuple[int, int], int] = {}
    todo = list(devs)
    while todo and len(seen) < 64:
        dev = todo.pop()
        if dev in seen:
            continue
        seen.add(dev)
        todo.extend([blockdev.whole_disk(dev), *blockdev.slaves(dev)])
        backing = blockdev.loop_backing_file(dev)
        try:
            st = os.stat(backing) if backing else None
        except OSError:
            continue  # deleted while attached: no name reaches it
        if st is not None:
            files.setdefault((st.st_dev, st.st_ino), blockdev.whole_disk(dev))
            todo.extend(blockdev.filesystem_devices(st.st_dev))
    return seen, files


def _under_source(fp: _Footprint, devs: set[int]) -> tuple[str, str] | None:
    """(preposition, what) of the source these devices sit on ('on', 'the source drive'; 'in',
    'the source file (through /dev/loop0)'), or None."""
    below, files = _below(devs)
    if fp.drives & below:
        return "on", "the source drive"
    for key, loop in files.items():
        if key in fp.files:
            return "in", f"{fp.files[key]} (through {blockdev.dev_path(loop)})"
    return None


def _on_source(fp: _Footprint, st_dev: int) -> str | None:
    """Where the filesystem with this st_dev sits on the source ('on the source drive'), or None."""
    where = _under_source(fp, blockdev.filesystem_devices(st_dev))
    return " ".join(where) if where else None


def _block_reason(fp: _Footprint, rdev: int) -> str | None:
    """Why writing the block device rdev would change the source, or None."""
    for src in fp.rdevs:
        if rdev == src:
            return "is the source drive"
        if rdev in blockdev.partitions(src):
            return "is a partition of the source drive"
        if blockdev.whole_disk(src) == rdev:
            return "is the disk that holds the source partition"
    if fp.drives & blockdev.bottom_disks(rdev):
        return "is on the same drive as the source"
    stack = _stack(rdev)
    for dev, who in fp.file_devices.items():
        if dev in stack:
            return f"holds {who}"
    return None


def _reason(fp: _Footprint, target: str, depth: int = 0) -> str | None:
    """Why writing target (existing or not) would change the source, or None."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError:
        return None  # not reachable by this name: the write itself will fail
    if st is None or stat.S_ISDIR(st.st_mode):
        where = _on_source(fp, os.stat(_existing_ancestor(target) if st is None else target).st_dev)
        return f"would be written on a filesystem {where}" if where else None
    return _stat_reason(fp, st, depth)


def _stat_reason(fp: _Footprint, st: os.stat_result, depth: int = 0) -> str | None:
    """Why writing the file or device with this stat would change the source, or None."""
    if stat.S_ISBLK(st.st_mode):
        why = _block_reason(fp, st.st_rdev)
        backing = blockdev.loop_backing_file(st.st_rdev)
        if why is None and backing and depth < _MAX_LOOP_DEPTH:
            inner = _reason(fp, backing, depth + 1)
            if inner:
                why = f"is a loop device over {backing}, which {inner}"
        under = None if why else _under_source(fp, {st.st_rdev})
        return f"is built on {under[1]}" if under else why
    if stat.S_ISREG(st.st_mode):
        who = fp.files.get((st.st_dev, st.st_ino))
        if who:
            return f"is {who}"
        where = _on_source(fp, st.st_dev)
        if where:
            return f"lives on a filesystem {where}"
    return None


def check_not_source(source: SourceIdentity | str, target: str, *, role: str = "") -> None:
    """Refuse to write target if that could change a byte of the source (see the module docstring)."""
    fp = _footprint(source)
    why = _reason(fp, target)
    if why:
        who = f"{role} {target}" if role else target
        raise Refused(f"refusing: {who} {why} ({fp.path})")


def check_opened(source: SourceIdentity | str, fd: int, target: str, *, role: str = "") -> None:
    """Refuse (before its first write) a file or device opened for writing that reaches the source.

    The check by name (check_not_source) is made before the open; this one looks at what the
    open returned (fstat), so a name flipped in between (a symlink to the source) cannot slip
    through.
    """
    fp = _footprint(source)
    why = _stat_reason(fp, os.fstat(fd))
    if why:
        who = f"{role} {target}" if role else target
        raise Refused(f"refusing: {who} {why} ({fp.path})")


_NOT_A_TARGET = {
    stat.S_IFDIR: "is a directory",
    stat.S_IFCHR: "is a character device, not a drive or an image file",
    stat.S_IFIFO: "is a fifo, not a drive or an image file",
    stat.S_IFSOCK: "is a socket, not a drive or an image file",
}


def stat_writable(path: str, role: str = "dest") -> os.stat_result | None:
    """What is at an imaging dest's or a restore target's path (None: a file to create); Refused,
    naming the `role`, when nothing can be written there: not a drive or a regular file, or no
    directory to create it in."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        parent = os.path.dirname(resolve(path))
        if not os.path.isdir(parent):
            raise Refused(f"{role} {path}: no such directory {parent}") from None
        if not os.access(parent, os.W_OK):
            raise Refused(f"{role} {path}: cannot create it in {parent} (permission denied)") from None
        return None
    except OSError as err:
        raise Refused(f"{role} {path}: {(err.strerror or str(err)).lower()}") from None
    kind = _NOT_A_TARGET.get(stat.S_IFMT(st.st_mode))
    if kind:
        raise Refused(f"{role} {path}: {kind}")
    return st


def _check_mapfile(mapfile: str, dest: str, make_dir: bool) -> None:
    """The mapfile is a regular file (or will be) and not the dest under any name; with make_dir
    its folder may be missing (the job makes it: the images folder), if it can be made."""
    if resolve(mapfile) == resolve(dest):
        raise Refused(f"refusing: mapfile {mapfile} is the dest ({dest})")
    try:
        st = os.stat(mapfile)
    except FileNotFoundError:
        parent = os.path.dirname(resolve(mapfile))
        if make_dir and not os.path.isdir(parent):
            parent = _existing_ancestor(mapfile)
        if not os.path.isdir(parent):
            raise Refused(f"mapfile {mapfile}: no such directory {parent}") from None
        if not os.access(parent, os.W_OK):
            raise Refused(f"mapfile {mapfile}: cannot create it in {parent} (permission denied)") from None
        return
    except OSError as err:
        raise Refused(f"mapfile {mapfile}: {(err.strerror or str(err)).lower()}") from None
    if not stat.S_ISREG(st.st_mode):
        raise Refused(f"mapfile {mapfile}: is not a regular file")
    if os.path.exists(dest) and os.path.samefile(mapfile, dest):
        raise Refused(f"refusing: mapfile {mapfile} is the dest ({dest})")


NAME_MAX = 255  # bytes in one file name on Linux filesystems


def check_name_lengths(paths: list[str]) -> None:
    """Refuse, before anything is created, a job one of whose files could not be named (a name
    past 255 bytes: the run would fail at that file, perhaps only after hours of rescue)."""
    for path in paths:
        n = len(os.fsencode(os.path.basename(path)))
        if n > NAME_MAX:
            raise Refused(
                f"{path}: file name too long ({n} bytes, at most {NAME_MAX}): choose a shorter name"
            )


def check_map_location(mapfile: str) -> None:
    """Refuse a mapfile on a RAM or kernel filesystem (/dev, /dev/shm, /proc): the only record of
    what was rescued would be lost at reboot."""
    what = blockdev.volatile_filesystem(mapfile)
    if what:
        raise Refused(
            f"refusing: mapfile {mapfile} would be on {what}, where it is lost at reboot"
            " (keep maps on a disk)"
        )


def check_writable_drive(dest: str, rdev: int) -> None:
    """Refuse a write-protected target drive (a read-only loop device, a write blocker) up front."""
    if blockdev.read_only(rdev):
        raise Refused(f"refusing: {dest} is read-only (write-protected): nothing can be written to it")


def check_job(source: str, dest: str, mapfile: str, *, force: bool, make_map_dir: bool = False) -> None:
    """Refuse (one line, nothing created or changed) a job that could harm the source or lose data.

    force only allows overwriting an existing dest that has no mapfile to resume from; nothing
    lets a job write to the source.  make_map_dir: the mapfile's folder will be made by the job.
    """
    identity = probe_source(source)
    dest_st = stat_writable(dest)
    check_not_source(identity, dest)
    check_not_source(identity, mapfile, role="mapfile")
    _check_mapfile(mapfile, dest, make_map_dir)
    check_map_location(mapfile)
    is_block = dest_st is not None and stat.S_ISBLK(dest_st.st_mode)
    if is_block:
        check_writable_drive(dest, dest_st.st_rdev)
        busy = blockdev.in_use(dest_st.st_rdev)
        if busy:
            raise Refused(f"refusing: {dest} is in use ({'; '.join(busy)})")
        room = blockdev.size_bytes(dest_st.st_rdev)
        if room is not None and room < identity.size:
            raise Refused(f"refusing: {dest} holds {room} bytes, less than the source's {identity.size}")
    if dest_st is not None and stat.S_ISREG(dest_st.st_mode):
        loops = blockdev.loops_backed_by(dest_st)
        if loops:
            raise Refused(f"refusing: {dest} is in use as the backing file of {blockdev.dev_path(loops[0])}")
    has_data = is_block or (dest_st is not None and dest_st.st_size > 0)
    if has_data and not force and not os.path.exists(mapfile):
        raise Refused(
            f"refusing: {dest} already exists and there is no mapfile {mapfile} to resume from"
            " (--force overwrites it)"
        )
