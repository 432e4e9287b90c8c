"""A virtual failing drive as a real file over FUSE, and optionally as a loop block device.

`station sim serve MODEL MOUNTPOINT` mounts a directory with three files:

    drive       read-only, the model's size; every read is one command to the SimDrive
    stats.json  the drive's live counters and milestones (fresh at each open, and at each read
                from offset 0), plus model, size, powered, hung
    power       write "off", "on" or "cycle" to switch the drive's power (an emulated relay
                board does this); reading gives "on" or "off"

Choices (see docs/architecture.md, "The FUSE server"):

- `drive` is opened with FUSE's direct_io: no page cache, no readahead.  The kernel hands each
  read(2) to us as it is, split only above the connection's largest request (1 MiB here), so
  what GNU ddrescue or dd asks for is exactly what the drive sees.
- A read that meets a bad sector fails as a whole with EIO, even when good sectors precede the
  bad one, as an O_DIRECT read of a block device does.  A short read instead would make
  `dd conv=noerror,sync` pad the short block with zeros and shift everything after it, and
  would make ddrescue and the loop driver re-read from the bad sector (a second error).
- A drive that stopped answering (model `[failure] hang_after_errors`) keeps reads waiting for
  a power cycle, up to `hang_timeout` real seconds, then fails them with ETIMEDOUT.  Without
  power, reads fail with ENODEV.  The file stays in place, as ddrescue gives up on an input
  that disappears.
- Everything is read-only except `power`: opening `drive` or `stats.json` for writing is
  EROFS, as is creating, removing or renaming anything.

The FUSE loop runs in a thread of the serving process (libfuse's multithreaded loop, so that
a write to `power` is served while a read hangs); the main thread handles signals, the loop
device and the unmount.  `served()` runs all of that in a child process, for the benchmark and
the tests: reading a FUSE file from the process that serves it could deadlock.

mfusepy (and with it libfuse) is imported only when a server starts.
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

from station.media.fusekit import (
    PARENT_ENV,
    FuseThread,
    attach_loop,
    check_mount_target,
    detach_loop,
    is_mountpoint,
    lazy_unmount,
    loop_backing_file,
    read_line,
    serve_until_signal,
    settle_udev,
    terminate,
)
from station.sim.content import DriveContent
from station.sim.drive import DriveHung, DrivePoweredOff, SimDrive
from station.sim.model import DriveModel

DRIVE, STATS, POWER = "drive", "stats.json", "power"
FILES = (DRIVE, STATS, POWER)
DEFAULT_HANG_TIMEOUT = 30.0  # real seconds a read into a hung drive waits for a power cycle


class ServeError(Exception):
    """The drive could not be served (or stopped); the message is one line."""


# -- the filesystem ------------------------------------------------------------------------------


class DriveFS:
    """FUSE operations over one SimDrive (mfusepy's high-level API: paths as str, fh as int).

    Not a subclass of mfusepy.Operations so that importing this module does not load libfuse;
    mfusepy calls only the methods defined here (anything else answers ENOSYS).
    """

    use_ns = True  # times in nanoseconds

    def __init__(
        self,
        drive: SimDrive,
        *,
        hang_timeout: float | None = DEFAULT_HANG_TIMEOUT,
        extra: dict | None = None,
    ) -> None:
        self.drive = drive
        self.content = DriveContent(drive.sector_size, drive.model.content)
        self.hang_timeout = hang_timeout
        self.extra = dict(extra or {})  # added to stats.json (e.g. the loop device)
        self.initialized = threading.Event()
        self._uid, self._gid = os.getuid(), os.getgid()
        self._t0 = time.time_ns()
        self._fh_lock = threading.Lock()
        self._next_fh = 1
        self._snapshots: dict[int, bytes] = {}  # stats.json per open file

    # -- what the files say -------------------------------------------------------------------

    def stats(self) -> dict:
        d = self.drive
        with d._lock:  # a consistent snapshot: reads update several counters at once
            out = d.stats.to_dict(d.readable_sectors * d.sector_size)
            powered, hung = d.powered, d.hung
        m = d.model
        out.update(
            model=m.name,
            size=m.size,
            sector_size=m.sector_size,
            powered=powered,
            hung=hung,
            time_scale=d.time_scale,
            hang_timeout=self.hang_timeout,
        )
        out.update(self.extra)
        return out

    def _stats_bytes(self) -> bytes:
        return (json.dumps(self.stats(), indent=2) + "\n").encode()

    def _power_bytes(self) -> bytes:
        return b"on\n" if self.drive.powered else b"off\n"

    # -- operations ------------------------------------------------------------------------------

    def init_with_config(self, conn, config) -> None:
        if config is not None:
            config.direct_io = 1  # every file: no page cache, no readahead, reads as asked
            config.kernel_cache = 0
            config.auto_cache = 0
            config.attr_timeout = 0.0  # stats.json and power change size
            config.negative_timeout = 0.0
        self.initialized.set()

    def getattr(self, path: str, fh=None) -> dict:
        t = self._t0
        common = {"st_uid": self._uid, "st_gid": self._gid, "st_atime": t, "st_mtime": t, "st_ctime": t}
        if path == "/":
            return {**common, "st_mode": stat.S_IFDIR | 0o555, "st_nlink": 2}
        name = path[1:]
        if name == DRIVE:
            m = self.drive.model
            return {
                **common,
                "st_mode": stat.S_IFREG | 0o444,
                "st_nlink": 1,
                "st_size": m.size,
                "st_blocks": m.size // 512,
                "st_blksize": m.sector_size,
            }
        if name == STATS:
            size, mode = len(self._stats_bytes()), 0o444
        elif name == POWER:
            size, mode = len(self._power_bytes()), 0o644
        else:
            raise OSError(errno.ENOENT, "no such file")
        return {**common, "st_mode": stat.S_IFREG | mode, "st_nlink": 1, "st_size": size}

    def readdir(self, path: str, fh) -> list[str]:
        if path != "/":
            raise OSError(errno.ENOTDIR, "not a directory")
        return [".", "..", *FILES]

    def open(self, path: str, flags: int) -> int:
        name = path[1:]
        if name not in FILES:
            raise OSError(errno.ENOENT, "no such file")
        if name != POWER and (flags & os.O_ACCMODE) != os.O_RDONLY:
            raise OSError(errno.EROFS, "read-only")
        with self._fh_lock:
            fh = self._next_fh
            self._next_fh += 1
        if name == STATS:
            self._snapshots[fh] = self._stats_bytes()
        return fh

    def release(self, path: str, fh: int) -> int:
        self._snapshots.pop(fh, None)
        return 0

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        name = path[1:]
        if name == DRIVE:
            return self._read_drive(size, offset)
        if name == STATS:
            data = self._snapshots.get(fh)
            if data is None or offset == 0:
                data = self._snapshots[fh] = self._stats_bytes()
            return data[offset : offset + size]
        if name == POWER:
            return self._power_bytes()[offset : offset + size]
        raise OSError(errno.ENOENT, "no such file")

    def _read_drive(self, size: int, offset: int) -> bytes:
        d = self.drive
        total = d.model.size
        n = min(size, total - offset)
        if n <= 0:
            return b""
        ss = d.sector_size
        first, last = offset // ss, (offset + n - 1) // ss
        try:
            r = d.read(first, last - first + 1, block=True, hang_wait=self.hang_timeout)
        except DriveHung:
            raise OSError(errno.ETIMEDOUT, "drive not responding") from None
        except DrivePoweredOff:
            raise OSError(errno.ENODEV, "drive has no power") from None
        if not r.ok:
            raise OSError(errno.EIO, "read error")
        data = self.content.sectors(first, last - first + 1)
        skip = offset - first * ss
        if skip == 0 and len(data) == n:
            return data
        return data[skip : skip + n]

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        if path[1:] != POWER:
            raise OSError(errno.EROFS, "read-only")
        command = data.decode(errors="replace").strip().lower()
        if command == "off":
            self.drive.power_off()
        elif command == "on":
            self.drive.power_on()
        elif command == "cycle":
            self.drive.power_cycle()
        elif command:
            raise OSError(errno.EINVAL, "write off, on or cycle")
        return len(data)

    def truncate(self, path: str, length: int, fh=None) -> int:
        if path[1:] != POWER:  # `echo off > power` truncates first
            raise OSError(errno.EROFS, "read-only")
        return 0

    def statfs(self, path: str) -> dict:
        m = self.drive.model
        return {"f_bsize": m.sector_size, "f_frsize": m.sector_size, "f_blocks": m.sectors, "f_namemax": 255}

    # Nothing else changes: EROFS rather than ENOSYS, so tools say "Read-only file system".
    def _readonly(self, *args, **kwargs):
        raise OSError(errno.EROFS, "read-only")

    create = mkdir = mknod = unlink = rmdir = symlink = link = rename = chmod = chown = _readonly
    utimens = setxattr = removexattr = _readonly


# -- serving in this process ------------------------------------------------------------------------


def check_serve(mountpoint: str, *, loop: bool, time_scale: float, hang_timeout: float | None) -> None:
    """Refusals before anything is mounted (ServeError with one line)."""
    if time_scale < 0:
        raise ServeError(f"--time-scale must be >= 0, not {time_scale:g}")
    if hang_timeout is not None and hang_timeout < 0:
        raise ServeError(f"--hang-timeout must be >= 0, not {hang_timeout:g}")
    check_mount_target(mountpoint, loop=loop, error=ServeError)


@dataclass
class DriveServer:
    """One virtual drive mounted at a directory by this process (the FUSE loop in a thread)."""

    model: DriveModel
    mountpoint: str
    loop: bool = False
    time_scale: float = 0.0
    hang_timeout: float | None = DEFAULT_HANG_TIMEOUT
    allow_other: bool = False
    loop_device: str | None = None
    probe_reads: int = 0  # reads by udev probes of a new loop device, discarded (see start)
    fs: DriveFS | None = field(default=None, repr=False)
    _fuse: FuseThread | None = field(default=None, repr=False)
    _loop_detached: bool = field(default=False, repr=False)

    @property
    def drive_path(self) -> str:
        return os.path.join(self.mountpoint, DRIVE)

    @property
    def alive(self) -> bool:
        return self._fuse is not None and self._fuse.alive

    def start(self, timeout: float = 20.0) -> None:
        """Mount (and attach the loop device); return once tools can read the drive."""
        self.mountpoint = os.path.realpath(self.mountpoint)
        layout = self.model.build()
        self.fs = DriveFS(SimDrive(layout, time_scale=self.time_scale), hang_timeout=self.hang_timeout)
        opts = {
            "fsname": f"station-sim:{self.model.name}",
            "subtype": "station-sim",
            "default_permissions": True,
        }
        if self.allow_other:
            opts["allow_other"] = True
        self._fuse = FuseThread(self.fs, self.mountpoint, opts)
        try:
            self._fuse.start(timeout, error=ServeError)
        except ServeError:
            self.stop()
            raise
        if self.loop:
            try:
                self.loop_device = attach_loop(self.drive_path, self.model.sector_size, ServeError)
                settle_udev()
            except BaseException:
                self.stop()
                raise
            # udev's blkid may have probed the new device: those reads are not a tool's. Start
            # the drive afresh so that counters and milestones belong to the tools alone.
            self.probe_reads = self.fs.drive.stats.reads
            if self.probe_reads:
                self.fs.drive = SimDrive(layout, time_scale=self.time_scale)
            self.fs.extra["loop_device"] = self.loop_device

    def stop(self, timeout: float = 1.0) -> None:
        """Unplug: power off (hung reads return), detach the loop, lazy-unmount, end the loop.

        Safe to call twice.  The unmount is lazy so that a reader still holding the file does
        not keep the mount in place.  While such a reader keeps the connection alive, the FUSE
        loop goes on: the connection is aborted through fusectl where it is mounted, and in any
        case when this process exits (`alive` tells whether that is still needed).
        """
        if self.fs is not None:
            self.fs.drive.power_off()
        if self.loop_device and not self._loop_detached:
            detach_loop(self.loop_device)
            self._loop_detached = True  # never again: the number may soon be someone else's
        if self._fuse is not None:
            self._fuse.stop(timeout)
        elif is_mountpoint(self.mountpoint):
            lazy_unmount(self.mountpoint)


def serve_forever(server: DriveServer, announce) -> int:
    """Start, call announce(server), serve until SIGINT/SIGTERM/SIGHUP, stop.  Exit status."""
    return serve_until_signal(server.start, server.stop, lambda: server.alive, lambda: announce(server))


# -- serving from a child process: the API for the benchmark and the tests ---------------------------


@dataclass
class ServedDrive:
    """A virtual drive served by a child process (see served())."""

    mountpoint: Path
    drive_path: Path
    loop_device: str | None
    model: str
    size: int
    sector_size: int
    pid: int
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    _stderr: object = field(default=None, repr=False)

    @property
    def stats_path(self) -> Path:
        return self.mountpoint / STATS

    @property
    def power_path(self) -> Path:
        return self.mountpoint / POWER

    def stats(self) -> dict:
        """The drive's counters now (stats.json)."""
        return json.loads(self.stats_path.read_bytes())

    def power(self, state: str) -> None:
        """Switch the drive's power: "off", "on" or "cycle"."""
        if state not in ("off", "on", "cycle"):
            raise ValueError(f"power state must be off, on or cycle, not {state!r}")
        fd = os.open(self.power_path, os.O_WRONLY)
        try:
            os.write(fd, state.encode())
        finally:
            os.close(fd)

    @property
    def powered(self) -> bool:
        return self.power_path.read_text().strip() == "on"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (SIGTERM); make sure nothing is left mounted or attached."""
        if self._proc is not None:
            terminate(self._proc, timeout)
        # A server killed outright leaves a dead mount ("transport endpoint is not connected").
        if self.loop_device and loop_backing_file(self.loop_device) == str(self.drive_path):
            detach_loop(self.loop_device)
        if is_mountpoint(self.mountpoint):
            lazy_unmount(str(self.mountpoint))
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


@contextmanager
def served(
    model_spec: str | os.PathLike,
    mountpoint: str | os.PathLike,
    *,
    loop: bool = False,
    time_scale: float = 0.0,
    hang_timeout: float | None = DEFAULT_HANG_TIMEOUT,
    allow_other: bool = False,
    ready_timeout: float = 30.0,
) -> Iterator[ServedDrive]:
    """Serve a virtual drive from a child process (`station sim serve --json`) for the block.

    model_spec: a preset name, a model TOML file or a ddrescue test mapfile.  Every call is a
    fresh drive (counters at zero, powered, not hung).  Raises ServeError with the server's one
    line when it refuses (bad model, mountpoint not an empty directory, no /dev/fuse, --loop
    without root) or fails to mount.  On leaving the block, also by an exception, the server
    is stopped: loop device detached, mount gone.
    """
    mp = Path(mountpoint).resolve()
    cmd = [sys.executable, "-m", "station.cli", "sim", "serve", str(model_spec), str(mp), "--json"]
    if loop:
        cmd.append("--loop")
    if time_scale:
        cmd += ["--time-scale", repr(float(time_scale))]
    cmd += ["--hang-timeout", "none" if hang_timeout is None else repr(float(hang_timeout))]
    if allow_other:
        cmd.append("--allow-other")
    mounted_before = is_mountpoint(mp)  # then the server refuses, and we must not unmount it
    err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (a file, not a pipe: the server never blocks on it)
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, start_new_session=True)
    sd: ServedDrive | None = None
    try:
        line = read_line(proc, ready_timeout)
        if line is None:
            terminate(proc)
            raise ServeError(f"station sim serve did not start within {ready_timeout:g} s")
        if not line:  # it ended: say why, in its own words
            proc.wait(30)
            err.seek(0)
            lines = [x.removeprefix("station: ") for x in err.read().splitlines() if x.strip()]
            raise ServeError(lines[-1] if lines else f"station sim serve ended with status {proc.returncode}")
        info = json.loads(line)
        sd = ServedDrive(
            mountpoint=mp,
            drive_path=Path(info["drive"]),
            loop_device=info.get("loop_device"),
            model=info["model"],
            size=info["size"],
            sector_size=info["sector_size"],
            pid=proc.pid,
            _proc=proc,
            _stderr=err,
        )
        yield sd
    finally:
        if sd is not None:
            sd.stop()
        else:
            terminate(proc)
            if not mounted_before and is_mountpoint(mp):
                lazy_unmount(str(mp))
            err.close()
        if proc.stdout is not None:
            proc.stdout.close()


__all__ = [
    "DEFAULT_HANG_TIMEOUT",
    "DriveFS",
    "DriveServer",
    "ServeError",
    "ServedDrive",
    "served",
]
