"""Browsing an image while a rescue writes it, raw and zst: each reading (the mapfile first, then
the image) is whole and true, what it calls rescued holds the disk's bytes, and it grows."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fsimages import MiB, content, have, make_disk, make_ext

from station.core.session import SessionStore
from station.jobs.imaging import prepare
from station.rescue.options import RescueOptions
from station.sim.drive import SimDrive
from station.sim.model import load_model
from station.sim.source import SimSource
from station.views.browse import extract_selection, read_listing
from station.views.isolated import isolated

FILES = {f"/data/f{i:02d}.bin": 400_000 for i in range(30)}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    if not have("sfdisk", "mkfs.ext4"):
        pytest.skip("needs sfdisk and e2fsprogs")
    d = tmp_path_factory.mktemp("livedisk")
    make_ext(d / "p1.img", 22 * MiB, FILES, block_size=4096)
    make_disk(d / "disk.img", 24 * MiB, "mbr", [(22 * MiB, d / "p1.img", "83")])
    (d / "model.toml").write_text(f'name = "live"\ncontent = "{d / "disk.img"}"\n')
    return d / "model.toml"


@pytest.mark.parametrize("name", ["live.img", "live.zst"])
def test_readings_while_a_rescue_writes_the_image(model: Path, tmp_path: Path, name: str) -> None:
    drive = SimDrive(load_model(str(model)), time_scale=40.0)  # some seconds for the whole disk
    dest = tmp_path / name
    job = prepare(
        "sim:live", str(dest), source=SimSource(drive, path="sim:live"), command=["station", "image"],
        store=SessionStore(tmp_path / "store"), options=RescueOptions(save_interval=0.2),
    )  # fmt: skip
    worker = threading.Thread(target=job.run)
    worker.start()
    seen: list[int] = []
    try:
        while worker.is_alive() or not seen:
            if not Path(job.map_path).exists():
                time.sleep(0.05)
                continue
            listing = isolated(read_listing, str(dest), job.map_path)
            seen.append(listing.unrescued)
            whole = [p for p in FILES if f"/p1{p}" in listing.nodes and not listing.nodes[f"/p1{p}"].below]
            if whole:  # a file the map calls rescued is right, read out while the rescue goes on
                out = tmp_path / f"out{len(seen)}"
                done = isolated(extract_selection, str(dest), job.map_path, [f"/p1{whole[-1]}"], str(out))
                assert not done.errors and not done.incomplete
                assert (out / "p1" / whole[-1].lstrip("/")).read_bytes() == content(whole[-1], 400_000)
    finally:
        worker.join()
    assert seen == sorted(seen, reverse=True) and len(seen) >= 3, seen  # it only grows, and was followed
    final = isolated(read_listing, str(dest), job.map_path if name.endswith(".img") else None)
    assert final.unrescued == 0 and all(f"/p1{p}" in final.nodes for p in FILES)
