"""Domains on a partitioned disk (ext4, FAT16, NTFS), ddrescue -m reading ours, and a files-first
rescue simulated round by round from an image nobody has read yet."""

from __future__ import annotations

import os
import subprocess

import pytest
from fsimages import MiB, ext_truth, fat_truth, have, make_disk, make_ext, make_fat, overlaps

from station.fs import files_domain, metadata_domain, open_disk, resolve, used_domain, write_domain
from station.fs.ranges import total
from station.images.reader import RawImageReader
from station.rescue.mapfile import read_mapfile
from station.rescue.rescuemap import RescueMap, Status

FILES = {"/a.txt": 100, "/big.bin": 300_000, "/docs/report.bin": 70_000, "/docs/deep/x.bin": 30_000}


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    if not have("sfdisk", "mkfs.ext4", "debugfs", "mkfs.vfat", "mcopy", "mshowfat"):
        pytest.skip("needs sfdisk, e2fsprogs, dosfstools, mtools")
    d = tmp_path_factory.mktemp("disk")
    make_ext(d / "p1.img", 16 * MiB, FILES)
    make_fat(d / "p5.img", 16 * MiB, FILES, bits=16)
    image = d / "disk.img"
    starts = make_disk(
        image,
        48 * MiB,
        "mbr",
        [(16 * MiB, d / "p1.img", "83"), (4 * MiB, None, "7"), (16 * MiB, d / "p5.img", "6")],
    )
    truth = {}
    for p in FILES:
        truth[(1, p)] = [(lo + starts[0], hi + starts[0]) for lo, hi in ext_truth(d / "p1.img", p, 1024)]
        truth[(5, p)] = [(lo + starts[2], hi + starts[2]) for lo, hi in fat_truth(d / "p5.img", p)]
    return image, truth


def test_metadata_domain_holds_tables_structures_and_directories(disk) -> None:
    image, truth = disk
    dk = open_disk(RawImageReader(str(image)))
    meta = metadata_domain(dk)
    assert overlaps(meta, [(0, 512)]) == 512
    for fs in dk.filesystems:
        for s in fs.structures():
            assert overlaps(meta, s.extents) == total(s.extents), s.path
        docs = fs.entry("/docs")
        assert overlaps(meta, docs.extents) == total(docs.extents)
    for key, ranges in truth.items():
        assert overlaps(meta, ranges) == 0, key  # no file data
    assert 0 < total(meta) < image.stat().st_size // 4


def test_used_domain_covers_every_file_and_less_than_the_disk(disk) -> None:
    image, truth = disk
    notes: list[str] = []
    used = used_domain(open_disk(RawImageReader(str(image))), notes)
    for key, ranges in truth.items():
        assert overlaps(used, ranges) == total(ranges), key
    assert total(used) < image.stat().st_size // 2
    assert notes == ["partition 2: no filesystem known, taken whole"]


def test_files_domain_and_ddrescue_reads_our_domain_mapfile(disk, tmp_path) -> None:
    image, truth = disk
    dk = open_disk(RawImageReader(str(image)))
    dom = files_domain(dk, ["/docs"])
    want = [r for (_, p), rs in truth.items() if p.startswith("/docs/") for r in rs]
    assert overlaps(dom, want) == total(want)
    assert overlaps(dom, truth[(1, "/big.bin")] + truth[(5, "/big.bin")]) == 0
    mapfile = tmp_path / "domain.map"
    write_domain(mapfile, dom, image.stat().st_size)
    m = read_mapfile(mapfile)
    assert m.bytes_in(Status.FINISHED) == total(dom) and m.size == image.stat().st_size
    if not have("ddrescue"):
        return
    out, outmap = tmp_path / "out.img", tmp_path / "out.map"
    subprocess.run(
        ["ddrescue", "-q", "-m", str(mapfile), str(image), str(out), str(outmap)], check=True, timeout=60
    )
    copied = read_mapfile(outmap)
    assert copied.bytes_in(Status.FINISHED) == total(dom)
    with open(image, "rb") as a, open(out, "rb") as b:
        for lo, hi in dom:
            a.seek(lo)
            b.seek(lo)
            assert a.read(hi - lo) == b.read(hi - lo)


def test_files_first_from_nothing_round_by_round(disk) -> None:
    """Rescue what resolve() asks for, round after round: metadata settles in a few rounds and
    the chosen files' extents are then exactly known, for a small share of the disk."""
    image, truth = disk
    size = image.stat().st_size
    m = RescueMap(size, Status.NON_TRIED)
    reader = RawImageReader(str(image), m)
    rounds = 0
    res = resolve(reader, ["report.bin"])
    while not res.settled and rounds < 10:
        for lo, hi in res.pending_metadata:
            m.set_status(lo, hi - lo, Status.FINISHED)  # a rescue reading exactly that
        rounds += 1
        res = resolve(reader, ["report.bin"])
    assert res.settled and rounds <= 6
    want = truth[(1, "/docs/report.bin")] + truth[(5, "/docs/report.bin")]
    assert overlaps(res.files, want) == total(want)
    assert overlaps(res.files, truth[(1, "/big.bin")]) == 0
    assert m.bytes_in(Status.FINISHED) < size // 4
    for key, ranges in truth.items():
        assert overlaps(res.used, ranges) == total(ranges), key


def test_files_first_with_a_bad_directory_says_so_and_goes_on(disk) -> None:
    image, truth = disk
    dk = open_disk(RawImageReader(str(image)))
    docs = dk.filesystem(1).entry("/docs")
    m = RescueMap(image.stat().st_size, Status.FINISHED)
    for lo, hi in docs.extents:
        m.set_status(lo, hi - lo, Status.BAD_SECTOR)
    res = resolve(RawImageReader(str(image), m), ["*.bin"])
    assert any("/docs: directory not (yet) rescued" in n for n in res.notes)
    want = truth[(1, "/big.bin")] + truth[(5, "/docs/report.bin")]
    assert overlaps(res.files, want) == total(want)  # what is still reachable is resolved
    assert overlaps(res.files, truth[(1, "/docs/report.bin")]) == 0


def test_resolve_on_garbage_does_not_raise(tmp_path) -> None:
    image = tmp_path / "junk.img"
    image.write_bytes(os.urandom(2 * MiB))
    res = resolve(RawImageReader(str(image)), ["*"])
    assert res.files == [] and res.metadata
