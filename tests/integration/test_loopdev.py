"""The media layer against real kernel block devices: loop devices over files in tmp_path.

Needs root and losetup.  Every loop device, mount and swap made here is undone in the fixture's
teardown, also when a test fails.  Partitions: the MBR is written by the test itself; if the
kernel has no partition-table parser (losetup -P finds nothing), `partx --add` registers them.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from station.media import blockdev
from station.media.base import Refused
from station.media.safety import check_job, check_not_source
from station.media.sink import open_sink
from station.media.source import aligned_buffer, open_source

sys.path.insert(0, str(Path(__file__).parents[1]))
from looplab import LoopLab, run  # noqa: E402

MiB = 1024 * 1024

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root"),
    pytest.mark.skipif(shutil.which("losetup") is None, reason="losetup (util-linux) is not installed"),
    pytest.mark.skipif(not os.path.exists("/dev/loop-control"), reason="no loop driver (/dev/loop-control)"),
]


def pattern(size: int) -> bytes:
    """Bytes that differ from sector to sector, so a misplaced read shows."""
    return b"".join(i.to_bytes(8, "little") * 64 for i in range(size // 512))


def fd_flags(fd: int) -> int:
    for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("flags:"):
            return int(line.split()[1], 8)
    raise AssertionError("no flags line")


def readahead_of(dev: str) -> int:
    fd = os.open(dev, os.O_RDONLY)
    try:
        return blockdev.get_readahead(fd)
    finally:
        os.close(fd)


def set_readahead_of(dev: str, sectors: int) -> None:
    fd = os.open(dev, os.O_RDONLY)
    try:
        blockdev.set_readahead(fd, sectors)
    finally:
        os.close(fd)


def refusal(call: Callable[[], object]) -> str:
    with pytest.raises(Refused) as err:
        call()
    assert "\n" not in str(err.value)
    return str(err.value)


# --- Source on a block device -----------------------------------------------------------------


@pytest.mark.parametrize("sector", [512, 4096])
def test_size_and_sector_size_come_from_the_kernel(lab: LoopLab, sector: int) -> None:
    backing = lab.image("disk.img", 4 * MiB)
    dev = lab.attach(backing, sector_size=sector)
    with open_source(dev) as src:
        assert src.identity.kind == "block"
        assert (src.size, src.sector_size) == (4 * MiB, sector)
        assert src.identity.physical_sector_size >= sector
        assert src.identity.device == blockdev.dev_string(os.stat(dev).st_rdev)
        assert src.identity.extra["backing_file"] == str(backing)
        assert src.alignment == 1  # buffered unless asked


def test_readahead_is_off_while_open_and_restored_after(lab: LoopLab) -> None:
    dev = lab.attach(lab.image("disk.img", 4 * MiB))
    set_readahead_of(dev, 1024)
    src = open_source(dev)
    assert readahead_of(dev) == 0
    src.reopen()
    assert readahead_of(dev) == 0
    src.close()
    assert readahead_of(dev) == 1024
    with open_source(dev):
        assert readahead_of(dev) == 0
    assert readahead_of(dev) == 1024
    with open_source(dev, readahead_off=False):
        assert readahead_of(dev) == 1024


def test_block_source_fd_is_read_only(lab: LoopLab) -> None:
    dev = lab.attach(lab.image("disk.img", MiB))
    with open_source(dev) as src:
        assert fd_flags(src.fd) & os.O_ACCMODE == os.O_RDONLY
        with pytest.raises(OSError) as err:
            os.pwrite(src.fd, b"x", 0)
        assert err.value.errno == errno.EBADF


def test_direct_reads_with_aligned_buffers(lab: LoopLab) -> None:
    data = pattern(4 * MiB)
    dev = lab.attach(lab.image("disk.img", 4 * MiB, data), sector_size=4096)
    with open_source(dev, direct=True) as src:
        assert fd_flags(src.fd) & os.O_DIRECT
        assert fd_flags(src.fd) & os.O_ACCMODE == os.O_RDONLY
        assert src.alignment == 4096
        buf = aligned_buffer(64 * 1024)
        assert src.read_into(MiB, buf) == len(buf)
        assert bytes(buf) == data[MiB : MiB + len(buf)]
        assert src.read_into(4 * MiB - 8192, buf) == 8192  # short only at the end
        assert bytes(buf[:8192]) == data[-8192:]
        with pytest.raises(OSError) as err:  # the kernel enforces O_DIRECT: it is really on
            src.read_into(512, buf[:4096])
        assert err.value.errno == errno.EINVAL


def test_reopen_reads_the_same_device(lab: LoopLab) -> None:
    data = pattern(MiB)
    dev = lab.attach(lab.image("disk.img", MiB, data))
    with open_source(dev) as src:
        src.reopen()
        buf = memoryview(bytearray(4096))
        assert src.read_into(8192, buf) == 4096
        assert bytes(buf) == data[8192 : 8192 + 4096]


# --- dest is the source ------------------------------------------------------------------------


def test_dest_is_the_source_drive_under_another_name(lab: LoopLab, tmp_path: Path) -> None:
    dev = lab.attach(lab.image("disk.img", MiB))
    link = tmp_path / "by-id-link"
    link.symlink_to(dev)
    node = tmp_path / "second-node"
    os.mknod(node, 0o600 | 0o060000, os.stat(dev).st_rdev)  # S_IFBLK: same dev_t, another name
    for dest in (dev, str(link), str(node)):
        message = refusal(lambda d=dest: check_job(dev, d, str(tmp_path / "m.map"), force=True))
        assert message == f"refusing: {dest} is the source drive ({dev})"
    with pytest.raises(Refused, match="is the source drive"):
        open_sink(str(link), size=MiB, create=False, source=dev)


def test_dest_is_the_backing_file_of_the_source_loop(lab: LoopLab, tmp_path: Path) -> None:
    backing = lab.image("disk.img", MiB, b"keep")
    dev = lab.attach(backing)
    message = refusal(lambda: check_job(dev, str(backing), str(tmp_path / "m.map"), force=True))
    assert message == f"refusing: {backing} is the backing file of the source loop device ({dev})"
    assert backing.read_bytes()[:4] == b"keep"


def test_dest_is_a_loop_device_over_the_source_file(lab: LoopLab, tmp_path: Path) -> None:
    source = lab.image("disk.img", MiB)
    dev = lab.attach(source)
    message = refusal(lambda: check_job(str(source), dev, str(tmp_path / "m.map"), force=True))
    assert message == f"refusing: {dev} is a loop device over {source}, which is the source file ({source})"


def test_dest_image_attached_as_a_loop_device(lab: LoopLab, tmp_path: Path) -> None:
    source = lab.image("src.img", MiB, b"S")
    dest = lab.image("dest.img", MiB, b"D")
    loop = lab.attach(dest)
    message = refusal(lambda: check_job(str(source), str(dest), str(tmp_path / "m.map"), force=True))
    assert message == f"refusing: {dest} is in use as the backing file of {loop}"


def test_dest_on_a_filesystem_on_the_source_drive(lab: LoopLab, tmp_path: Path) -> None:
    dev = lab.attach(lab.image("disk.img", 16 * MiB))
    lab.mkfs(dev)
    point = lab.mount(dev)
    new = point / "image.img"
    message = refusal(lambda: check_job(dev, str(new), str(tmp_path / "m.map"), force=True))
    assert message == f"refusing: {new} would be written on a filesystem on the source drive ({dev})"
    (point / "old.img").write_bytes(b"x")
    message = refusal(lambda: check_job(dev, str(point / "old.img"), str(tmp_path / "m.map"), force=True))
    assert message == f"refusing: {point / 'old.img'} lives on a filesystem on the source drive ({dev})"
    message = refusal(lambda: check_job(dev, str(tmp_path / "d.img"), str(point / "m.map"), force=True))
    assert message.startswith(f"refusing: mapfile {point / 'm.map'} would be written on a filesystem")
    assert not new.exists() and not (point / "m.map").exists()


def test_dest_drive_holds_the_source_file(lab: LoopLab, tmp_path: Path) -> None:
    dev = lab.attach(lab.image("disk.img", 16 * MiB))
    lab.mkfs(dev)
    point = lab.mount(dev)
    source = point / "evidence.img"
    source.write_bytes(b"E" * 4096)
    message = refusal(lambda: check_job(str(source), dev, str(tmp_path / "m.map"), force=True))
    assert message == f"refusing: {dev} holds the source file ({source})"


# --- partitions -----------------------------------------------------------------------------------


def test_partitions_of_the_source_drive(lab: LoopLab, tmp_path: Path) -> None:
    disk, (p1, p2) = lab.attach_partitioned(lab.image("disk.img", 8 * MiB), [(2048, 4096), (6144, 8192)])
    disk_rdev, p1_rdev, p2_rdev = (os.stat(d).st_rdev for d in (disk, p1, p2))
    assert blockdev.partitions(disk_rdev) == [p1_rdev, p2_rdev]
    assert blockdev.is_partition(p1_rdev) and not blockdev.is_partition(disk_rdev)
    assert blockdev.whole_disk(p2_rdev) == disk_rdev
    assert blockdev.size_bytes(p1_rdev) == 4096 * 512
    with open_source(p1) as src:
        assert src.size == 4096 * 512
    mapfile = str(tmp_path / "m.map")
    assert refusal(lambda: check_job(disk, p1, mapfile, force=True)) == (
        f"refusing: {p1} is a partition of the source drive ({disk})"
    )
    assert refusal(lambda: check_job(p1, disk, mapfile, force=True)) == (
        f"refusing: {disk} is the disk that holds the source partition ({p1})"
    )
    assert refusal(lambda: check_job(p1, p2, mapfile, force=True)) == (
        f"refusing: {p2} is on the same drive as the source ({p1})"
    )


def test_dest_drive_with_a_mounted_partition(lab: LoopLab, tmp_path: Path) -> None:
    source = lab.image("src.img", MiB, b"S")
    disk, (p1, _) = lab.attach_partitioned(lab.image("disk.img", 8 * MiB), [(2048, 4096), (6144, 8192)])
    lab.mkfs(p1)
    point = lab.mount(p1)
    assert blockdev.in_use(os.stat(disk).st_rdev) == [f"{p1} is mounted at {point}"]
    message = refusal(lambda: check_job(str(source), disk, str(tmp_path / "m.map"), force=True))
    assert message == f"refusing: {disk} is in use ({p1} is mounted at {point})"
    with pytest.raises(Refused, match="is in use"):
        open_sink(disk, size=MiB, create=False)  # O_EXCL: the kernel says EBUSY


def test_dest_partition_in_use_as_swap(lab: LoopLab, tmp_path: Path) -> None:
    if shutil.which("swapon") is None or shutil.which("mkswap") is None:
        pytest.skip("swapon/mkswap are not installed")
    source = lab.image("src.img", MiB, b"S")
    disk, (_, p2) = lab.attach_partitioned(lab.image("disk.img", 8 * MiB), [(2048, 4096), (6144, 8192)])
    lab.swapon(p2)
    for dest in (disk, p2):
        message = refusal(lambda d=dest: check_job(str(source), d, str(tmp_path / "m.map"), force=True))
        assert message == f"refusing: {dest} is in use ({p2} is in use as swap)"


# --- a drive as the dest ---------------------------------------------------------------------------


def test_mounted_dest_drive_is_refused(lab: LoopLab, tmp_path: Path) -> None:
    source = lab.image("src.img", MiB, b"S")
    dest = lab.attach(lab.image("dest.img", 16 * MiB))
    lab.mkfs(dest)
    point = lab.mount(dest)
    message = refusal(lambda: check_job(str(source), dest, str(tmp_path / "m.map"), force=True))
    assert message == f"refusing: {dest} is in use ({dest} is mounted at {point})"
    assert refusal(lambda: open_sink(dest, size=MiB, create=False)).startswith(f"refusing: {dest} is in use")


def test_clone_to_a_drive(lab: LoopLab, tmp_path: Path) -> None:
    data = pattern(MiB)
    source = lab.image("src.img", MiB, data)
    backing = lab.image("dest.img", 2 * MiB, b"\xee" * (2 * MiB))
    dest = lab.attach(backing)
    mapfile = str(tmp_path / "m.map")
    message = refusal(lambda: check_job(str(source), dest, mapfile, force=False))
    assert message.startswith(f"refusing: {dest} already exists and there is no mapfile")
    check_job(str(source), dest, mapfile, force=True)
    with (
        open_source(str(source)) as src,
        open_sink(dest, size=src.size, create=False, source=src.identity) as sink,
    ):
        assert sink.kind == "block" and sink.size == 2 * MiB
        buf = memoryview(bytearray(256 * 1024))
        for pos in range(0, src.size, len(buf)):
            n = src.read_into(pos, buf)
            sink.write_at(pos, buf[:n])
        sink.sync()
    assert backing.read_bytes() == data + b"\xee" * MiB
    with pytest.raises(Refused, match=r"holds 2097152 bytes, less than the 4194304 needed"):
        open_sink(dest, size=4 * MiB, create=False)


def test_dest_drive_smaller_than_the_source(lab: LoopLab, tmp_path: Path) -> None:
    source = lab.image("src.img", 4 * MiB, b"S")
    dest = lab.attach(lab.image("dest.img", MiB))
    message = refusal(lambda: check_job(str(source), dest, str(tmp_path / "m.map"), force=True))
    assert message == f"refusing: {dest} holds {MiB} bytes, less than the source's {4 * MiB}"


def test_full_filesystem_raises_enospc(lab: LoopLab, tmp_path: Path) -> None:
    point = tmp_path / "small"
    point.mkdir()
    run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point))
    lab._undo.append(lambda: LoopLab._umount(point))
    with open_sink(str(point / "x.img"), size=8 * MiB, create=True) as sink:
        with pytest.raises(OSError) as err:
            for pos in range(0, 8 * MiB, 256 * 1024):
                sink.write_at(pos, memoryview(b"z" * 256 * 1024))
        assert err.value.errno == errno.ENOSPC


def test_check_not_source_guards_a_partition_source_by_identity(lab: LoopLab, tmp_path: Path) -> None:
    disk, (p1, _) = lab.attach_partitioned(lab.image("disk.img", 8 * MiB), [(2048, 4096), (6144, 8192)])
    with open_source(p1) as src:
        identity = src.identity
    with pytest.raises(Refused, match="is the disk that holds the source partition"):
        check_not_source(identity, disk)
    check_not_source(identity, str(tmp_path / "fine.img"))


# --- a filesystem that lives on the source (issue 10, §3.2) ----------------------------------------


def test_dest_on_a_filesystem_inside_the_source_file(lab: LoopLab, tmp_path: Path, kit) -> None:
    source = lab.image("fs.img", 16 * MiB)
    lab.mkfs(str(source))
    loop = lab.attach(source)
    point = lab.mount(loop)
    why = f"a filesystem in the source file (through {loop}) ({source})"
    dest, mapfile = point / "x.img", tmp_path / "m.map"
    assert refusal(lambda: check_job(str(source), str(dest), str(mapfile), force=True)) == (
        f"refusing: {dest} would be written on {why}"
    )
    assert refusal(
        lambda: check_job(str(source), str(tmp_path / "d.img"), str(point / "m.map"), force=True)
    ) == (f"refusing: mapfile {point / 'm.map'} would be written on {why}")
    (point / "old.img").write_bytes(b"x")
    assert refusal(lambda: check_job(str(source), str(point / "old.img"), str(mapfile), force=True)) == (
        f"refusing: {point / 'old.img'} lives on {why}"
    )
    run("sync")
    before = (source.read_bytes(), source.stat().st_mtime_ns)
    r = kit.station("image", "-q", source, dest, mapfile)
    assert r.returncode == 2 and r.stderr == f"station: refusing: {dest} would be written on {why}\n"
    assert not dest.exists() and not mapfile.exists()
    run("sync")
    assert (source.read_bytes(), source.stat().st_mtime_ns) == before


def test_dest_on_a_partition_of_the_source_file(lab: LoopLab, tmp_path: Path) -> None:
    source = lab.image("disk.img", 8 * MiB)
    disk, (p1, _) = lab.attach_partitioned(source, [(2048, 4096), (6144, 8192)])
    lab.mkfs(p1)
    point = lab.mount(p1)
    assert refusal(
        lambda: check_job(str(source), str(point / "x.img"), str(tmp_path / "m.map"), force=True)
    ) == (
        f"refusing: {point / 'x.img'} would be written on a filesystem in the source file (through {disk})"
        f" ({source})"
    )


@pytest.mark.skipif(shutil.which("dmsetup") is None, reason="dmsetup is not installed")
def test_dest_on_a_device_mapper_volume_over_the_source_file(lab: LoopLab, tmp_path: Path) -> None:
    source = lab.image("pv.img", 16 * MiB)
    loop = lab.attach(source)
    mapped = lab.dm_linear(loop, 16 * MiB // 512)
    lab.mkfs(mapped)
    point = lab.mount(mapped)
    message = refusal(
        lambda: check_job(str(source), str(point / "x.img"), str(tmp_path / "m.map"), force=True)
    )
    assert message == (
        f"refusing: {point / 'x.img'} would be written on a filesystem in the source file (through {loop})"
        f" ({source})"
    )
    assert refusal(lambda: check_not_source(str(source), mapped)) == (
        f"refusing: {mapped} is built on the source file (through {loop}) ({source})"
    )


def test_dest_on_a_filesystem_in_a_file_on_the_source_drive(lab: LoopLab, tmp_path: Path) -> None:
    drive = lab.attach(lab.image("disk.img", 32 * MiB))
    lab.mkfs(drive)
    outer = lab.mount(drive)
    inner_img = outer / "inner.img"
    inner_img.write_bytes(b"")
    os.truncate(inner_img, 8 * MiB)
    lab.mkfs(str(inner_img))
    inner = lab.mount(lab.attach(inner_img))
    message = refusal(lambda: check_job(drive, str(inner / "x.img"), str(tmp_path / "m.map"), force=True))
    assert (
        message
        == f"refusing: {inner / 'x.img'} would be written on a filesystem on the source drive ({drive})"
    )
