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

import argparse
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
from station.images.reader import ImageReader, RawImageReader
from station.media.fusekit import (
    PARENT_ENV,
    FuseThread,
    check_mount_target,
    is_mountpoint,
    lazy_unmount,
    read_line,
    serve_until_signal,
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


def open_image(image: str, mapfile: str | None) -> ImageReader:
    """A reader for a raw image (with its ddrescue mapfile, if given)."""
    from station.rescue.mapfile import read_mapfile

    m = read_mapfile(mapfile) if mapfile else None
    return RawImageReader(image, m)


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
    """Serve an image's disk and partitions at mountpoint from a child process, for the block."""
    mp = Path(mountpoint).resolve()
    cmd = [sys.executable, "-m", "station.fs.mount", str(image), str(mp), "--json"]
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


def main(argv: list[str] | None = None) -> int:
    """`python -m station.fs.mount IMAGE MOUNTPOINT [--map MAPFILE] [--eio] [--json]`."""
    ap = argparse.ArgumentParser(prog="station-fs-mount", description=__doc__.split("\n\n")[0])
    ap.add_argument("image")
    ap.add_argument("mountpoint")
    ap.add_argument("--map", dest="mapfile")
    ap.add_argument("--eio", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        reader = open_image(a.image, a.mapfile)
    except (OSError, ValueError) as e:
        print(f"station: {a.image}: {e}", file=sys.stderr)
        return 2
    server = ImageServer(reader, a.mountpoint, eio=a.eio)

    def announce() -> None:
        files = list(server.fs.files) if server.fs else []
        if a.json:
            print(
                json.dumps({"mountpoint": server.mountpoint, "files": files, "pid": os.getpid()}), flush=True
            )
        else:
            print(f"serving {a.image} at {server.mountpoint}: {', '.join(files)}; Ctrl-C stops", flush=True)

    try:
        status = serve_until_signal(server.start, server.stop, lambda: server.alive, announce)
    except MountError as e:
        print(f"station: {e}", file=sys.stderr)
        return 1
    if server.alive:  # a reader still holds a file: exiting closes /dev/fuse (see sim serve)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
