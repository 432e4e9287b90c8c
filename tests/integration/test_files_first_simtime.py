"""--files-first on simulated time: a failing virtual drive (scattered bad clusters) whose content is
a real disk (two ext4 partitions, the chosen photos in the second, near the end), imaged in process
with the drive's cost clock.  The chosen files' readable bytes must all be read far sooner than a
plain rescue reaches them, for about the same total time."""

from __future__ import annotations

from pathlib import Path

import pytest
from fsimages import MiB, ext_truth, have, make_disk, make_ext

from station.core.session import SessionStore
from station.fs.ranges import subtract
from station.jobs.imaging import prepare
from station.sim.drive import SimDrive
from station.sim.model import load_model
from station.sim.source import SimSource

MODEL = """
name = "fs-disk"
description = "two ext4 partitions, scattered bad clusters"
content = "disk.img"
seed = 8
[geometry]
heads = 2
outer_spt = 1536
inner_spt = 768
band_cylinders = 4
[[defects]]
kind = "bad_sectors"
count = 120
cluster = 16
"""
PHOTOS = {f"/photos/p{i:02d}.jpg": 200_000 for i in range(12)}


class Watched(SimSource):
    """A SimSource that notes the simulated time at which every byte of `wanted` has been read."""

    def __init__(self, drive: SimDrive, wanted: list[tuple[int, int]]) -> None:
        super().__init__(drive, path="sim:fs-disk")
        self.left = wanted
        self.when: float | None = None

    def read_into(self, pos: int, buf: memoryview) -> int:
        n = super().read_into(pos, buf)
        if self.when is None:
            self.left = subtract(self.left, [(pos, pos + n)])
            if not self.left:
                self.when = self.drive.clock()
        return n


@pytest.fixture(scope="module")
def drive_model(tmp_path_factory):
    if not have("sfdisk", "mkfs.ext4", "debugfs"):
        pytest.skip("needs sfdisk and e2fsprogs")
    d = tmp_path_factory.mktemp("simdisk")
    filler = {f"/data/f{i:03d}.bin": 600_000 for i in range(120)}
    make_ext(d / "p1.img", 96 * MiB, {**filler, "/notes.txt": 1000}, block_size=4096)
    make_ext(d / "p2.img", 28 * MiB, {**PHOTOS, "/other/x.bin": 2_000_000}, block_size=4096)
    starts = make_disk(
        d / "disk.img", 128 * MiB, "mbr", [(96 * MiB, d / "p1.img", "83"), (28 * MiB, d / "p2.img", "83")]
    )
    (d / "model.toml").write_text(MODEL)
    photos = [(lo + starts[1], hi + starts[1]) for p in PHOTOS for lo, hi in ext_truth(d / "p2.img", p, 4096)]
    drive = SimDrive(load_model(str(d / "model.toml")))
    bad = [(a * 512, b * 512) for a, b in drive.bad_ranges()]
    readable = subtract(sorted(photos), bad)
    assert sum(hi - lo for lo, hi in readable) > 2 * MiB
    return d / "model.toml", readable


def _image(tmp: Path, model: Path, wanted, files_first: list[str] | None) -> tuple[float, float]:
    drive = SimDrive(load_model(str(model)))
    src = Watched(drive, wanted)
    tmp.mkdir()
    job = prepare(
        "sim:fs-disk", str(tmp / "out.img"), source=src, command=["station", "image"],
        store=SessionStore(tmp / "store"), files_first=files_first,
    )  # fmt: skip
    assert job.run(clock=drive.clock).outcome == "finished"
    assert src.when is not None
    return src.when, drive.clock()


def test_files_first_reaches_the_chosen_files_long_before_a_plain_rescue(drive_model, tmp_path) -> None:
    model, wanted = drive_model
    plain_at, plain_total = _image(tmp_path / "plain", model, wanted, None)
    first_at, first_total = _image(tmp_path / "ff", model, wanted, ["/p1/nothing", "/photos/*"])
    print(f"chosen files read: plain {plain_at:.1f} s of {plain_total:.1f} s;", end=" ")
    print(f"files first {first_at:.1f} s of {first_total:.1f} s")
    assert first_at < plain_at / 4
    assert first_total < plain_total * 1.05  # the rest costs hardly more
