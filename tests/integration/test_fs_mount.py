"""The image mount: disk and partitions as files over FUSE, used by mount -o ro,loop and TSK."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest
from fsimages import MiB, content, ext_truth, have, make_disk, make_ext, make_fat

from station.fs.mount import MountError, mounted
from station.rescue.mapfile import write_mapfile
from station.rescue.rescuemap import RescueMap, Status

FILES = {"/a.txt": 100, "/docs/report.bin": 70_000}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"), reason="needs root and /dev/fuse"
)


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    if not have("sfdisk", "mkfs.ext4", "debugfs", "mkfs.vfat", "mcopy", "fls"):
        pytest.skip("needs sfdisk, e2fsprogs, dosfstools, mtools, sleuthkit")
    d = tmp_path_factory.mktemp("mdisk")
    make_ext(d / "p1.img", 8 * MiB, FILES)
    make_fat(d / "p5.img", 8 * MiB, FILES, bits=12)
    image = d / "disk.img"
    starts = make_disk(
        image,
        24 * MiB,
        "mbr",
        [(8 * MiB, d / "p1.img", "83"), (2 * MiB, None, "7"), (8 * MiB, d / "p5.img", "1")],
    )
    report = [
        (lo + starts[0], hi + starts[0]) for lo, hi in ext_truth(d / "p1.img", "/docs/report.bin", 1024)
    ]
    return image, starts, report


def test_disk_and_partitions_mount_and_read(disk, tmp_path) -> None:
    image, starts, _ = disk
    mnt, fsdir = tmp_path / "mnt", tmp_path / "fs"
    mnt.mkdir()
    fsdir.mkdir()
    with mounted(image, mnt) as mi:
        assert sorted(os.listdir(mnt)) == ["disk", "p1", "p2", "p5"]
        assert (mnt / "disk").stat().st_size == image.stat().st_size
        assert (mnt / "p1").stat().st_size == 8 * MiB
        with open(mnt / "p5", "rb") as f, open(image, "rb") as g:
            g.seek(starts[2])
            assert f.read(MiB) == g.read(MiB)
        subprocess.run(["mount", "-o", "ro,loop", str(mnt / "p1"), str(fsdir)], check=True, timeout=30)
        try:
            assert (fsdir / "docs" / "report.bin").read_bytes() == content("/docs/report.bin", 70_000)
        finally:
            subprocess.run(["umount", str(fsdir)], check=True, timeout=30)
        names = subprocess.run(
            ["fls", "-r", str(mnt / "p5")], capture_output=True, text=True, check=True
        ).stdout
        assert "report.bin" in names and "a.txt" in names
        with pytest.raises(OSError) as e:
            os.open(mnt / "disk", os.O_WRONLY)
        assert e.value.errno in (errno.EROFS, errno.EACCES)
        assert mi.files == ["disk", "p1", "p2", "p5"]
    assert os.listdir(mnt) == []  # unmounted on leaving


def test_unrescued_bytes_read_as_zeros_or_fail_with_eio(disk, tmp_path) -> None:
    image, starts, report = disk
    lo = report[0][0]
    m = RescueMap(image.stat().st_size, Status.FINISHED)
    m.set_status(lo, 4096, Status.BAD_SECTOR)
    mapfile = tmp_path / "disk.map"
    write_mapfile(mapfile, m)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with mounted(image, mnt, mapfile=mapfile), open(mnt / "disk", "rb") as f:
        f.seek(lo)
        assert f.read(4096) == bytes(4096)
    with mounted(image, mnt, mapfile=mapfile, eio=True):
        fd = os.open(mnt / "p1", os.O_RDONLY)
        try:
            assert len(os.pread(fd, 4096, 0)) == 4096  # rescued: fine
            with pytest.raises(OSError) as e:
                os.pread(fd, 4096, lo - starts[0])
            assert e.value.errno == errno.EIO
        finally:
            os.close(fd)


def test_refusals_are_one_line(tmp_path, disk) -> None:
    image, _, _ = disk
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(MountError) as e, mounted(image, tmp_path / "full"):
        pass
    assert "not empty" in str(e.value) and "\n" not in str(e.value)
