"""The source: a block device or an image file, opened read-only and nothing else.

The fd is only ever opened with O_RDONLY (plus O_DIRECT on request): no code path here can
write to the drive being rescued.  On a block device the kernel's read-ahead is switched off
while we hold it, so a read of one sector does not make a dying drive read 128 KiB more; the
old value comes back on close.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
from typing import Self

from station.media import blockdev
from station.media.base import Refused, SourceIdentity

_KINDS = {
    stat.S_IFDIR: "is a directory",
    stat.S_IFCHR: "is a character device, not a block device or an image file",
    stat.S_IFIFO: "is a fifo, not a block device or an image file",
    stat.S_IFSOCK: "is a socket, not a block device or an image file",
}


def aligned_buffer(size: int) -> memoryview:
    """A writable buffer on page boundaries (anonymous mmap), as O_DIRECT reads require."""
    return memoryview(mmap.mmap(-1, size))


def _refusal(path: str, err: OSError, flags: int = 0) -> Refused:
    """One line for a source that cannot be opened."""
    if err.errno == errno.ENOENT:
        return Refused(f"source {path}: no such file or device")
    if err.errno in (errno.EACCES, errno.EPERM):
        return Refused(f"source {path}: permission denied (cannot read it)")
    if err.errno == errno.EINVAL and flags & os.O_DIRECT:
        return Refused(f"source {path}: direct I/O (O_DIRECT) is not supported there")
    return Refused(f"source {path}: {(err.strerror or str(err)).lower()}")


def _open_checked(path: str, flags: int) -> tuple[int, os.stat_result, int]:
    """Open path read-only with flags, check it can be a source; return (fd, stat, size) or Refused."""
    try:
        st = os.stat(path)
    except OSError as err:
        raise _refusal(path, err) from None
    kind = _KINDS.get(stat.S_IFMT(st.st_mode))
    if kind is not None:
        raise Refused(f"source {path}: {kind}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | flags)
    except OSError as err:
        raise _refusal(path, err, flags) from None
    try:
        st = os.fstat(fd)  # what we opened, not what the name pointed to a moment ago
        if stat.S_ISBLK(st.st_mode):
            size = blockdev.device_size(fd)
        elif stat.S_ISREG(st.st_mode):
            size = st.st_size
        else:
            raise Refused(f"source {path}: {_KINDS.get(stat.S_IFMT(st.st_mode), 'is not a drive or a file')}")
        if size == 0:
            raise Refused(f"source {path}: is empty (size 0)")
    except BaseException:
        os.close(fd)
        raise
    return fd, st, size


def _identity(path: str, fd: int, st: os.stat_result, size: int) -> SourceIdentity:
    """What the kernel says the opened source is."""
    if not stat.S_ISBLK(st.st_mode):
        return SourceIdentity(path=path, kind="file", size=size)
    rdev = st.st_rdev
    info = blockdev.read_identity(rdev)
    extra = {"kernel_name": blockdev.kernel_name(rdev)}
    for key in ("vendor", "wwid"):
        if key in info:
            extra[key] = info[key]
    backing = blockdev.loop_backing_file(rdev)
    if backing:
        extra["backing_file"] = backing
    return SourceIdentity(
        path=path,
        kind="block",
        size=size,
        sector_size=blockdev.logical_sector_size(fd),
        physical_sector_size=blockdev.physical_sector_size(fd),
        model=info.get("model"),
        serial=info.get("serial"),
        device=blockdev.dev_string(rdev),
        extra=extra,
    )


def _file_key(st: os.stat_result) -> tuple[int, int, int]:
    """What makes an opened source the same one: the device number, or the file's inode."""
    if stat.S_ISBLK(st.st_mode):
        return (stat.S_IFBLK, st.st_rdev, 0)
    return (stat.S_IFMT(st.st_mode), st.st_dev, st.st_ino)


def probe_source(path: str) -> SourceIdentity:
    """Check that path can be a source (Refused if not) and say what it is, without keeping it open."""
    fd, st, size = _open_checked(path, 0)
    try:
        return _identity(path, fd, st, size)
    finally:
        os.close(fd)


class LocalSource:
    """A block device or a regular file of this machine, read with preadv; implements Source."""

    def __init__(self, path: str, *, direct: bool = False, readahead_off: bool = True) -> None:
        self.path = path
        self.direct = direct
        self.readahead_off = readahead_off
        self._flags = os.O_DIRECT if direct else 0
        self._fd, st, size = _open_checked(path, self._flags)
        self._st = st
        self._file_align: int | None = None  # a file's O_DIRECT alignment, found when first asked
        self._saved_readahead: int | None = None
        try:
            self.identity = _identity(path, self._fd, st, size)
            self._tune()
        except BaseException:
            self.close()
            raise

    @property
    def is_block(self) -> bool:
        return stat.S_ISBLK(self._st.st_mode)

    @property
    def size(self) -> int:
        return self.identity.size

    @property
    def sector_size(self) -> int:
        return self.identity.sector_size

    @property
    def alignment(self) -> int:
        """O_DIRECT needs offsets and lengths aligned to the logical sector: a drive's own, and for
        a file that of the disks under its filesystem (512 where none is known, as on FUSE).
        Never a page: that would make every read of a 512-byte sector a read of eight."""
        if not self.direct:
            return 1
        if self.is_block:
            return self.identity.sector_size
        if self._file_align is None:
            self._file_align = blockdev.direct_io_alignment(self._st.st_dev) or 512
        return self._file_align

    @property
    def closed(self) -> bool:
        return self._fd < 0

    @property
    def fd(self) -> int:
        """The read-only file descriptor (for tests and diagnostics)."""
        return self._fd

    def _tune(self) -> None:
        """Files: tell the page cache we read forward.  Devices: read-ahead off (see _readahead_off)."""
        if not self.is_block:
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        elif self.readahead_off:
            self._readahead_off()

    def _readahead_off(self) -> None:
        """Remember the device's read-ahead and set it to 0; without CAP_SYS_ADMIN leave it as it is."""
        current = blockdev.get_readahead(self._fd)
        if current == 0 or self._saved_readahead is not None:
            return
        try:
            blockdev.set_readahead(self._fd, 0)
        except PermissionError:
            return
        self._saved_readahead = current

    def read_into(self, pos: int, buf: memoryview) -> int:
        """Fill buf from pos; short only at the end of the source.  OSError (EIO, ...) is raised as is."""
        fd = self._fd
        if fd < 0:
            raise OSError(errno.EBADF, f"source {self.path} is closed")
        done = 0
        while done < len(buf):
            try:
                n = os.preadv(fd, [buf[done:]], pos + done)
            except OSError as e:
                e.partial = done  # type: ignore[attr-defined]  # good bytes already in buf
                raise
            if n == 0:
                break
            done += n
        return done

    def copy_to(self, out_fd: int, pos: int, size: int) -> int:
        """Copy [pos, pos+size) to the same offset of out_fd inside the kernel (copy_file_range).

        Saves the user-space copy when the source is a cached file.  Offsets are explicit, so a
        late completion of an abandoned call cannot land anywhere but its own range.  Raises
        KernelCopyUnsupported when the kernel cannot do it here (callers fall back to reads),
        else OSError with `partial` set to the bytes already copied.
        """
        fd = self._fd
        if fd < 0 or self.direct or self.is_block:
            raise KernelCopyUnsupported(errno.EOPNOTSUPP, "no kernel copy from this source")
        done = 0
        while done < size:
            try:
                n = os.copy_file_range(fd, out_fd, size - done, pos + done, pos + done)
            except OSError as e:
                if done == 0 and e.errno in _NO_KERNEL_COPY:
                    raise KernelCopyUnsupported(e.errno, e.strerror) from None
                e.partial = done  # type: ignore[attr-defined]
                raise
            if n == 0:
                break
            done += n
        return done

    def reopen(self) -> None:
        """Open the path again and swap it in under the same fd number (a late read sees no other file).

        Raises OSError if the path now names something else, as when a drive drops off the bus
        and another one takes its name.
        """
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | self._flags)
        try:
            if _file_key(os.fstat(fd)) != _file_key(self._st):
                raise OSError(errno.ENODEV, f"source {self.path} is no longer what was opened")
            if self._fd >= 0:
                os.dup2(fd, self._fd, inheritable=False)
            else:  # reopened after close: as new, read-ahead off again
                self._fd, fd = fd, -1
                self._tune()
        finally:
            if fd >= 0:
                os.close(fd)

    def reattach(self, path: str) -> None:
        """Take `path` as the source from now on, under the same fd number: the same drive, found
        again under a new name after a power cycle (the caller has matched its serial number).

        Raises Refused if it cannot be a source, OSError if its size is not the drive's.
        """
        fd, st, size = _open_checked(path, self._flags)
        try:
            if size != self.identity.size:
                raise OSError(
                    errno.ENODEV, f"{path} holds {size} bytes, not the source's {self.identity.size}"
                )
            if self._fd >= 0:
                os.dup2(fd, self._fd, inheritable=False)
            else:
                self._fd, fd = fd, -1
            self.path, self._st, self._file_align = path, st, None
            self.identity = _identity(path, self._fd, st, size)
            self._saved_readahead = None  # that device is gone; this one starts at its default
            self._tune()
        finally:
            if fd >= 0:
                os.close(fd)

    def close(self) -> None:
        """Give the device its read-ahead back and close; calling it twice is harmless."""
        if self._fd < 0:
            return
        try:
            if self._saved_readahead is not None:
                blockdev.set_readahead(self._fd, self._saved_readahead)
                self._saved_readahead = None
        finally:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalSource({self.path!r}, kind={self.identity.kind!r}, size={self.size})"


class KernelCopyUnsupported(OSError):
    """copy_file_range cannot serve this source/sink pair; read and write instead."""


_NO_KERNEL_COPY = {errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS, errno.EBADF}


def open_source(path: str, *, direct: bool = False, readahead_off: bool = True) -> LocalSource:
    """Open a block device or an image file read-only as a Source; Refused (one line) if it cannot be."""
    return LocalSource(path, direct=direct, readahead_off=readahead_off)
