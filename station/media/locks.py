"""One writer: an image, a map and a target drive belong to one running job at a time.

A job takes a `WriterLock` on everything it will write before it writes anything (when it is
prepared), and holds it for its whole run.  The locks are `flock(2)` locks, so the kernel
drops them when the process dies, kill -9 included: nothing is ever stale.  A path is locked
under every name that can reach the same thing:

* its real path, on a small file in a machine-wide directory (the file may not exist yet; every
  Station process on the machine sees it, whatever its user or XDG_DATA_HOME);
* once it exists, the file or block device itself (hard links, bind mounts, /dev/sdb and its
  /dev/disk/by-id/... link): locked through a read-only descriptor of its own, which also keeps
  its inode alive, so a number the kernel gives again to another file never looks held.

A lock file in the directory says who holds it (session, pid, command) and for which path, so
that a second job is refused naming the first; a file or device locked itself has such a note
too, keyed by its inode or device number.  Lock files are left in place when released: removing
them would race with a job taking the same lock, and an unlocked file means nothing.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field

from station.core.safeopen import resolve
from station.media.base import Refused

LOCK_DIRS = ("/run/lock/station", os.path.join(tempfile.gettempdir(), "station-locks"))


class Locked(Refused):
    """Something this job would write is held by another running job (exit status 2)."""


def lock_dir() -> str:
    """The first usable machine-wide lock directory (created world-writable and sticky, as /tmp)."""
    for d in LOCK_DIRS:
        try:
            os.makedirs(d, exist_ok=True)
            if os.stat(d).st_uid == os.getuid():
                os.chmod(d, 0o1777)
            if os.access(d, os.W_OK | os.X_OK):
                return d
        except OSError:
            continue
    raise Refused(f"no directory for writer locks ({', '.join(LOCK_DIRS)}): cannot guarantee one writer")


def lock_keys(path: str) -> list[tuple[str, str]]:
    """(key, what it names): the real path's lock file, and once the path exists the note of the
    file or device itself (`obj-...`: locked on the object, see `_lock_object`)."""
    real = resolve(path)
    keys = [("path-" + hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:32], real)]
    try:
        st = os.stat(real)
    except OSError:
        return keys
    if stat.S_ISBLK(st.st_mode):
        keys.append((f"obj-blk-{os.major(st.st_rdev)}-{os.minor(st.st_rdev)}", real))
    elif stat.S_ISREG(st.st_mode):
        keys.append((f"obj-ino-{st.st_dev}-{st.st_ino}", real))
    return keys


@dataclass
class WriterLock:
    """The locks one job holds; released with `release()` (or when the process ends)."""

    holder: str
    fds: dict[str, int] = field(default_factory=dict)  # key -> open lock file
    names: dict[str, str] = field(default_factory=dict)  # key -> the real path it was taken for

    def add(self, paths: Iterable[str]) -> None:
        """Lock more names: e.g. a destination's inode once the job has created it."""
        d = lock_dir()
        for path in paths:
            for key, name in lock_keys(path):
                if key in self.fds:
                    continue
                note = os.path.join(d, key + ".lock")
                if key.startswith("obj-"):
                    fd = _lock_object(name)
                    if fd is None:
                        raise Locked(f"refusing: {name} is being written by {_holder_of(note)}")
                    if fd < 0:
                        continue  # gone or changed since lock_keys looked: its path lock stands
                    _describe(note, self.holder, name)
                else:
                    fd = _open_lock_file(note, name)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError as e:
                        os.close(fd)
                        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                            raise Refused(f"cannot take the writer lock for {name}: {e.strerror}") from None
                        raise Locked(f"refusing: {name} is being written by {_holder_of(note)}") from None
                    _write_holder(fd, self.holder, name)
                self.fds[key], self.names[key] = fd, name

    def describe(self, holder: str) -> None:
        """Say who holds the locks now (a session id, once the job has one)."""
        self.holder = holder
        d = lock_dir()
        for key, fd in self.fds.items():
            if key.startswith("obj-"):
                _describe(os.path.join(d, key + ".lock"), holder, self.names.get(key, ""))
            else:
                _write_holder(fd, holder, self.names.get(key, ""))

    def release(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)  # closing the only descriptor drops the flock
            except OSError:
                pass
        self.fds.clear()

    @property
    def held(self) -> bool:
        return bool(self.fds)


def _write_holder(fd: int, holder: str, name: str) -> None:
    """Two lines: who holds the lock, and the real path it was taken for."""
    text = holder.replace("\n", " ") + "\n" + name.replace("\n", " ") + "\n"
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode("utf-8", "surrogateescape"), 0)
    except OSError:
        pass  # the lock holds without its description


def _lines_of(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read(8192).splitlines()
    except OSError:
        return []


def _holder_of(path: str) -> str:
    lines = _lines_of(path)
    return (lines[0].strip() if lines else "") or "another job"


def _lock_object(real: str) -> int | None:
    """flock the file or block device itself through a read-only descriptor of its own: the fd
    (kept: it holds the lock, and the inode, for the job's whole run), None if another job holds
    it, -1 if it cannot be opened any more (gone, or a name that no longer reaches it)."""
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        return -1
    return fd


def _describe(note: str, holder: str, name: str) -> None:
    """Write the note naming who holds a file or device locked on itself (best effort)."""
    try:
        fd = _open_lock_file(note, name)
    except Refused:
        return
    try:
        _write_holder(fd, holder, name)
    finally:
        os.close(fd)


def _open_lock_file(file: str, name: str) -> int:
    """The lock file, read-write (ours, or anyone's: 0666) or read-only (flock needs no more)."""
    flags = os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(file, os.O_RDWR | flags, 0o666)
    except PermissionError:
        try:
            return os.open(file, os.O_RDONLY | flags)
        except OSError as e:
            raise Refused(f"cannot take the writer lock for {name}: {e.strerror}") from None
    except OSError as e:
        raise Refused(f"cannot take the writer lock for {name}: {e.strerror}") from None
    try:
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, 0o666)  # another user's job must be able to take it after us
    except OSError:
        pass
    return fd


def lock_for_writing(paths: Iterable[str], holder: str) -> WriterLock:
    """Lock every path for this job; Locked (naming the other job) if any is held, nothing kept.

    `holder`: one line saying who we are, e.g. "station image (pid 1234)".
    """
    lock = WriterLock(holder)
    try:
        lock.add(paths)
    except BaseException:
        lock.release()
        raise
    return lock
