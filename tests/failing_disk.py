"""A disk that fails part way: a FUSE file whose writes start failing with EIO after N bytes.

Run as a child process (its FUSE callbacks need an interpreter of their own, see the FUSE
server in docs/architecture.md):

    python tests/failing_disk.py BACKING MOUNTPOINT FAIL_AFTER [hang|wrap]

serves MOUNTPOINT/disk, the size of BACKING and backed by it, prints "ready" once mounted, and
stops on SIGTERM.  With "hang", writes past FAIL_AFTER take HANG seconds to fail.  With "wrap",
nothing fails: the disk is a fake-capacity drive (as counterfeit flash sells), whose writes and
reads at FAIL_AFTER and beyond land at their offset modulo FAIL_AFTER, overwriting what is there.
`failing_disk()` runs it for a test; a loop device over MOUNTPOINT/disk is a block device that fails the same
way, and killing the server makes the disk vanish (ENOTCONN).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

NAME = "disk"
HANG = 8.0  # seconds a "hang" write takes before it fails: longer than a test's stall timeout.  A
# write that never answered would leave the writer's thread in the kernel for good, and its
# process unable to exit until the FUSE connection is aborted (as with a real drive stuck in D state).


class FailingFS:
    """One read-write file over a backing file; writes fail (EIO) once FAIL_AFTER bytes were taken."""

    use_ns = True

    def __init__(self, backing: str, fail_after: int, hang: bool = False, wrap: bool = False) -> None:
        self.fd = os.open(backing, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.fail_after = fail_after
        self.hang = hang  # past FAIL_AFTER, writes answer (EIO) only after HANG seconds
        self.wrap = wrap  # a fake-capacity drive: FAIL_AFTER bytes of real storage, addresses wrapped
        self.written = 0
        self.lock = threading.Lock()
        self.initialized = threading.Event()

    def init_with_config(self, conn, config) -> None:
        if config is not None:
            config.direct_io = 1
            config.attr_timeout = 0.0
        self.initialized.set()

    def getattr(self, path: str, fh=None) -> dict:
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        if path[1:] != NAME:
            raise OSError(errno.ENOENT, "no such file")
        return {
            "st_mode": stat.S_IFREG | 0o644,
            "st_nlink": 1,
            "st_size": self.size,
            "st_blocks": self.size // 512,
        }

    def readdir(self, path: str, fh) -> list[str]:
        return [".", "..", NAME]

    def open(self, path: str, flags: int) -> int:
        if path[1:] != NAME:
            raise OSError(errno.ENOENT, "no such file")
        return 1

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        if self.wrap:
            return b"".join(os.pread(self.fd, n, at) for at, n in self._wrapped(offset, size))
        return os.pread(self.fd, size, offset)

    def _wrapped(self, offset: int, size: int) -> Iterator[tuple[int, int]]:
        """Where a fake-capacity drive really puts [offset, offset+size): pieces cut at its real size."""
        done = 0
        while done < size:
            at = (offset + done) % self.fail_after
            n = min(size - done, self.fail_after - at)
            yield at, n
            done += n

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        if self.wrap:
            done = 0
            for at, n in self._wrapped(offset, len(data)):
                os.pwrite(self.fd, data[done : done + n], at)
                done += n
            return len(data)
        with self.lock:
            if self.written + len(data) > self.fail_after:
                if self.hang:
                    time.sleep(HANG)
                raise OSError(errno.EIO, "write error")
            self.written += len(data)
        return os.pwrite(self.fd, data, offset)

    def truncate(self, path: str, length: int, fh=None) -> int:
        if length != self.size:
            raise OSError(errno.EPERM, "a disk has the size it has")
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    def release(self, path: str, fh: int) -> int:
        return 0


def serve(backing: str, mountpoint: str, fail_after: int, hang: bool = False, wrap: bool = False) -> int:
    from station.media.fusekit import FuseThread, serve_until_signal

    fs = FailingFS(backing, fail_after, hang, wrap)
    thread = FuseThread(fs, mountpoint, {"nothreads": False})
    return serve_until_signal(
        thread.start, thread.stop, lambda: thread.alive, lambda: print("ready", flush=True)
    )


@contextlib.contextmanager
def failing_disk(
    root: Path, size: int, fail_after: int, *, hang: bool = False, wrap: bool = False
) -> Iterator[tuple[Path, subprocess.Popen]]:
    """(the failing file, its server) for a test: mounted under root, unmounted however it ends."""
    from station.media.fusekit import read_line, terminate

    backing, mnt = root / "failing.backing", root / "failing-mnt"
    with open(backing, "wb") as f:
        f.truncate(size)
    mnt.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            str(backing),
            str(mnt),
            str(fail_after),
            *(["hang"] if hang else []),
            *(["wrap"] if wrap else []),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = read_line(proc, 30)
        if line != "ready":
            raise RuntimeError(
                f"the failing disk did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
            )
        yield mnt / NAME, proc
    finally:
        terminate(proc)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


if __name__ == "__main__":
    mode = sys.argv[4:]
    sys.exit(serve(sys.argv[1], sys.argv[2], int(sys.argv[3]), hang=mode == ["hang"], wrap=mode == ["wrap"]))
