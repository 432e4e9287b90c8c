"""A read-only FUSE view of an image: the whole disk and each partition as a file.

    MOUNTPOINT/disk     the image, its full size (unrescued bytes read as zeros)
    MOUNTPOINT/p1, p5   each partition of the MBR or GPT, by its Linux number

so `mount -o ro,loop MOUNTPOINT/p1 /mnt`, `fls MOUNTPOINT/disk`, photorec or a VM can use an
image without restoring it.  Any `ImageReader` can be served (raw + map now, zst through the
same protocol); nothing is ever written.  With `eio=True`, a read that touches an unrescued byte
fails with EIO instead, as the drive did, for tools that should see the bad sectors.

The plumbing (loop thread, clean stop, child process) is station.media.fusekit's, shared with
`station sim serve`; `mounted()` serves from a child process, since reading a FUSE file from
the process that serves it can deadlock on the GIL.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from station.fs.partitions import read_partitions
from station.images.reader import ImageReader
from station.media.fusekit import (
    PARENT_ENV,
    FuseThread,
    check_mount_target,
    is_mountpoint,
    lazy_unmount,
    read_line,
    terminate,
)


class MountError(Exception):
    """The image could not be mounted; the message is one line."""


class ImageFS:
    """FUSE operations (mfusepy's high-level API) over one ImageReader: disk and partitions."""

    use_ns = True

    def __init__(self, reader: ImageReader, *, eio: bool = False) -> None:
        self.reader = reader
        self.eio = eio
        self.initialized = threading.Event()
        self.files: dict[str, tuple[int, int]] = {"disk": (0, reader.size)}  # name -> (start, size)
        for p in read_partitions(reader).partitions:
            if p.number and p.start < reader.size:
                self.files[f"p{p.number}"] = (p.start, min(p.size, reader.size - p.start))
        self._uid, self._gid = os.getuid(), os.getgid()
        try:
            self._t = os.stat(reader.path).st_mtime_ns
        except OSError:
            self._t = time.time_ns()
        self._lock = threading.Lock()  # one read at a time: a reader need not be thread-safe

    def init_with_config(self, conn, config) -> None:
        if config is not None:
            config.kernel_cache = 1  # the image does not change under the mount
        self.initialized.set()

    def getattr(self, path: str, fh=None) -> dict:
        t = self._t
        common = {"st_uid": self._uid, "st_gid": self._gid, "st_atime": t, "st_mtime": t, "st_ctime": t}
        if path == "/":
            return {**common, "st_mode": stat.S_IFDIR | 0o555, "st_nlink": 2}
        f = self.files.get(path[1:])
        if f is None:
            raise OSError(errno.ENOENT, "no such file")
        size = f[1]
        return {
            **common,
            "st_mode": stat.S_IFREG | 0o444,
            "st_nlink": 1,
            "st_size": size,
            "st_blocks": size // 512,
        }

    def readdir(self, path: str, fh) -> list[str]:
        if path != "/":
            raise OSError(errno.ENOTDIR, "not a directory")
        return [".", "..", *self.files]

    def open(self, path: str, flags: int) -> int:
        if path[1:] not in self.files:
            raise OSError(errno.ENOENT, "no such file")
        if (flags & os.O_ACCMODE) != os.O_RDONLY:
            raise OSError(errno.EROFS, "read-only")
        return 0

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        f = self.files.get(path[1:])
        if f is None:
            raise OSError(errno.ENOENT, "no such file")
        start, length = f
        n = min(size, length - offset)
        if n <= 0:
            return b""
        with self._lock:
            if self.eio and self.reader.unrescued(start + offset, n):
                raise OSError(errno.EIO, "not rescued")
            return self.reader.read(start + offset, n)

    def statfs(self, path: str) -> dict:
        return {"f_bsize": 4096, "f_frsize": 512, "f_blocks": self.reader.size // 512, "f_namemax": 255}

    def _readonly(self, *args, **kwargs):
        raise OSError(errno.EROFS, "read-only")

    create = mkdir = mknod = unlink = rmdir = symlink = link = rename = chmod = chown = _readonly
    utimens = setxattr = removexattr = truncate = write = _readonly


@dataclass
class ImageServer:
    """One image mounted at a directory by this process (the FUSE loop in a thread)."""

    reader: ImageReader
    mountpoint: str
    eio: bool = False
    allow_other: bool = False
    fs: ImageFS | None = field(default=None, repr=False)
    _fuse: FuseThread | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self._fuse is not None and self._fuse.alive

    def start(self, timeout: float = 20.0) -> None:
        check_mount_target(self.mountpoint, error=MountError)
        self.mountpoint = os.path.realpath(self.mountpoint)
        self.fs = ImageFS(self.reader, eio=self.eio)
        opts = {
            "fsname": f"station-image:{os.path.basename(self.reader.path)}",
            "subtype": "station-image",
            "default_permissions": True,
            "ro": True,
        }
        if self.allow_other:
            opts["allow_other"] = True
        self._fuse = FuseThread(self.fs, self.mountpoint, opts)
        self._fuse.start(timeout, error=MountError)

    def stop(self, timeout: float = 1.0) -> None:
        """Lazy-unmount and end the loop (safe to call twice)."""
        if self._fuse is not None:
            self._fuse.stop(timeout)


# -- serving from a child process -------------------------------------------------------------------


@dataclass
class MountedImage:
    """An image served by a child process (see mounted())."""

    mountpoint: Path
    files: list[str]
    pid: int
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    def path(self, name: str) -> Path:
        return self.mountpoint / name

    def stop(self, timeout: float = 30.0) -> None:
        if self._proc is not None:
            terminate(self._proc, timeout)
        if is_mountpoint(self.mountpoint):
            lazy_unmount(str(self.mountpoint))


@contextmanager
def mounted(
    image: str | os.PathLike,
    mountpoint: str | os.PathLike,
    *,
    mapfile: str | os.PathLike | None = None,
    eio: bool = False,
    ready_timeout: float = 30.0,
) -> Iterator[MountedImage]:
    """Serve an image's disk and partitions at mountpoint from a child process, for the block.

    The child is `station mount IMAGE MOUNTPOINT --json` (without mapfile, IMAGE.map if any).
    """
    mp = Path(mountpoint).resolve()
    cmd = [sys.executable, "-m", "station.cli", "mount", str(image), str(mp), "--json"]
    if mapfile:
        cmd += ["--map", str(mapfile)]
    if eio:
        cmd.append("--eio")
    err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (a file: the server never blocks on it)
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, start_new_session=True)
    mi: MountedImage | None = None
    try:
        line = read_line(proc, ready_timeout)
        if not line:
            terminate(proc)
            err.seek(0)
            lines = [x.removeprefix("station: ") for x in err.read().splitlines() if x.strip()]
            raise MountError(lines[-1] if lines else f"mount server ended with status {proc.returncode}")
        info = json.loads(line)
        mi = MountedImage(mp, info["files"], proc.pid, proc)
        yield mi
    finally:
        if mi is not None:
            mi.stop()
        else:
            terminate(proc)
        err.close()
        if proc.stdout is not None:
            proc.stdout.close()
