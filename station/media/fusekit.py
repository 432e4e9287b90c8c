"""What every FUSE server of Station shares: mounts, loop devices, the loop thread, clean stops.

`station sim serve` (a virtual failing drive) and `station.fs.mount` (an image's disk and
partitions) are both read-mostly filesystems served by mfusepy from a thread of their own
process, with signal handling, loop devices and the child-process harness around them.  The
choices behind each piece are in docs/architecture.md, "The FUSE server".

mfusepy (and with it libfuse) is imported only when a server starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

PARENT_ENV = "STATION_FUSE_PARENT_PID"  # a served child stops when this parent dies
_MNT_DETACH = 2


class FuseError(Exception):
    """A FUSE server could not start or stop; the message is one line."""


def is_mountpoint(path: str | os.PathLike) -> bool:
    """Whether something is mounted at path, as /proc/self/mountinfo says."""
    from station.media.blockdev import read_mounts

    p = os.path.realpath(path)
    return any(m.mountpoint == p for m in read_mounts())


def lazy_unmount(path: str) -> None:
    """Detach the mount at path now; the kernel finishes when its last open file closes."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.umount2(os.fsencode(path), _MNT_DETACH) != 0:
            e = ctypes.get_errno()
            if e != errno.EINVAL:  # EINVAL: not a mount point (any more)
                raise OSError(e, f"umount {path}: {os.strerror(e)}")
        return
    r = subprocess.run(["fusermount3", "-u", "-z", path], capture_output=True, text=True)
    if r.returncode != 0 and is_mountpoint(path):
        raise OSError(errno.EBUSY, f"fusermount3 -u -z {path}: {r.stderr.strip()}")


def attach_loop(path: str, sector_size: int, error: type[Exception] = FuseError) -> str:
    """Attach path read-only as a loop block device with direct I/O; return /dev/loopN.

    `--direct-io=on`: the loop reads the FUSE file with O_DIRECT, so it keeps no second copy
    of the data in the page cache.  The loop device's own readahead is switched off, so a
    buffered read of the device does not make the drive read more than asked.
    """
    r = subprocess.run(
        [
            "losetup",
            "--read-only",
            "--find",
            "--show",
            "--direct-io=on",
            f"--sector-size={sector_size}",
            path,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    dev = r.stdout.strip()
    if r.returncode != 0 or not dev.startswith("/dev/"):
        raise error(f"losetup failed: {(r.stderr or r.stdout).strip() or r.returncode}")
    try:
        from station.media.blockdev import set_readahead

        fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
        try:
            set_readahead(fd, 0)
        finally:
            os.close(fd)
    except OSError:
        pass
    return dev


def detach_loop(dev: str) -> None:
    """Detach a loop device (deferred by the kernel while someone still has it open)."""
    subprocess.run(["losetup", "--detach", dev], capture_output=True, timeout=30)


def loop_backing_file(dev: str) -> str | None:
    """What a loop device is attached to, or None once detached."""
    name = os.path.basename(dev)
    try:
        return Path(f"/sys/block/{name}/loop/backing_file").read_text().strip() or None
    except OSError:
        return None


def settle_udev() -> None:
    """Let udev finish probing a new device (its blkid reads), where udev runs at all."""
    from shutil import which

    if which("udevadm") and os.path.exists("/run/udev/control"):
        subprocess.run(["udevadm", "settle", "--timeout=10"], capture_output=True, timeout=15)


def check_mount_target(mountpoint: str, *, loop: bool = False, error: type[Exception] = FuseError) -> None:
    """Refusals before anything is mounted: no FUSE, no rights, a mountpoint that will not do."""
    if not os.path.exists("/dev/fuse"):
        raise error("no /dev/fuse: this kernel or container has no FUSE (try: modprobe fuse)")
    if os.geteuid() != 0:
        # libfuse opens /dev/fuse itself before fusermount3 mounts it (Debian makes it 0666)
        if not os.access("/dev/fuse", os.R_OK | os.W_OK):
            raise error("cannot open /dev/fuse: run as root, or make it readable and writable (0666)")
        from shutil import which

        if not which("fusermount3"):
            raise error("fusermount3 is not installed (apt install fuse3); only root mounts without it")
    if loop and os.geteuid() != 0:
        raise error("--loop needs root (losetup attaches loop devices)")
    if not os.path.exists(mountpoint):
        raise error(f"mountpoint {mountpoint}: no such directory")
    if not os.path.isdir(mountpoint):
        raise error(f"mountpoint {mountpoint}: not a directory")
    if is_mountpoint(mountpoint):
        raise error(f"mountpoint {mountpoint}: something is already mounted there")
    try:
        entries = os.listdir(mountpoint)
    except OSError as e:
        raise error(f"mountpoint {mountpoint}: {e.strerror}") from None
    if entries:
        raise error(f"mountpoint {mountpoint}: not empty")


def import_mfusepy():
    """mfusepy bound to libfuse 3.

    mfusepy prefers libfuse 2 when both are installed (Debian's ntfs-3g and exfat-fuse pull
    libfuse2 in), and our options and mount code are libfuse 3's.
    """
    if "mfusepy" not in sys.modules and not os.environ.get("FUSE_LIBRARY_PATH"):
        fuse3 = ctypes.util.find_library("fuse3")
        if fuse3:
            os.environ["FUSE_LIBRARY_PATH"] = fuse3
    import mfusepy

    return mfusepy


class FuseThread:
    """mfusepy's loop over `ops`, mounted at a directory, in a daemon thread of this process.

    `ops` must set `initialized` (a threading.Event) from its init callback: start() returns
    once the kernel has the mount.  stop() lazy-unmounts and, if a reader still holds a file
    and so keeps the loop alive, aborts the connection through fusectl where it is mounted.
    """

    def __init__(self, ops, mountpoint: str, options: dict) -> None:
        self.ops = ops
        self.mountpoint = os.path.realpath(mountpoint)
        self.options = {"foreground": True, "max_idle_threads": 8, **options}
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.connection: int | None = None  # the FUSE connection's number (fusectl)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 20.0, error: type[Exception] = FuseError) -> None:
        mfusepy = import_mfusepy()  # loads libfuse; here only, so that `station` starts fast

        def run() -> None:
            try:
                mfusepy.FUSE(self.ops, self.mountpoint, **self.options)
            except BaseException as e:  # reported by start() or stop()
                self.error = e

        self._thread = threading.Thread(target=run, name="fuse-loop", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.ops.initialized.wait(0.05):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread.join(1.0)
                why = f": {self.error}" if self.error else ""
                self.stop()
                raise error(f"FUSE mount at {self.mountpoint} failed{why}")
        self.connection = os.minor(os.stat(self.mountpoint).st_dev)

    def stop(self, timeout: float = 1.0) -> None:
        """Lazy-unmount and end the loop (safe to call twice)."""
        if is_mountpoint(self.mountpoint):
            lazy_unmount(self.mountpoint)
        if self._thread is None:
            return
        self._thread.join(min(timeout, 0.2))
        if self._thread.is_alive() and self.connection is not None:
            abort = Path(f"/sys/fs/fuse/connections/{self.connection}/abort")
            with contextlib.suppress(OSError):
                abort.write_text("1")
        self._thread.join(timeout)


def serve_until_signal(
    start: Callable[[], None], stop: Callable[[], None], alive: Callable[[], bool], announce
) -> int:
    """Start, announce, serve until SIGINT/SIGTERM/SIGHUP (or the mount goes away), stop."""
    done = threading.Event()

    def on_signal(signum, frame) -> None:
        done.set()

    # Our handlers go in first: libfuse installs its own only over SIG_DFL.
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    parent = os.environ.get(PARENT_ENV)
    if parent:
        die_with_parent(int(parent))
    try:
        start()
        if not done.is_set():
            announce()
        while not done.wait(0.5):
            if not alive():  # unmounted from outside, or the loop failed
                break
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean-up
        stop()
    return 0


def die_with_parent(pid: int) -> None:
    """Get SIGTERM when the parent dies (no orphaned mount after a crashed test or bench)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != pid:  # the parent died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


def terminate(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM (the server's clean stop), SIGKILL if it does not end in time; reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def read_line(proc: subprocess.Popen, timeout: float) -> str | None:
    """The first line the child prints; "" if it ends first, None if it times out."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return ""
        buf += chunk
    return buf.split(b"\n", 1)[0].decode()
