"""A target of a restore: a drive or an image file, written in place at any offset, then read back.

Drives are opened `O_EXCL` (the kernel's own proof that nothing mounts or holds them) and
`O_DIRECT`: the page cache then holds no copy of what twenty targets are being written with,
a byte counts as written when the drive has it (so each target's rate is its own, not the
cache's), and reading back after the final `fdatasync` reads the drive, not memory.  A write
that `O_DIRECT` cannot take as it is (an offset, length or buffer that is not a multiple of
the logical sector: the tail of an odd-sized image, a byte-granular unread area) goes through a
second, buffered descriptor; the final sync covers both.

Image files are written through the page cache (a file target is as fast as the filesystem's
cache, as `dd` is) and synced once at the end.  Ranges that must read as zeros are not written
as zeros where the target can do better: a hole punched in a file, the drive's own write-zeroes
(`fallocate` punch-hole, then `BLKZEROOUT`) on a drive.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import mmap
import os
import stat
from collections.abc import Callable

from station.media import blockdev
from station.media.base import Refused
from station.media.safety import check_opened, stat_writable

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
_ZERO_STEP = 8 << 20  # zeros written by hand, at most this many bytes per write
_NO_HOLES = (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENOTTY)


class RestoreTarget:
    """One target opened for writing.  OSError from writes and syncs is raised as is (the caller
    drops the target); `Refused` from the constructor means nothing was written or created."""

    def __init__(
        self, path: str, *, file_size: int | None = None, direct: bool = True, source: str | None = None
    ) -> None:
        """Open a drive, or an image file (created if missing) that will be `file_size` bytes;
        `source` (the image restored from) is checked against what was opened, before any write."""
        self.path = path
        self.created = False
        st = stat_writable(path, "target")
        self.kind = "block" if st is not None and stat.S_ISBLK(st.st_mode) else "file"
        self._fd = self._direct = -1
        try:
            if self.kind == "block":
                self._fd = _open(path, os.O_WRONLY | os.O_EXCL)
                self.size = blockdev.device_size(self._fd)
                self.sector = blockdev.logical_sector_size(self._fd)
                if blockdev.fd_read_only(self._fd):
                    raise Refused(f"refusing: {path} is read-only")
                if direct:
                    try:  # a second descriptor: O_EXCL is per open file, this one shares the claim
                        self._direct = os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
                    except OSError:
                        self._direct = -1  # the device takes no O_DIRECT: buffered, synced at the end
            else:
                flags = os.O_WRONLY | os.O_NOFOLLOW
                self.created = st is None
                self._fd = _open(path, flags | (os.O_CREAT | os.O_EXCL if st is None else 0))
                self.size = file_size if file_size is not None else os.fstat(self._fd).st_size
                self.sector = 512
            if source is not None:  # what the open returned, not the name: a symlink flipped in between
                check_opened(source, self._fd, path, role="target")
        except BaseException:
            self.close()
            raise

    @property
    def direct(self) -> bool:
        return self._direct >= 0

    def set_file_size(self, size: int) -> None:
        """An image file target: exactly `size` bytes (a longer one is cut, a shorter one grows a hole)."""
        if self.kind == "file":
            os.ftruncate(self._fd, size)
            self.size = size

    def write(self, pos: int, buf: mmap.mmap | memoryview | bytes, start: int, size: int) -> None:
        """Write buf[start:start+size] at pos, whole (short writes are continued).  O_DIRECT takes
        it when buf is a page-aligned mmap (a ring slot) and the range is in whole sectors."""
        view = memoryview(buf)[start : start + size]
        a = self.sector
        aligned = isinstance(buf, mmap.mmap) and not (pos % a or size % a or start % a)
        fd = self._direct if self._direct >= 0 and aligned else self._fd
        done = 0
        while done < size:
            n = os.pwritev(fd, [view[done:]], pos + done)
            if n == 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.path)
            done += n

    def zero(self, pos: int, size: int) -> None:
        """Make [pos, pos+size) read as zeros, the cheapest way the target allows."""
        if size <= 0:
            return
        try:  # a hole in a file; on a drive, write-zeroes that may unmap (never a slow fallback)
            _punch(self._fd, pos, size)
            return
        except OSError as e:
            if e.errno not in _NO_HOLES:
                raise
        if self.kind == "block":
            try:
                blockdev.zero_out(self._fd, pos, size)
                return
            except OSError as e:
                if e.errno not in _NO_HOLES:
                    raise
        zeros = bytes(min(size, _ZERO_STEP))
        for at in range(pos, pos + size, _ZERO_STEP):
            self.write(at, zeros, 0, min(_ZERO_STEP, pos + size - at))

    def sync(self) -> None:
        """Everything written so far is on the target (fdatasync of both descriptors)."""
        for fd in (self._direct, self._fd):
            if fd >= 0:
                os.fdatasync(fd)

    def close(self) -> None:
        for name in ("_direct", "_fd"):
            fd = getattr(self, name, -1)
            setattr(self, name, -1)
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def __repr__(self) -> str:
        return f"RestoreTarget({self.path!r}, kind={self.kind!r}, size={self.size})"


def _open(path: str, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno == errno.EBUSY:
            raise Refused(f"refusing: {path} is in use (mounted, swap, or held by another device)") from None
        if e.errno == errno.EROFS:
            raise Refused(f"refusing: {path} is read-only") from None
        raise Refused(f"target {path}: {(e.strerror or str(e)).lower()}") from None


@functools.cache
def _fallocate() -> Callable[[int, int, int, int], int]:
    """libc's fallocate(2) (Python's os has posix_fallocate only, which cannot punch holes)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    return libc.fallocate


def _punch(fd: int, pos: int, size: int) -> None:
    """fallocate(PUNCH_HOLE | KEEP_SIZE): a hole in a file, write-zeroes on a block device."""
    if _fallocate()(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos, size) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def open_for_reading(path: str) -> tuple[int, int]:
    """(fd, alignment) to read a target back from the medium itself: O_DIRECT where it is taken,
    else a buffered descriptor whose cached pages are dropped first (after the final sync they
    are clean, so the reads go to the target)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError:
        fd = -1
    if fd >= 0:
        st = os.fstat(fd)
        align = blockdev.logical_sector_size(fd) if stat.S_ISBLK(st.st_mode) else 4096
        return fd, max(align, 512)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass
    return fd, 1


def read_back(fd: int, align: int, pos: int, size: int, buf: mmap.mmap) -> memoryview:
    """`size` bytes of the target at pos into buf (page-aligned, at least size + 2*align bytes);
    a view of them, short only at the target's end.  Alignment for O_DIRECT is handled here."""
    lo = pos // align * align
    hi = -(-(pos + size) // align) * align
    view = memoryview(buf)[: hi - lo]
    got = 0
    while got < hi - lo:
        try:
            n = os.preadv(fd, [view[got:]], lo + got)
        except OSError as e:
            if e.errno == errno.EINVAL and align > 1 and got:  # O_DIRECT at the end of a file
                break
            raise
        if n == 0:
            break
        got += n
    end = max(0, min(got, pos + size - lo))
    return memoryview(buf)[pos - lo : end] if end > pos - lo else memoryview(b"")
