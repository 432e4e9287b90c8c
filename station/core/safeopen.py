"""Opening files without following names someone else may control: every writer goes through here.

A check by name (`stat`) and an open by name are two moments; a symlink planted between them
(to the source being rescued, say) would be followed by a plain `open(O_CREAT)`.  So:

* a file that must be new is created with O_CREAT|O_EXCL|O_NOFOLLOW (`create_new`): a name that
  appeared meanwhile fails with EEXIST instead of being followed;
* a file replaced atomically (maps, session records) is written to a temporary file created that
  way inside its directory opened once (`write_atomic`); rename() never follows the name it
  replaces, and the directory is fsynced after it;
* what was opened is what the caller then checks (fstat), never the name it checked before
  (station.media.safety.check_opened compares an opened file with the source).

Reading untrusted paths (maps, test maps, domain maps) goes through `read_regular`: a fifo or a
device (/dev/zero) is refused before it can block or flood memory, and the size is bounded.

This is in the core, not the media layer, because the session store (station.core.session)
writes through it too.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
from pathlib import Path

_NEW = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_NAME_MAX = 255  # bytes in one file name on Linux filesystems

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a fifo",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
}


class NotRegular(ValueError):
    """A path that was to be read as a file is something else, or too large: one line says which."""


def kind_of(mode: int) -> str:
    """'a fifo', 'a character device', ... for a stat mode (what a refusal names)."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def create_new(
    path: str | os.PathLike, flags: int = os.O_WRONLY, mode: int = 0o644, *, dir_fd: int | None = None
) -> int:
    """Create `path`, which must not exist under any form (not even a dangling symlink): EEXIST if it does."""
    return os.open(path, flags | _NEW, mode, dir_fd=dir_fd)


def resolve(path: str | os.PathLike) -> str:
    """The real path (symlinks resolved) even while a name is being flipped under it.

    os.path.realpath raises FileNotFoundError when a symlink vanishes between its lstat and its
    readlink; the name is then looked at again, and after a few tries taken as it stands.
    """
    for _ in range(8):
        try:
            return os.path.realpath(path)
        except OSError:
            continue
    return os.path.abspath(path)


def temp_name(name: str, tag: str = "tmp", pid: int | None = None) -> str:
    """`.NAME.tmpPID`, the temporary name beside NAME; a hashed `.HASH.tmpPID` when that is too long.

    A name near the 255-byte limit (a long destination plus `.map`) has no room for the prefix
    and suffix, which would make the first save fail with ENAMETOOLONG.
    """
    pid = os.getpid() if pid is None else pid
    full = f".{name}.{tag}{pid}"
    if len(os.fsencode(full)) <= _NAME_MAX:
        return full
    return f".{_short(name)}.{tag}{pid}"


def _short(name: str) -> str:
    return "station-" + hashlib.sha256(os.fsencode(name)).hexdigest()[:24]


def pid_alive(pid: int) -> bool:
    """True while a process with this pid exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[str]:
    """Remove the temporary files left beside `path` by processes that are gone (kill -9, power loss).

    Only `.NAME.tmpPID` and `.NAME.bakPID` (or their hashed forms) of a dead PID; a symlink is
    removed as a name, never followed.  Returns the names removed.
    """
    p = Path(path)
    removed = []
    pattern = re.compile(rf"\.(?:{re.escape(p.name)}|{re.escape(_short(p.name))})\.(?:tmp|bak)(\d+)\Z")
    try:
        names = os.listdir(p.parent)
    except OSError:
        return removed
    for name in names:
        m = pattern.match(name)
        if m is None or int(m[1]) == os.getpid() or pid_alive(int(m[1])):
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(p.parent / name).st_mode):
                continue
            os.unlink(p.parent / name)
            removed.append(name)
    return removed


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_atomic(path: str | os.PathLike, data: bytes, *, mode: int = 0o644, backup: bool = False) -> None:
    """Replace `path` by `data` so that at every instant a complete file exists under its name.

    The data goes to a new temporary file (created exclusively, never through a symlink) in the
    same directory, is fsynced and renamed over `path`; with `backup` the previous file is first
    hard-linked to PATH.bak.  `path` itself is replaced, not followed: a caller that means to
    write through a symlink resolves it once, before the job (see station.jobs.lifecycle).
    Raises OSError (ENOSPC, EACCES...) with nothing left behind but the previous file.
    """
    p = Path(path)
    dfd = os.open(p.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        tmp = temp_name(p.name)
        fd = create_fresh(tmp, os.O_WRONLY, mode, dir_fd=dfd)
        try:
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if backup:
                _keep_backup(p.name, dfd)
            os.replace(tmp, p.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise
        os.fsync(dfd)
    finally:
        os.close(dfd)


def create_fresh(
    path: str | os.PathLike,
    flags: int = os.O_WRONLY,
    mode: int = 0o644,
    *,
    dir_fd: int | None = None,
    tries: int = 5,
) -> int:
    """Create a temporary file at `path` afresh: whatever holds the name already (ours from an
    earlier try, a planted symlink) is removed as a name, never followed or truncated; a name
    that keeps coming back fails with EEXIST."""
    for attempt in range(tries):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path, dir_fd=dir_fd)
        try:
            return create_new(path, flags, mode, dir_fd=dir_fd)
        except FileExistsError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def open_to_write(path: str | os.PathLike, flags: int = os.O_WRONLY, mode: int = 0o644) -> tuple[int, bool]:
    """(fd, created): a new file created exclusively, else the existing one as named (a symlink the
    user gave is followed).  The caller checks what it got (fstat) before its first write."""
    for _ in range(5):
        try:
            return create_new(path, flags, mode), True
        except FileExistsError:
            pass
        try:
            return os.open(path, flags | os.O_CLOEXEC), False
        except FileNotFoundError:  # gone again (a name being flipped): look again
            continue
    raise FileExistsError(errno.EEXIST, "the name keeps changing", str(path))


def _keep_backup(name: str, dfd: int) -> None:
    """Hard-link the current file (if any, and a regular file) to NAME.bak, atomically."""
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        return
    bak_tmp = temp_name(name, "bak")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(bak_tmp, dir_fd=dfd)
    try:
        os.link(name, bak_tmp, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
        os.replace(bak_tmp, name + ".bak", src_dir_fd=dfd, dst_dir_fd=dfd)
    except OSError:  # no hard links here (some FUSE, vfat), or no room: the map itself matters more
        with contextlib.suppress(OSError):
            os.unlink(bak_tmp, dir_fd=dfd)


def open_append(path: str | os.PathLike, mode: int = 0o600) -> int:
    """Open a log file to append, creating it if needed, never through a symlink (ELOOP)."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode)


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; NotRegular (one line) otherwise.

    Opened non-blocking, so a fifo is refused instead of waiting for a writer for ever; a device
    (/dev/zero) is refused instead of read until memory runs out.  OSError (ENOENT, EACCES...)
    is raised as is.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(f"is {kind_of(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise NotRegular(f"is {st.st_size} bytes, more than the {limit} expected here")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew while we read
                raise NotRegular(f"is more than the {limit} bytes expected here")
        return b"".join(chunks)
    finally:
        os.close(fd)


def make_private_dir(path: str | os.PathLike) -> Path:
    """Create a directory readable by its owner only (0700), and so every parent it has to create.

    An existing directory of ours is tightened to 0700 too: what it holds (serials, SMART data,
    hostnames) is nobody else's business.  Parents that exist already are left as they are.
    """
    p = Path(path)
    missing = []
    here = p
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)
    st = os.stat(p)
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(p, 0o700)
    return p
