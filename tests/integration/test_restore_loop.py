"""`station restore` and `station clone` onto real block devices: loop devices over files in tmp_path.

A GPT made by sgdisk, restored onto a larger and a smaller loop device, must pass `sgdisk -v`;
targets too small, with other sector sizes, read-only, mounted or without --force are refused
with nothing written; a loop device over a disk that starts failing is dropped while the others
are written.  Needs root and losetup; every loop device is detached however the test ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from failing_disk import failing_disk  # noqa: E402
from looplab import LoopLab  # noqa: E402

MiB = 1 << 20

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root"),
    pytest.mark.skipif(shutil.which("losetup") is None, reason="losetup (util-linux) is not installed"),
    pytest.mark.skipif(not os.path.exists("/dev/loop-control"), reason="no loop driver"),
]


def run(*cmd: object, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=check, timeout=60)


def drive(lab: LoopLab, name: str, size: int, *, fill: bytes = b"\0", **kw) -> str:
    """A loop device over a new file filled with one byte (so a stray write shows)."""
    return lab.attach(lab.image(name, size, fill * size if fill != b"\0" else b""), **kw)


def read(dev: str, pos: int, size: int) -> bytes:
    fd = os.open(dev, os.O_RDONLY)
    try:
        return os.pread(fd, size, pos)
    finally:
        os.close(fd)


@pytest.fixture
def gpt_image(tmp_path: Path, kit) -> Path:
    """64 MiB with a GPT (sgdisk): two partitions full of data, and free space after them."""
    if shutil.which("sgdisk") is None:
        pytest.skip("sgdisk (gdisk) is not installed")
    img = kit.make_source(tmp_path / "gpt.img", 64 * MiB)
    with open(img, "r+b") as f:  # the table's own sectors start clean
        f.write(bytes(MiB))
        f.seek(63 * MiB)
        f.write(bytes(MiB))
    run("sgdisk", "-n", "1:2048:+20M", "-t", "1:8300", "-n", "2:0:+30M", "-t", "2:0700", img)
    assert "No problems found" in run("sgdisk", "-v", img).stdout
    return img


def partitions(dev: str | Path) -> list[str]:
    return [line for line in run("sgdisk", "-p", dev).stdout.splitlines() if line.strip()[:1].isdigit()]


def test_gpt_onto_a_larger_drive_is_valid(kit, gpt_image: Path, lab: LoopLab) -> None:
    big = drive(lab, "big", 96 * MiB, fill=b"\xa5")
    r = kit.station("restore", gpt_image, big, "--force")
    assert r.returncode == 0, r.stderr
    v = run("sgdisk", "-v", big)
    assert "No problems found" in v.stdout, v.stdout
    assert partitions(big) == partitions(gpt_image)
    last = 96 * MiB // 512 - 1
    assert read(big, last * 512, 8) == b"EFI PART", "the backup header is on the last sector"
    assert read(big, 64 * MiB - 512, 512) == bytes(512), "the image's old backup header is zeroed"
    assert f"{big}: GPT: backup header and table moved to the end (LBA {last})" in r.stderr
    assert kit.station("verify", big, "--against", gpt_image).returncode == 0
    for p in (1, 2):  # the partitions' bytes are the image's
        first = int(partitions(big)[p - 1].split()[1]) * 512
        assert read(big, first, MiB) == gpt_image.read_bytes()[first : first + MiB]


def test_gpt_onto_a_smaller_drive_that_holds_the_partitions(kit, gpt_image: Path, lab: LoopLab) -> None:
    small = drive(lab, "small", 56 * MiB)
    r = kit.station("restore", gpt_image, small, "--force")
    assert r.returncode == 0, r.stderr
    assert "No problems found" in run("sgdisk", "-v", small).stdout
    assert partitions(small) == partitions(gpt_image)
    assert kit.station("verify", small, "--against", gpt_image).returncode == 0


def test_mbr_is_copied_as_it_is(kit, tmp_path: Path, lab: LoopLab) -> None:
    img = kit.make_source(tmp_path / "mbr.img", 32 * MiB)
    with open(img, "r+b") as f:
        f.write(bytes(MiB))
    subprocess.run(["sfdisk", str(img)], input="2048,20480,83\n", text=True, capture_output=True, check=True)
    backing = lab.image("big", 48 * MiB)
    run("sgdisk", "-o", backing)  # the drive held a GPT before: its backup header is on the last sector
    big = lab.attach(backing)
    assert read(big, 48 * MiB - 512, 8) == b"EFI PART"
    r = kit.station("restore", img, big, "--force")
    assert r.returncode == 0, r.stderr
    assert read(big, 0, 32 * MiB) == img.read_bytes()
    dump = run("sfdisk", "-d", big).stdout
    assert "start=        2048, size=       20480, type=83" in dump
    assert read(big, 48 * MiB - 512, 512) == bytes(512), "no stale GPT left on a restored MBR disk"
    assert "an earlier disk's backup GPT header, zeroed" in r.stderr


def test_a_damaged_primary_gpt_is_rebuilt_from_the_backup(kit, gpt_image: Path, lab: LoopLab) -> None:
    with open(gpt_image, "r+b") as f:
        f.seek(512 + 16)
        f.write(b"\xde\xad\xbe\xef")  # the header's CRC: the primary is damaged
    said = run("sgdisk", "-v", gpt_image, check=False)
    assert "Main header: ERROR" in said.stdout + said.stderr
    big = drive(lab, "big", 80 * MiB)
    r = kit.station("restore", gpt_image, big, "--force")
    assert r.returncode == 0, r.stderr
    assert "primary header and table rebuilt from the backup" in r.stderr
    said = run("sgdisk", "-v", big)
    assert "No problems found" in said.stdout and "ERROR" not in said.stdout + said.stderr
    assert len(partitions(big)) == 2


def test_refusals_on_drives_write_nothing(kit, gpt_image: Path, lab: LoopLab, tmp_path: Path) -> None:
    tiny = drive(lab, "tiny", 40 * MiB, fill=b"\x11")
    four_k = drive(lab, "fourk", 96 * MiB, sector_size=4096, fill=b"\x22")
    ro = drive(lab, "ro", 96 * MiB, read_only=True, fill=b"\x33")
    free = drive(lab, "free", 96 * MiB, fill=b"\x44")
    mounted = drive(lab, "mounted", 96 * MiB)
    lab.mkfs(mounted)
    lab.mount(mounted)
    by_id = tmp_path / "free-link"
    by_id.symlink_to(free)
    cases = {
        tiny: "the image needs",
        four_k: "4096-byte logical sectors",
        ro: "read-only",
        mounted: "in use",
    }
    before = {d: read(d, 0, MiB) + read(d, 40 * MiB - MiB, MiB) for d in (tiny, four_k, ro, free)}
    for dev, words in cases.items():
        r = kit.station("restore", gpt_image, free, dev, "--force")
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = kit.station("restore", gpt_image, free)
    assert r.returncode == 2 and "--force" in r.stderr
    r = kit.station("restore", gpt_image, free, by_id, "--force")
    assert r.returncode == 2 and "the same target" in r.stderr
    after = {d: read(d, 0, MiB) + read(d, 40 * MiB - MiB, MiB) for d in before}
    assert after == before, "a refused restore wrote to a drive"


def test_the_system_disk_is_refused(monkeypatch: pytest.MonkeyPatch, lab: LoopLab) -> None:
    from station.jobs import targets
    from station.media import blockdev
    from station.media.base import Refused

    dev = drive(lab, "sys", 8 * MiB)
    monkeypatch.setattr(targets, "system_disks", lambda: {blockdev.block_rdev(dev)})
    with pytest.raises(Refused, match="the running system"):
        targets.check_targets([dev], ["/nonexistent"], force=True)


def test_a_failing_drive_is_dropped_and_the_others_written(
    kit, gpt_image: Path, lab: LoopLab, tmp_path: Path
) -> None:
    if shutil.which("fusermount3") is None or not os.path.exists("/dev/fuse"):
        pytest.skip("needs FUSE")
    good = drive(lab, "good", 64 * MiB)
    with failing_disk(tmp_path, 64 * MiB, fail_after=9 * MiB) as (disk, _server):
        bad = lab.attach(disk)
        r = kit.station("restore", gpt_image, bad, good, "--force")
    assert r.returncode == 1, r.stderr
    row = next(line for line in r.stderr.splitlines() if line.startswith(bad))
    assert "failed: input/output error writing at byte" in row
    assert read(good, 0, 64 * MiB) == gpt_image.read_bytes()
    assert kit.station("verify", good, "--against", gpt_image).returncode == 0


def test_clone_onto_two_drives(kit, tmp_path: Path, lab: LoopLab, xdg_data_home: Path) -> None:
    src = kit.make_source(tmp_path / "src.bin", 16 * MiB)
    a, b = drive(lab, "a", 16 * MiB), drive(lab, "b", 20 * MiB)
    r = kit.station("clone", src, a, b, "--force", "-q")
    assert r.returncode == 0, r.stderr
    assert read(a, 0, 16 * MiB) == src.read_bytes() == read(b, 0, 16 * MiB)
    maps = list((xdg_data_home / "station" / "sessions" / "maps").glob("clone-*.map"))
    assert len(maps) == 1 and not Path(a + ".map").exists()
