"""Partition tables made by sfdisk and sgdisk, read back; damaged ones give notes, not errors."""

from __future__ import annotations

import json
import subprocess

import pytest
from fsimages import MiB, have, make_disk

from station.fs.partitions import read_partitions
from station.images.reader import RawImageReader
from station.rescue.rescuemap import RescueMap, Status


@pytest.fixture
def mbr(tmp_path):
    if not have("sfdisk"):
        pytest.skip("needs sfdisk")
    image = tmp_path / "mbr.img"
    make_disk(
        image,
        64 * MiB,
        "mbr",
        [(8 * MiB, None, "83"), (8 * MiB, None, "7"), (8 * MiB, None, "c"), (4 * MiB, None, "83")],
    )
    return image


def test_mbr_with_logical_partitions_as_sfdisk_says(mbr) -> None:
    t = read_partitions(RawImageReader(str(mbr)))
    dump = json.loads(
        subprocess.run(["sfdisk", "--json", str(mbr)], capture_output=True, text=True, check=True).stdout
    )
    want = {
        int(p["node"].rsplit("img", 1)[1]): (p["start"] * 512, p["size"] * 512, int(p["type"], 16))
        for p in dump["partitiontable"]["partitions"]
        if p["type"] != "5"
    }
    got = {p.number: (p.start, p.size, int(p.type, 16)) for p in t.partitions}
    assert t.scheme == "mbr" and got == want and sorted(got) == [1, 2, 5, 6]
    assert t.ranges[0] == (0, 512) and len(t.ranges) == 3  # the MBR and two EBRs
    assert t.notes == []


def test_unrescued_ebr_is_a_note(mbr) -> None:
    t = read_partitions(RawImageReader(str(mbr)))
    m = RescueMap(mbr.stat().st_size, Status.FINISHED)
    m.set_status(t.ranges[2][0], 512, Status.BAD_SECTOR)  # the second EBR
    t2 = read_partitions(RawImageReader(str(mbr), m))
    assert [p.number for p in t2.partitions] == [1, 2, 5]
    assert any("not rescued" in n for n in t2.notes)


def test_gpt_and_its_backup(tmp_path) -> None:
    if not have("sgdisk"):
        pytest.skip("needs sgdisk")
    image = tmp_path / "gpt.img"
    make_disk(image, 32 * MiB, "gpt", [(8 * MiB, None, "8300"), (4 * MiB, None, "0700")])
    t = read_partitions(RawImageReader(str(image)))
    assert t.scheme == "gpt" and t.notes == []
    assert [(p.number, p.start, p.size, p.description) for p in t.partitions] == [
        (1, MiB, 8 * MiB, "Linux filesystem"),
        (2, 9 * MiB, 4 * MiB, "Microsoft basic data"),
    ]
    size = image.stat().st_size
    assert (512, 1024) in t.ranges and (size - 512, size) in t.ranges
    m = RescueMap(size, Status.FINISHED)
    m.set_status(512, 512, Status.BAD_SECTOR)  # the primary header
    t2 = read_partitions(RawImageReader(str(image), m))
    assert t2.scheme == "gpt" and [p.number for p in t2.partitions] == [1, 2]
    assert any("backup" in n for n in t2.notes)


def test_no_table_and_unrescued_sector_zero(tmp_path) -> None:
    image = tmp_path / "blank.img"
    image.write_bytes(bytes(MiB))
    t = read_partitions(RawImageReader(str(image)))
    assert t.scheme == "none" and [(p.number, p.start, p.size) for p in t.partitions] == [(0, 0, MiB)]
    m = RescueMap(MiB, Status.NON_TRIED)
    t2 = read_partitions(RawImageReader(str(image), m))
    assert t2.scheme == "none" and "not rescued" in t2.notes[0]


def test_a_filesystem_without_table_is_not_an_mbr(tmp_path) -> None:
    if not have("mkfs.vfat"):
        pytest.skip("needs dosfstools")
    image = tmp_path / "fat.img"
    image.write_bytes(bytes(16 * MiB))
    subprocess.run(["mkfs.vfat", "-F", "16", str(image)], check=True, capture_output=True)
    assert read_partitions(RawImageReader(str(image))).scheme == "none"
