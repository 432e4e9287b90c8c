"""A destination that fills up stops the run cleanly, and the rerun resumes once there is room.

The image goes onto an 8 MiB tmpfs; the source is 24 MiB of incompressible data (tmpfs holes
cost nothing, so the image only fills the filesystem as data arrives).  The run must stop with
a 'destination full' message and exit status 1, leave a map whose every '+' block holds the
source's bytes, and, after `mount -o remount,size=...`, a rerun must finish with exit 0 and an
image equal to the source.  The mapfile is either on the full filesystem too (its saves fail
as well) or elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

MiB = 1024 * 1024
SIZE = 24 * MiB

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root"),
    pytest.mark.skipif(shutil.which("mount") is None, reason="mount is not installed"),
]


@pytest.fixture
def small_fs(tmp_path: Path, kit):
    with kit.tmpfs(tmp_path / "small", "8m") as where:
        yield where


@pytest.mark.parametrize("map_on_full_fs", [False, True], ids=["map-elsewhere", "map-on-full-fs"])
def test_destination_full_stops_then_resumes(kit, tmp_path, small_fs, map_on_full_fs):
    src = kit.make_source(tmp_path / "source.bin", SIZE, seed=5)
    img = small_fs / "image.bin"
    mapfile = (small_fs if map_on_full_fs else tmp_path) / "image.map"
    args = ["--save-interval", "0.05", src, img, mapfile]

    r = kit.station("image", "-q", *args, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "destination full" in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr
    m = kit.read_map(mapfile)
    assert m.size == SIZE
    assert m.summary().pending > 0, "the run cannot have finished on a full filesystem"
    kit.assert_finished_blocks_match(m, src, img)
    kit.ddrescuelog_ok(mapfile)
    if not map_on_full_fs:
        # The map could be saved: it records (nearly) all that fit, which is most of the 8 MiB.
        assert m.summary().rescued >= 4 * MiB
    rescued = m.summary().rescued
    assert kit.session_records(Path(os.environ["XDG_DATA_HOME"]))[-1]["state"] == "failed"

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_fs)], check=True, timeout=30)
    r = kit.station("image", "--json", *args, timeout=60)
    assert r.returncode == 0, r.stderr
    events = kit.json_lines(r.stdout)
    assert events[0]["kind"] == "progress" and events[0]["rescued"] == rescued  # resumed, not restarted
    assert events[-1]["outcome"] == "finished"
    m = kit.read_map(mapfile)
    assert kit.ranges(m, "+") == [(0, SIZE)]
    assert kit.mismatch(src, img, [(0, SIZE)]) is None
    assert img.stat().st_size == SIZE


def test_unsaved_map_is_reported(kit, tmp_path, small_fs):
    src = kit.make_source(tmp_path / "source.bin", SIZE, seed=5)
    img, mapfile = small_fs / "image.bin", small_fs / "image.map"
    r = kit.station("image", "-q", src, img, mapfile, timeout=60)
    assert r.returncode == 1, r.stderr
    assert kit.read_map(mapfile).summary().rescued == 0  # nothing could be recorded...
    said = re.search(
        r"(could not|couldn't|cannot|failed to) (save|write|update)|not (saved|updated)", r.stderr, re.I
    )
    assert said, f"...but stderr does not say so: {r.stderr!r}"
