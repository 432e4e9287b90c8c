"""Where rescued bytes go: a sparse image file, or a whole drive ("clone to a drive").

An image file is never truncated: resuming a job writes into the same file, and what was
rescued before stays.  It is extended to the source's size up front, so the holes are the
parts not rescued yet and the file's size is the source's from the start.  A drive is opened
with O_EXCL, the kernel's own guarantee that nothing has it mounted or built on it.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Self

from station.core.safeopen import create_new
from station.media import blockdev
from station.media.base import Refused, SourceIdentity
from station.media.safety import check_not_source, check_opened

_NOT_A_SINK = {
    stat.S_IFDIR: "is a directory",
    stat.S_IFCHR: "is a character device, not a block device or an image file",
    stat.S_IFIFO: "is a fifo, not a block device or an image file",
    stat.S_IFSOCK: "is a socket, not a block device or an image file",
}


def _refusal(path: str, err: OSError) -> Refused:
    """One line for a dest that cannot be opened or sized."""
    if err.errno == errno.ENOENT:
        return Refused(f"dest {path}: no such file or directory")
    if err.errno in (errno.EACCES, errno.EPERM):
        return Refused(f"dest {path}: permission denied")
    if err.errno == errno.EBUSY:
        return Refused(f"refusing: {path} is in use (mounted, swap, or held by another device)")
    return Refused(f"dest {path}: {(err.strerror or str(err)).lower()}")


def _key(st: os.stat_result) -> tuple[int, int]:
    """What makes two stats the same file or drive: the device number, or the inode."""
    return (st.st_rdev, 0) if stat.S_ISBLK(st.st_mode) else (st.st_dev, st.st_ino)


def _open(path: str, before: os.stat_result | None) -> int:
    """Open the dest to write: a new image exclusively (a name that appeared since it was checked,
    such as a symlink to the source, fails instead of being followed), a drive with O_EXCL."""
    try:
        if before is None:
            return create_new(path, os.O_WRONLY, 0o644)
        # never O_TRUNC; O_EXCL on a drive: EBUSY if mounted or held
        flags = os.O_EXCL if stat.S_ISBLK(before.st_mode) else 0
        return os.open(path, os.O_WRONLY | flags | os.O_CLOEXEC)
    except FileExistsError:
        raise Refused(f"refusing: dest {path} appeared while the job was starting") from None
    except OSError as err:
        raise _refusal(path, err) from None


def _extend(fd: int, path: str, current: int, size: int) -> None:
    """Grow the image to size with a hole (ftruncate); never shrink what an earlier run wrote."""
    if current >= size:
        return
    try:
        os.ftruncate(fd, size)
    except OSError as err:
        if err.errno in (errno.EFBIG, errno.EINVAL):
            raise Refused(f"dest {path}: its filesystem cannot hold a file of {size} bytes") from None
        raise _refusal(path, err) from None


class LocalSink:
    """An image file or a block device of this machine, written with pwritev; implements Sink."""

    def __init__(
        self, path: str, *, size: int, create: bool, source: SourceIdentity | str | None = None
    ) -> None:
        self.path = path
        try:
            before = os.stat(path)
        except FileNotFoundError:
            before = None
        except OSError as err:
            raise _refusal(path, err) from None
        if before is None and not create:
            raise Refused(f"dest {path}: no such file (and not asked to create it)")
        if before is not None and stat.S_IFMT(before.st_mode) in _NOT_A_SINK:
            raise Refused(f"dest {path}: {_NOT_A_SINK[stat.S_IFMT(before.st_mode)]}")
        self._fd = _open(path, before)
        self.created = before is None  # a new file, made by this open (exclusively)
        try:
            st = os.fstat(self._fd)
            if before is not None and _key(st) != _key(before):
                raise Refused(f"refusing: dest {path} changed while the job was starting")
            if source is not None:  # what we hold, whatever the name pointed to a moment ago
                check_opened(source, self._fd, path)
            self.kind = "block" if stat.S_ISBLK(st.st_mode) else "file"
            if self.kind == "block":
                if blockdev.fd_read_only(self._fd):
                    raise Refused(
                        f"refusing: {path} is read-only (write-protected): nothing can be written to it"
                    )
                room = blockdev.device_size(self._fd)
                if room < size:
                    raise Refused(f"refusing: {path} holds {room} bytes, less than the {size} needed")
                self.size = room
            elif not stat.S_ISREG(st.st_mode):  # the name changed kind between stat and open
                raise Refused(f"dest {path}: is not a block device or an image file")
            else:
                _extend(self._fd, path, st.st_size, size)
                self.size = max(st.st_size, size)
        except BaseException:
            self.close()
            raise

    @property
    def closed(self) -> bool:
        return self._fd < 0

    @property
    def fd(self) -> int:
        """The write-only file descriptor (for tests and diagnostics)."""
        return self._fd

    def write_at(self, pos: int, data: memoryview) -> None:
        """Write all of data at pos, looping over short writes; OSError (ENOSPC, EIO) is raised as is."""
        if self._fd < 0:
            raise OSError(errno.EBADF, f"dest {self.path} is closed")
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            n = os.pwritev(self._fd, [view[done:]], pos + done)
            if n == 0:  # no progress and no error: the device is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.path)
            done += n

    def sync(self) -> None:
        """Make every write so far durable (fdatasync): the map may call it finished after this."""
        os.fdatasync(self._fd)

    def close(self) -> None:
        """Close without syncing (the engine syncs before it saves the map); twice is harmless."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalSink({self.path!r}, kind={self.kind!r})"


def open_sink(path: str, *, size: int, create: bool, source: SourceIdentity | str | None = None) -> LocalSink:
    """Open an image file (created 0o644 if create, never truncated) or a drive for writing.

    Give the source to have check_not_source() run first; the job-level check_job() does it too.
    """
    if source is not None:
        check_not_source(source, path)
    return LocalSink(path, size=size, create=create, source=source)
