"""affected() and extract() on real filesystems made by their own tools, against independent truth.

Each filesystem holds the same files of known content.  The truth about where a file lies comes
from other tools than the library (debugfs for ext, mtools' mshowfat for FAT, Debian's
sleuthkit CLI for exFAT, NTFS and HFS+), and the damage is placed from that truth: inside
/big.bin's first extent, in /docs/report.bin's last allocated sector (slack: listed, yet its
content extracts whole), and in free space (nothing listed).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fsimages import (
    MiB,
    content,
    exfat_heap,
    ext_inode_place,
    ext_truth,
    fat_truth,
    have,
    make_exfat,
    make_ext,
    make_fat,
    make_hfsplus,
    make_ntfs,
    overlaps,
    run,
    tsk_truth,
)

from station.fs import affected, extract, open_disk
from station.images.reader import RawImageReader
from station.rescue.rescuemap import RescueMap, Status

FILES = {
    "/a.txt": 100,
    "/empty.txt": 0,
    "/big.bin": 300_000,
    "/docs/report.bin": 70_000,
    "/docs/deep/x.bin": 30_000,
    "/pics/p1.bin": 12_000,
    "/pics/p2.bin": 50_000,
}
KINDS = ["ext4", "ext2", "fat12", "fat16", "fat32", "exfat", "ntfs", "hfs+"]
TOOLS = {
    "ext4": ["mkfs.ext4", "debugfs"],
    "ext2": ["mkfs.ext2", "debugfs"],
    "fat12": ["mkfs.vfat", "mcopy", "mshowfat"],
    "fat16": ["mkfs.vfat", "mcopy", "mshowfat"],
    "fat32": ["mkfs.vfat", "mcopy", "mshowfat"],
    "exfat": ["mkfs.exfat", "mount.exfat-fuse", "istat", "losetup"],
    "ntfs": ["mkntfs", "ntfs-3g", "istat"],
    "hfs+": ["istat"],
}
FUSE_NEEDED = {"exfat", "ntfs"}


def build(kind: str, image: Path) -> dict[str, list[tuple[int, int]]]:
    """Make the image; return the truth: path -> allocated byte ranges."""
    if kind in ("ext4", "ext2"):
        make_ext(image, 16 * MiB, FILES, kind=kind, block_size=1024)
        return {p: ext_truth(image, p, 1024) for p in FILES}
    if kind.startswith("fat"):
        bits = int(kind[3:])
        make_fat(image, {12: 2, 16: 16, 32: 40}[bits] * MiB, FILES, bits=bits)
        return {p: fat_truth(image, p) for p in FILES}
    if kind == "exfat":
        make_exfat(image, 16 * MiB, FILES)
        cluster, heap = exfat_heap(image)
        return {p: tsk_truth(image, p, 512, cluster=cluster, heap=heap) for p in FILES}
    if kind == "ntfs":
        make_ntfs(image, 16 * MiB, FILES)
        return {p: tsk_truth(image, p, 4096) for p in FILES}
    make_hfsplus(image, 4 * MiB, FILES, fragment="/big.bin")
    return {p: tsk_truth(image, p, 4096) for p in FILES}


@pytest.fixture(scope="module", params=KINDS)
def fsimage(request, tmp_path_factory):
    kind = request.param
    if not have(*TOOLS[kind]):
        pytest.skip(f"needs {', '.join(TOOLS[kind])}")
    if kind in FUSE_NEEDED and (os.geteuid() != 0 or not os.path.exists("/dev/fuse")):
        pytest.skip("needs root and /dev/fuse to fill the filesystem")
    image = tmp_path_factory.mktemp(kind.replace("+", "")) / "fs.img"
    truth = build(kind, image)
    return kind, image, truth


def damage_for(image: Path, truth) -> tuple[RescueMap, list[tuple[int, int]]]:
    size = image.stat().st_size
    big = truth["/big.bin"][0][0] + 4096
    last = max(hi for _, hi in truth["/docs/report.bin"]) - 512
    free = size - 64 * 1024
    damage = [(big, big + 512), (last, last + 512), (free, free + 1024)]
    m = RescueMap(size, Status.FINISHED)
    statuses = [Status.BAD_SECTOR, Status.NON_SCRAPED, Status.NON_TRIED]
    for (lo, hi), st in zip(damage, statuses, strict=True):
        m.set_status(lo, hi - lo, st)
    return m, damage


def test_truth_is_sane(fsimage) -> None:
    kind, image, truth = fsimage
    assert truth["/empty.txt"] == []
    for p, size in FILES.items():
        if kind == "ntfs" and size < 700:  # resident: its content is in its MFT record
            assert truth[p] == [], p
            continue
        assert sum(hi - lo for lo, hi in truth[p]) >= size, (kind, p)


def test_affected_names_exactly_the_files_hit(fsimage) -> None:
    kind, image, truth = fsimage
    m, damage = damage_for(image, truth)
    report = affected(RawImageReader(str(image), m))
    expected = {p for p, r in truth.items() if overlaps(r, damage)}
    assert expected == {"/big.bin", "/docs/report.bin"}
    got = {h.entry.path: h for h in report.files}
    assert set(got) == expected, (kind, sorted(got))
    for p in expected:
        assert got[p].affected_bytes == overlaps(truth[p], damage) == 512
        assert got[p].entry.partition == 0 and got[p].entry.size == FILES[p]
    assert report.unrescued_bytes == 2048
    d = report.to_dict()
    row = next(f for f in d["files"] if f["path"] == "/big.bin")
    assert row["ranges"] == [[damage[0][0], 512]] and row["affected_bytes"] == 512
    assert report.deleted == []


def test_extents_match_the_truth(fsimage) -> None:
    kind, image, truth = fsimage
    fs = open_disk(RawImageReader(str(image))).filesystems[0]
    assert fs.type == kind
    entries = {e.path: e for e in fs.walk()}
    for p in FILES:
        got = entries[p].extents
        want = sorted(truth[p])
        assert sum(hi - lo for lo, hi in got) == sum(hi - lo for lo, hi in want), (kind, p)
        assert overlaps(got, want) == sum(hi - lo for lo, hi in want), (kind, p)


def test_extract_gives_the_bytes_and_names_the_gaps(fsimage, tmp_path) -> None:
    kind, image, truth = fsimage
    m, damage = damage_for(image, truth)
    fs = open_disk(RawImageReader(str(image), m)).filesystems[0]
    report = extract(fs, ["/"], tmp_path / "out")
    items = {i.path: i for i in report.items}
    for p, size in FILES.items():
        data = (tmp_path / "out" / p.lstrip("/")).read_bytes()
        want = bytearray(content(p, size))
        for lo, hi in items[p].missing:
            want[lo:hi] = bytes(hi - lo)
        assert data == bytes(want), (kind, p)
        mtime = os.stat(tmp_path / "out" / p.lstrip("/")).st_mtime
        assert abs(mtime - (1_600_000_000 + len(p))) <= 2, (kind, p)
    assert items["/big.bin"].missing == [(4096, 4608)]
    # /docs/report.bin lost its last allocated sector: slack past its end where clusters are
    # bigger than that, some of its content where they are not (FAT32 here has 512-byte ones)
    alloc = sum(hi - lo for lo, hi in truth["/docs/report.bin"])
    size = FILES["/docs/report.bin"]
    lost = [(alloc - 512, size)] if alloc - 512 < size else []
    assert items["/docs/report.bin"].missing == lost
    assert sorted(i.path for i in report.incomplete) == sorted(
        ["/big.bin"] + ["/docs/report.bin"] * bool(lost)
    )


def test_ext_records_and_structures(tmp_path) -> None:
    """An inode table block lost: the structure and the files whose inodes lie there are listed."""
    if not have("mkfs.ext4", "debugfs", "dumpe2fs"):
        pytest.skip("needs e2fsprogs")
    image = tmp_path / "ext.img"
    make_ext(image, 16 * MiB, FILES)
    lo, hi = ext_inode_place(image, "/a.txt")
    m = RescueMap(image.stat().st_size, Status.FINISHED)
    m.set_status(lo, hi - lo, Status.BAD_SECTOR)
    report = affected(RawImageReader(str(image), m))
    got = {h.entry.path: h for h in report.files}
    assert "/$InodeTables" in got and got["/$InodeTables"].affected_bytes == hi - lo
    assert got["/a.txt"].record == [(lo, hi)] and got["/a.txt"].affected_bytes == 0
    assert set(got) == {"/$InodeTables", "/a.txt"}


def test_deleted_files_are_listed_apart(tmp_path) -> None:
    """A FAT file deleted with mdel: still known by its entry, reported under `deleted`."""
    if not have("mkfs.vfat", "mcopy", "mshowfat", "mdel"):
        pytest.skip("needs dosfstools and mtools")
    image = tmp_path / "fat.img"
    make_fat(image, 16 * MiB, FILES, bits=16)
    clusters = fat_truth(image, "/pics/p2.bin")
    run("mdel", "-i", str(image), "::/pics/p2.bin")
    m = RescueMap(image.stat().st_size, Status.FINISHED)
    m.set_status(clusters[0][0], 512, Status.BAD_SECTOR)
    report = affected(RawImageReader(str(image), m))
    assert report.files == []
    assert [(h.entry.path, h.entry.deleted, h.affected_bytes) for h in report.deleted] == [
        ("/pics/_2.bin", True, 512)
    ]
