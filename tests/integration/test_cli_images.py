"""Images through the CLI, as processes: `station image` to zst (kill -9, SIGINT, resume, a sealed
image reopened to retry), `station seal`, `verify` (match, mismatch, corrupt, --against), `convert`
both ways, `export`, and bad input refused in one line with exit status 2."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from station.images.zstreader import ZstImageReader
from station.rescue.rescuemap import Phase, Status

MiB = 1 << 20
SIZE = 8 * MiB
DAMAGE = [(MiB + 4096, 8192, "-"), (3 * MiB, 64 * 1024, "*"), (6 * MiB + 512, 1024, "?")]


@pytest.fixture
def lab(tmp_path: Path, kit) -> Path:
    kit.make_source(tmp_path / "source.bin", SIZE, seed=5)
    kit.write_test_map(tmp_path / "test.map", SIZE, DAMAGE)
    return tmp_path


def zst_read(path: Path) -> bytes:
    """The image as its map reads it (the embedded map of a sealed one), unrescued bytes as zeros."""
    with ZstImageReader(str(path)) as r:
        return r.read(0, r.size)


def image_as_mapped(kit, img: Path, mapfile: Path) -> bytes:
    """A raw image as its map reads it: bytes the map does not call finished as zeros."""
    data = bytearray(img.read_bytes().ljust(SIZE, b"\0"))
    for lo, hi in kit.ranges(kit.read_map(mapfile), "?*/-"):
        data[lo:hi] = bytes(hi - lo)
    return bytes(data)


def one_line_refusal(r: subprocess.CompletedProcess, words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("station: ") and words in lines[0], r.stderr


def last_record(kit, xdg: Path) -> dict:
    return max(kit.session_records(xdg), key=lambda rec: rec["started"])


# -- imaging to zst ------------------------------------------------------------------------------------


def test_zst_image_decompresses_to_the_raw_image_of_the_same_rescue(kit, lab, xdg_data_home):
    r = kit.station("image", "-H", "test.map", "source.bin", "raw.img", cwd=lab)
    assert r.returncode == 0, r.stderr
    raw = last_record(kit, xdg_data_home)["result"]
    r = kit.station("image", "-H", "test.map", "--hash", "sha256,md5", "source.bin", "disk.zst", cwd=lab)
    assert r.returncode == 0, r.stderr
    assert "image sealed" in r.stderr and "sha256 " in r.stderr and "Traceback" not in r.stderr
    rec = last_record(kit, xdg_data_home)
    res = rec["result"]
    assert res["image"]["format"] == "zst" and res["image"]["sealed"] is True
    assert res["image"]["segments"].endswith("disk.zst (STSG frame)")
    raw_bytes = image_as_mapped(kit, lab / "raw.img", lab / "raw.img.map")
    assert hashlib.sha256(raw_bytes).hexdigest() == raw["hashes"]["sha256"] == res["hashes"]["sha256"]
    assert hashlib.md5(raw_bytes).hexdigest() == res["hashes"]["md5"]
    assert raw["image"]["segments"] == str(lab / "raw.img.hashes.json")
    assert zst_read(lab / "disk.zst") == raw_bytes
    if shutil.which("zstd"):
        d = subprocess.run(["zstd", "-d", "-q", "-c", str(lab / "disk.zst")], capture_output=True, timeout=60)
        assert d.returncode == 0 and d.stdout == raw_bytes  # the standard tool, skippable frames and all
    with ZstImageReader(str(lab / "disk.zst")) as z:
        meta = z.metadata
        assert meta["source"]["path"] == str(lab / "source.bin") and meta["extra"]["session"] == rec["id"]
        assert meta["bad_sector_bytes"] == kit.read_map(lab / "disk.zst.map").bytes_in(Status.BAD_SECTOR)


def test_no_hashes_and_raw_by_option(kit, lab, xdg_data_home):
    r = kit.station("image", "-q", "--hash", "none", "--format", "raw", "source.bin", "plain.zst", cwd=lab)
    assert r.returncode == 0, r.stderr
    assert (lab / "plain.zst").read_bytes() == (lab / "source.bin").read_bytes()  # raw, whatever its name
    res = last_record(kit, xdg_data_home)["result"]
    assert "hashes" not in res and res["image"] == {"format": "raw", "path": str(lab / "plain.zst")}
    assert not (lab / "plain.zst.hashes.json").exists()


BIG = 128 * MiB


@pytest.fixture(scope="module")
def big(tmp_path_factory, kit):
    d = tmp_path_factory.mktemp("zst-kill")
    src = kit.make_source(d / "source.bin", BIG, seed=3)
    damage = [((i * 16 + 5) * MiB, MiB, "-*?/"[i % 4]) for i in range(5)]
    return src, kit.write_test_map(d / "test.map", BIG, damage)


def check_working(kit, img: Path, mapfile: Path, src: Path) -> None:
    """Every block the map calls finished holds the source's bytes in the (working) zst image."""
    m = kit.read_map(mapfile)
    with ZstImageReader(str(img), m) as r, open(src, "rb") as f:
        for lo, hi in kit.ranges(m, "+"):
            assert r.read(lo, hi - lo) == os.pread(f.fileno(), hi - lo, lo), f"wrong bytes in {lo:#x}-{hi:#x}"


def test_kill_9_then_the_same_command_resumes_and_seals(kit, big, tmp_path, xdg_data_home):
    src, testmap = big
    img, mapfile = tmp_path / "disk.zst", tmp_path / "disk.map"
    args = ["image", "-q", "--save-interval", "0.05", "-H", testmap, src, img, mapfile]
    rng = random.Random(int(os.environ.get("STATION_KILL_SEED") or 7))
    kills = 0
    for _ in range(4):
        p = kit.popen_station(*args, stdout=subprocess.DEVNULL)
        try:
            p.wait(timeout=rng.uniform(0.25, 0.7))
        except subprocess.TimeoutExpired:
            kills += 1
        finally:
            kit.stop(p, signal.SIGKILL)
            p.stderr.close()
        if mapfile.exists() and img.exists():
            check_working(kit, img, mapfile, src)
    assert kills >= 2, "the runs ended before they could be killed: the workload is too small"
    r = kit.station(*args, timeout=120)
    assert r.returncode == 0, r.stderr
    m = kit.read_map(mapfile)
    assert m.phase == Phase.FINISHED
    data = zst_read(img)
    source = src.read_bytes()
    for lo, hi in kit.ranges(m, "+"):
        assert data[lo:hi] == source[lo:hi]
    for lo, hi in kit.ranges(m, "-"):
        assert data[lo:hi] == bytes(hi - lo)
    assert hashlib.sha256(data).hexdigest() == last_record(kit, xdg_data_home)["result"]["hashes"]["sha256"]
    assert not os.path.exists(str(img) + ".idx")  # sealed: the index is gone


def test_sigint_leaves_a_working_file_that_seal_or_a_rerun_finishes(kit, big, tmp_path, xdg_data_home):
    src, testmap = big
    img, mapfile = tmp_path / "disk.zst", tmp_path / "disk.map"
    args = ["image", "--json", "--save-interval", "0.05", "-H", testmap, src, img, mapfile]
    p = kit.popen_station(*args)
    try:
        for line in p.stdout:
            if json.loads(line)["kind"] == "progress" and json.loads(line)["rescued"] > 0:
                break
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=20)
        rest = p.stdout.read()
    finally:
        kit.stop(p)
    err = p.stderr.read()
    p.stdout.close()
    p.stderr.close()
    assert rc == 1 and "Traceback" not in err, err
    assert json.loads(rest.splitlines()[-1])["outcome"] == "stopped"
    with ZstImageReader(str(img)) as r:
        assert not r.sealed
    check_working(kit, img, mapfile, src)
    assert last_record(kit, xdg_data_home)["result"]["image"] == {
        "format": "zst", "path": str(img), "sealed": False, "file_size": img.stat().st_size,
    }  # fmt: skip

    r = kit.station("verify", img)
    one_line_refusal(r, "not sealed")
    copy = tmp_path / "copy.zst"
    shutil.copy(img, copy)
    shutil.copy(str(img) + ".idx", str(copy) + ".idx")
    r = kit.station("seal", copy, mapfile)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"sealed {copy}") and "sha256 " in r.stdout
    with ZstImageReader(str(copy)) as z:
        assert z.sealed and z.metadata["extra"]["sealed_by"] == "station seal"
    r = kit.station("verify", copy)
    assert r.returncode == 0 and r.stdout.startswith("match"), r.stdout + r.stderr
    r = kit.station("seal", copy)
    assert r.returncode == 0 and "sealed already" in r.stdout

    r = kit.station(*args, timeout=120)  # the rerun resumes the working file and seals it
    assert r.returncode == 0, r.stderr
    with ZstImageReader(str(img)) as z:
        assert z.sealed
    assert kit.read_map(mapfile).phase == Phase.FINISHED


def test_a_sealed_image_reopened_to_retry_is_sealed_again(kit, lab, xdg_data_home):
    r = kit.station("image", "-q", "-H", "test.map", "source.bin", "disk.zst", cwd=lab)
    assert r.returncode == 0, r.stderr
    first = last_record(kit, xdg_data_home)["result"]["hashes"]["sha256"]
    assert kit.read_map(lab / "disk.zst.map").bytes_in(Status.BAD_SECTOR) > 0
    # the drive reads better now (no test map): one retry pass reads the bad sectors
    r = kit.station("image", "-q", "-r", "1", "source.bin", "disk.zst", cwd=lab)
    assert r.returncode == 0, r.stderr
    m = kit.read_map(lab / "disk.zst.map")
    assert m.bytes_in(Status.BAD_SECTOR) == 0
    with ZstImageReader(str(lab / "disk.zst")) as z:
        assert z.sealed and z.rescue_map.bytes_in(Status.BAD_SECTOR) == 0
    data = zst_read(lab / "disk.zst")
    assert data == (lab / "source.bin").read_bytes()
    second = last_record(kit, xdg_data_home)["result"]["hashes"]["sha256"]
    assert second == hashlib.sha256(data).hexdigest() != first
    r = kit.station("verify", "disk.zst", "--against", "source.bin", cwd=lab)
    assert r.returncode == 0 and r.stdout.startswith("match"), r.stdout + r.stderr


def test_a_sealed_image_moved_without_its_mapfile_resumes_from_its_own_map(kit, lab):
    r = kit.station("image", "-q", "-H", "test.map", "source.bin", "disk.zst", cwd=lab)
    assert r.returncode == 0, r.stderr
    moved = lab / "elsewhere"
    moved.mkdir()
    shutil.copy(lab / "disk.zst", moved / "disk.zst")
    r = kit.station("image", "-q", "-r", "1", lab / "source.bin", "disk.zst", cwd=moved)
    assert r.returncode == 0, r.stderr
    m = kit.read_map(moved / "disk.zst.map")  # written from the image's own map first, then retried
    assert m.phase == Phase.FINISHED and m.bytes_in(Status.BAD_SECTOR) == 0
    assert zst_read(moved / "disk.zst") == (lab / "source.bin").read_bytes()


# -- verify ----------------------------------------------------------------------------------------------


@pytest.fixture
def imaged(kit, lab) -> Path:
    for dest in ("disk.zst", "disk.img"):
        r = kit.station("image", "-q", "-H", "test.map", "source.bin", dest, cwd=lab)
        assert r.returncode == 0, r.stderr
    return lab


def flip(path: Path, at: int) -> None:
    """Damage one byte where it lies."""
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(data)


def test_verify_match_and_mismatch_name_the_ranges(kit, imaged, xdg_data_home):
    lab = imaged
    for image in ("disk.zst", "disk.img"):
        r = kit.station("verify", image, cwd=lab)
        assert r.returncode == 0 and r.stdout.startswith("match: ") and "sha256 " in r.stdout, r.stderr
    rec = last_record(kit, xdg_data_home)
    assert rec["kind"] == "verification" and rec["result"]["verification"]["outcome"] == "match"
    flip(lab / "disk.img", 5 * MiB + 1000)
    r = kit.station("verify", "disk.img", cwd=lab)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stdout.startswith("MISMATCH: 1 byte range(s) differ")
    assert f"bytes {5 * MiB}-{6 * MiB}" in r.stdout
    v = last_record(kit, xdg_data_home)["result"]["verification"]
    assert v["outcome"] == "mismatch" and v["differing"] == [[5 * MiB, 6 * MiB]] and v["at"] > 0
    listed = kit.station("sessions").stdout.splitlines()  # ids sort only to the second
    assert any(line.endswith(f"verify (hashes) {lab / 'disk.img'}: mismatch") for line in listed)


def _frame_offset(path: Path, chunk: int) -> int:
    """Where chunk `chunk`'s data frame starts in a sealed image (through its seek table)."""
    with ZstImageReader(str(path)) as r:
        return r._table.entry(2 + 2 * chunk)[0]  # noqa: SLF001 (a test placing damage)


def test_a_corrupt_zst_is_named_chunk_and_range_never_a_traceback(kit, imaged):
    lab = imaged
    bad = lab / "flipped.zst"
    shutil.copy(lab / "disk.zst", bad)
    flip(bad, _frame_offset(bad, 2) + 40)
    r = kit.station("verify", bad)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"bytes {2 * MiB}-{3 * MiB}" in r.stdout and f"chunk 2 (bytes {2 * MiB}-{3 * MiB})" in r.stdout

    cut = lab / "cut.zst"
    shutil.copy(lab / "disk.zst", cut)
    with open(cut, "r+b") as f:
        f.truncate(_frame_offset(cut, 5) + 10)
    r = kit.station("verify", cut)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "cut short" in r.stdout and f"bytes {5 * MiB}-{SIZE}" in r.stdout, r.stdout
    assert f"chunk 5 (bytes {5 * MiB}-{6 * MiB})" in r.stdout

    sums = lab / "checksum.zst"
    shutil.copy(lab / "disk.zst", sums)
    with ZstImageReader(str(sums)) as z:  # the last 4 bytes of chunk 7's frame: its content checksum
        off, clen, _, _ = z._table.entry(2 + 2 * 7)  # noqa: SLF001
    flip(sums, off + clen - 1)
    r = kit.station("verify", sums)
    assert r.returncode == 1 and f"chunk 7 (bytes {7 * MiB}-{8 * MiB})" in r.stdout, r.stdout


def test_verify_against_the_source(kit, imaged, xdg_data_home):
    lab = imaged
    for image in ("disk.zst", "disk.img"):
        r = kit.station("verify", image, "--against", "source.bin", cwd=lab)
        assert r.returncode == 0 and r.stdout.startswith("match"), r.stdout + r.stderr
    v = last_record(kit, xdg_data_home)["result"]["verification"]
    assert v["against"] == "source" and v["source"] == str(lab / "source.bin")
    assert v["checked"] == SIZE - sum(n for _, n, _ in DAMAGE)  # the finished bytes only
    flip(lab / "source.bin", 7 * MiB + 10)  # the drive changed (or the image is wrong): named
    r = kit.station("verify", "disk.zst", "--against", "source.bin", "--json", cwd=lab)
    assert r.returncode == 1
    events = kit.json_lines(r.stdout)
    assert {"task", "finished"} <= {e.get("kind") for e in events}
    assert events[-1]["outcome"] == "mismatch" and events[-1]["differing"] == [[7 * MiB, 7 * MiB + 65536]]


# -- convert and export ----------------------------------------------------------------------------------


def test_convert_both_ways(kit, imaged):
    lab = imaged
    r = kit.station("convert", "disk.img", "again.zst", cwd=lab)
    assert r.returncode == 0, r.stderr
    assert zst_read(lab / "again.zst") == image_as_mapped(kit, lab / "disk.img", lab / "disk.img.map")
    r = kit.station("convert", "disk.zst", "back.img", cwd=lab)
    assert r.returncode == 0, r.stderr
    assert image_as_mapped(kit, lab / "back.img", lab / "back.img.map") == zst_read(lab / "disk.zst")
    assert kit.blocks(kit.read_map(lab / "back.img.map")) == kit.blocks(kit.read_map(lab / "disk.zst.map"))
    for image in ("again.zst", "back.img"):  # each carries its hashes: verify at once
        r = kit.station("verify", image, cwd=lab)
        assert r.returncode == 0, r.stdout + r.stderr
    one_line_refusal(kit.station("convert", "disk.img", "again.zst", cwd=lab), "exists")
    one_line_refusal(kit.station("convert", "disk.zst", "other.zst", cwd=lab), "is a zst image already")


def test_export_to_e01(kit, imaged, tmp_path):
    lab = imaged
    if shutil.which("ewfacquirestream") is None:
        r = kit.station("export", "disk.zst", "case.E01", cwd=lab)
        one_line_refusal(r, "ewfacquirestream")
        pytest.skip("ewfacquirestream is not installed (Debian: ewf-tools)")
    r = kit.station("export", "disk.zst", "case.E01", "--case", "C-7", "--examiner", "ann", cwd=lab)
    assert r.returncode == 0, r.stderr
    assert (lab / "case.E01").stat().st_size > 0
    if shutil.which("ewfverify"):
        v = subprocess.run(
            ["ewfverify", "-q", str(lab / "case.E01")], capture_output=True, text=True, timeout=60
        )
        assert v.returncode == 0, v.stdout + v.stderr
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    r = subprocess.run([*kit.STATION, "export", "disk.zst", "other.E01"], cwd=lab, env=env,
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    one_line_refusal(r, "ewfacquirestream")


# -- bad input ------------------------------------------------------------------------------------------


def test_bad_input_is_one_line_exit_2_and_changes_nothing(kit, lab):
    (lab / "notours.zst").write_bytes(b"some other program's zstd file" * 100)
    before = kit.tree(lab)
    cases = [
        (["image", "--format", "zip", "source.bin", "x.zst"], "invalid choice"),
        (["image", "--hash", "sha1", "source.bin", "x.zst"], "unknown hash"),
        (["image", "--hash", "sha256,none", "source.bin", "x.zst"], "or none"),
        (["image", "source.bin", "notours.zst"], "no mapfile"),
        (["verify", "missing.zst"], "no such file"),
        (["verify", "source.bin"], "no recorded hashes"),
        (["verify", "notours.zst", "--map", "test.map"], "no recorded hashes"),
        (["seal", "source.bin"], "not a Station zst image"),
        (["convert", "source.bin", "x.img"], "is a raw image already"),
        (["convert", "missing.img", "x.zst"], "no such file"),
        (["export", "source.bin", "x.tar"], "name the export OUT.E01"),
        (["image", "--imager", "serial-imager:/dev/null", "--format", "zst", "S1", "T1"], "--format"),
        (["image", "--imager", "serial-imager:/dev/null", "--hash", "md5", "S1", "T1"], "--hash"),
    ]
    for args, words in cases:
        one_line_refusal(kit.station(*args, cwd=lab), words)
    assert kit.tree(lab) == before
    # with its map, a file that is not ours is still not taken for a zst image
    (lab / "notours.zst.map").write_text((lab / "test.map").read_text())
    before = kit.tree(lab)
    one_line_refusal(kit.station("image", "source.bin", "notours.zst", cwd=lab), "not a Station zst image")
    assert kit.tree(lab) == before
    (lab / "notours.zst.map").unlink()
    # --force starts it over as a zst image
    r = kit.station("image", "-q", "--force", "source.bin", "notours.zst", cwd=lab)
    assert r.returncode == 0, r.stderr
    assert zst_read(lab / "notours.zst") == (lab / "source.bin").read_bytes()


def test_a_running_image_cannot_be_verified_or_sealed(kit, big, tmp_path):
    src, testmap = big
    img, mapfile = tmp_path / "busy.zst", tmp_path / "busy.map"
    p = kit.popen_station("image", "--json", "-H", testmap, src, img, mapfile)
    try:
        for line in p.stdout:
            if json.loads(line)["kind"] == "progress":
                break
        for args in (["seal", img, mapfile], ["verify", img, "--against", src]):
            r = kit.station(*args)
            if p.poll() is None:
                one_line_refusal(r, "being written by session")
        time.sleep(0.01)
    finally:
        kit.stop(p, signal.SIGTERM)
        p.stdout.close()
        p.stderr.close()


def test_the_catalog_reads_each_verification_and_its_outcome(kit, imaged, xdg_data_home):
    from station.catalog import Catalog
    from station.core.session import SessionStore

    lab = imaged
    assert kit.station("verify", "disk.zst", cwd=lab).returncode == 0
    assert kit.station("verify", "disk.zst", "--against", "source.bin", cwd=lab).returncode == 0
    flip(lab / "source.bin", 2 * MiB)
    assert kit.station("verify", "disk.zst", "--against", "source.bin", cwd=lab).returncode == 1
    cat = Catalog.open(SessionStore(xdg_data_home / "station" / "sessions"))
    try:
        image = cat.resolve(str(lab / "disk.zst"))
        found = [(v.ok, v.method) for v in sorted(cat.verifications(image.id), key=lambda v: v.at or 0)]
        against = f"against {lab / 'source.bin'}"
        assert found == [(True, "verify (hashes)"), (True, against), (False, against)]
        assert cat.image(image.id).last_verified is False
    finally:
        cat.close()
