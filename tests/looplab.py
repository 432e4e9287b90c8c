"""Loop devices, filesystems, mounts and swaps for the tests on real block devices (root, losetup).

`LoopLab.undo()` reverses everything a test made, also when it fails.  Partitions: the MBR is
written by the test itself; if the kernel has no partition-table parser (losetup -P finds
nothing), `partx --add` registers them.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from station.media import blockdev


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def write_mbr(path: Path, parts: list[tuple[int, int]]) -> None:
    """A DOS partition table with Linux partitions at (first sector, sectors); no sfdisk needed."""
    mbr = bytearray(512)
    for i, (start, count) in enumerate(parts):
        entry = struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", start, count)
        mbr[446 + 16 * i : 462 + 16 * i] = entry
    mbr[510:512] = b"\x55\xaa"
    with open(path, "r+b") as f:
        f.write(mbr)


class LoopLab:
    """Loop devices, filesystems, mounts and swaps for one test; undo() reverses all of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._undo: list[Callable[[], None]] = []

    def image(self, name: str, size: int, data: bytes = b"") -> Path:
        path = self.root / name
        path.write_bytes(data)
        os.truncate(path, size)
        return path

    def attach(
        self,
        backing: Path,
        *,
        sector_size: int | None = None,
        partscan: bool = False,
        read_only: bool = False,
    ) -> str:
        cmd = ["losetup", "--find", "--show"]
        if sector_size:
            cmd += ["--sector-size", str(sector_size)]
        if partscan:
            cmd.append("--partscan")
        if read_only:
            cmd.append("--read-only")
        dev = run(*cmd, str(backing))
        self._undo.append(lambda: run("losetup", "--detach", dev))
        return dev

    def attach_partitioned(self, backing: Path, parts: list[tuple[int, int]]) -> tuple[str, list[str]]:
        """Attach a disk image with an MBR; return the loop device and its partition nodes."""
        write_mbr(backing, parts)
        dev = self.attach(backing, partscan=True)
        names = [f"{dev}p{i + 1}" for i in range(len(parts))]
        if not self._wait_for(names, 1.0):
            if shutil.which("partx") is None:
                pytest.skip("the kernel found no partitions and partx is not installed")
            run("partx", "--add", dev)
            if not self._wait_for(names, 5.0):
                pytest.skip("no partition devices appeared for the loop device")
        return dev, names

    @staticmethod
    def _wait_for(paths: list[str], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if all(os.path.exists(p) and blockdev.block_rdev(p) is not None for p in paths):
                return True
            time.sleep(0.05)
        return False

    def dm_linear(self, dev: str, sectors: int) -> str:
        """A device-mapper linear volume over dev (a holder of it), removed at teardown."""
        if subprocess.run(["dmsetup", "targets"], capture_output=True).returncode != 0:
            pytest.skip("no device-mapper in this kernel")
        name = f"station-test-{os.getpid()}-{len(self._undo)}"
        table = f"0 {sectors} linear {dev} 0\n"
        subprocess.run(["dmsetup", "create", name], input=table, check=True, text=True, capture_output=True)
        self._undo.append(lambda: run("dmsetup", "remove", "--retry", name))
        path = f"/dev/mapper/{name}"
        if not self._wait_for([path], 5.0):
            pytest.skip("no device node appeared for the device-mapper volume")
        return path

    def mkfs(self, dev: str) -> None:
        if shutil.which("mkfs.ext4") is None:
            pytest.skip("mkfs.ext4 (e2fsprogs) is not installed")
        run("mkfs.ext4", "-q", "-F", dev)

    def mount(self, dev: str) -> Path:
        point = self.root / f"mnt{len(self._undo)}"
        point.mkdir()
        run("mount", dev, str(point))
        self._undo.append(lambda: self._umount(point))
        return point

    @staticmethod
    def _umount(point: Path) -> None:
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            run("umount", "--lazy", str(point))

    def swapon(self, dev: str) -> None:
        run("mkswap", dev)
        run("swapon", dev)
        self._undo.append(lambda: run("swapoff", dev))

    def undo(self) -> list[str]:
        errors = []
        while self._undo:
            step = self._undo.pop()
            try:
                step()
            except (subprocess.CalledProcessError, OSError) as err:
                errors.append(str(err))
        return errors
