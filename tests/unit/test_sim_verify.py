"""`station sim verify`: an image and its map against the virtual drive's content."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from station.sim.content import expected_bytes
from station.sim.model import parse_model
from station.sim.verify import CHUNK, VerifyError, verify

S = 512
SIZE = 20 << 20  # more than two verify chunks
MODEL = f"""
name = "v"
size = {SIZE}
seed = 2
[geometry]
heads = 2
zones = 1
outer_spt = 256
inner_spt = 256
[[defects]]
kind = "bad_range"
start = "1Mi"
length = "4Ki"
"""
BAD = (1 << 20, (1 << 20) + 4096)


def write_map(path: Path, blocks: list[tuple[int, int, str]]) -> Path:
    lines = ["# test", "0x0 +"] + [f"{pos:#x} {size:#x} {st}" for pos, size, st in blocks]
    path.write_text("\n".join(lines) + "\n")
    return path


def good_image(path: Path) -> Path:
    with open(path, "wb") as f:
        for pos in range(0, SIZE, CHUNK):
            f.write(expected_bytes(pos, min(CHUNK, SIZE - pos)))
        f.seek(BAD[0])
        f.write(bytes(BAD[1] - BAD[0]))  # as a rescue leaves it: zeros where the drive failed
    return path


@pytest.fixture
def files(tmp_path: Path):
    model = tmp_path / "v.toml"
    model.write_text(MODEL)
    img = good_image(tmp_path / "v.img")
    rescued = write_map(
        tmp_path / "v.map", [(0, BAD[0], "+"), (BAD[0], 4096, "-"), (BAD[1], SIZE - BAD[1], "+")]
    )
    return model, img, rescued


def test_a_right_image_passes(files) -> None:
    model, img, mapfile = files
    v = verify(parse_model(MODEL), str(img), str(mapfile))
    assert v.ok and v.wrong_bytes == 0 and v.impossible_bytes == 0
    assert v.readable_bytes == SIZE - 4096 == v.finished_bytes and v.missed_bytes == 0


def test_a_corrupted_byte_is_found_with_its_offset(files) -> None:
    model, img, mapfile = files
    at = 13 * (1 << 20) + 77
    with open(img, "r+b") as f:
        f.seek(at)
        old = f.read(1)
        f.seek(at)
        f.write(bytes([old[0] ^ 0xFF]))
    v = verify(parse_model(MODEL), str(img), str(mapfile))
    assert not v.ok and v.wrong_bytes == 1 and v.first_wrong == [at]


def test_missed_bytes_and_bytes_claimed_from_unreadable_sectors(files, tmp_path: Path) -> None:
    model, img, _ = files
    half = write_map(tmp_path / "half.map", [(0, SIZE // 2, "+"), (SIZE // 2, SIZE // 2, "?")])
    v = verify(parse_model(MODEL), str(img), str(half))
    # the bad range lies in the first half and is claimed finished: impossible, and wrong (zeros)
    assert v.impossible_bytes == 4096 and v.first_impossible == [BAD[0]]
    assert v.missed_bytes == SIZE // 2 and not v.ok


def test_a_short_image_is_wrong_past_its_end(files) -> None:
    model, img, mapfile = files
    with open(img, "r+b") as f:
        f.truncate(SIZE - 1000)
    v = verify(parse_model(MODEL), str(img), str(mapfile))
    assert v.wrong_bytes == 1000 and v.first_wrong == [SIZE - 1000]


def test_bad_input(files, tmp_path: Path) -> None:
    model, img, mapfile = files
    m = parse_model(MODEL)
    with pytest.raises(VerifyError, match="no such image"):
        verify(m, str(tmp_path / "none.img"), str(mapfile))
    with pytest.raises(VerifyError, match="cannot read mapfile"):
        verify(m, str(img), str(tmp_path / "none.map"))
    short = write_map(tmp_path / "short.map", [(0, 4096, "+")])
    with pytest.raises(VerifyError, match="covers 4096 bytes"):
        verify(m, str(img), str(short))


def run(*args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "station.cli", "sim", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_cli_exit_statuses(files, tmp_path: Path) -> None:
    model, img, mapfile = files
    r = run("verify", model, img, mapfile)
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout
    with open(img, "r+b") as f:
        f.seek(4096)
        f.write(b"\0")
    r = run("verify", model, img, mapfile, "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["first_wrong"] == [4096]
    for args in (("nosuch-preset", img, mapfile), (model, tmp_path / "none", mapfile), (model, img)):
        r = run("verify", *args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_presets_one_line_each() -> None:
    r = run("presets")
    assert r.returncode == 0
    lines = r.stdout.strip().splitlines()
    assert any(line.startswith("healthy ") and "512 MiB" in line for line in lines)
    rows = json.loads(run("presets", "--json").stdout)
    assert len(rows) == len(lines) and {"name", "size", "description"} <= set(rows[0])
