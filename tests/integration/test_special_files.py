"""Special files where a mapfile is expected (issue 10, §3.8): a device that never ends
(/dev/zero), a fifo that never answers.  Each is refused at once in one line (exit 2), without
reading it; nothing waits for ever, nothing fills memory."""

from __future__ import annotations

import os
import time

import pytest

SIZE = 256 * 1024


@pytest.fixture
def d(tmp_path, kit):
    kit.make_source(tmp_path / "src.bin", SIZE)
    os.mkfifo(tmp_path / "fifo")
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["map", "/dev/zero"],
        ["map", "fifo"],
        ["image", "src.bin", "out.img", "-m", "fifo"],
        ["image", "src.bin", "out.img", "-m", "/dev/zero"],
        ["image", "src.bin", "out.img", "-H", "fifo"],
        ["image", "src.bin", "out.img", "-H", "/dev/zero"],
        ["image", "demo", "out.img", "fifo"],
    ],
    ids=["map-zero", "map-fifo", "domain-fifo", "domain-zero", "test-fifo", "test-zero", "virtual-map-fifo"],
)
def test_special_files_are_refused_at_once(kit, d, args) -> None:
    t0 = time.monotonic()
    r = kit.station(*args, cwd=d, timeout=20)
    assert time.monotonic() - t0 < 10
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "regular file" in lines[0], r.stderr
    assert not (d / "out.img").exists() and not (d / "out.img.map").exists()


def test_a_huge_file_is_not_read_as_a_map(kit, d) -> None:
    big = d / "big.map"
    with open(big, "wb") as f:
        f.truncate(1 << 40)  # a sparse terabyte: reading it would take hours and all memory
    r = kit.station("map", big, cwd=d, timeout=20)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
