"""`station image --files-first` as a process, on a real MBR disk (ext4, an empty partition, FAT16):
the order of the stages and what each had read, damaged metadata said and the rest done, a
SIGKILL in every stage and the same command going on in that stage (raw and zst), refusals.

The disk is served for the kills as a slow virtual drive whose content is the disk image
(`station sim serve` of a model with `content =`), so each stage lasts long enough to be killed in.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from fsimages import MiB, ext_truth, fat_truth, have, make_disk, make_ext, make_fat

from station.fs import open_disk
from station.images.reader import RawImageReader
from station.jobs.stage_record import load_record
from station.rescue.rescuemap import Status

FILES = {"/a.txt": 100, "/big.bin": 300_000, "/docs/report.bin": 70_000, "/docs/deep/x.bin": 30_000}
SIZE = 48 * MiB
PENDING = (Status.NON_TRIED, Status.NON_TRIMMED, Status.NON_SCRAPED)
P2_BAD = 19 * MiB  # a bad sector in the empty partition 2 (used blocks: taken whole)


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    if not have("sfdisk", "mkfs.ext4", "debugfs", "mkfs.vfat", "mcopy", "mshowfat"):
        pytest.skip("needs sfdisk, e2fsprogs, dosfstools, mtools")
    d = tmp_path_factory.mktemp("ffdisk")
    make_ext(d / "p1.img", 16 * MiB, FILES)
    make_fat(d / "p5.img", 16 * MiB, FILES, bits=16)
    image = d / "disk.img"
    parts = [(16 * MiB, d / "p1.img", "83"), (4 * MiB, None, "7"), (16 * MiB, d / "p5.img", "6")]
    starts = make_disk(image, SIZE, "mbr", parts)
    truth = {}
    for p in FILES:
        truth[(1, p)] = [(lo + starts[0], hi + starts[0]) for lo, hi in ext_truth(d / "p1.img", p, 1024)]
        truth[(5, p)] = [(lo + starts[2], hi + starts[2]) for lo, hi in fat_truth(d / "p5.img", p)]
    return image, truth


def stages(lines: list[dict]) -> list[tuple[str, int]]:
    return [(e["stage"], e["round"]) for e in lines if e["kind"] == "stage"]


def finished(kit, m, ranges) -> bool:
    return kit.covered(list(ranges), kit.ranges(m, "+"))


def session_events(xdg: Path) -> list[dict]:
    out = []
    for f in sorted((xdg / "station" / "sessions").glob("*/events.jsonl")):
        out += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return out


def test_files_first_reads_metadata_then_the_files_before_the_rest(kit, disk, tmp_path) -> None:
    image, truth = disk
    test_map = kit.write_test_map(tmp_path / "test.map", SIZE, [(P2_BAD, 512, "-")])
    chosen = truth[(1, "/docs/report.bin")] + truth[(5, "/docs/report.bin")]
    common = ["-H", test_map, "-X", "0", "--json", "--no-smart"]
    r = kit.station("image", image, tmp_path / "ff.img", *common, "--files-first", "report.bin")
    assert r.returncode == 1, r.stderr  # stopped at the first read error, in the used blocks
    lines = kit.json_lines(r.stdout)
    seen = stages(lines)
    names = [s for s, _ in seen]
    assert names[0] == "metadata" and names[-2:] == ["files", "used"], seen
    assert set(names[:-2]) == {"metadata"} and len(names) - 2 <= 6  # metadata settles in a few rounds
    assert lines[-1]["kind"] == "finished" and "read errors" in lines[-1]["reason"]
    m = kit.read_map(tmp_path / "ff.img.map")
    assert finished(kit, m, chosen)  # both copies of report.bin, before the run stopped
    kit.assert_finished_blocks_match(m, image, tmp_path / "ff.img")
    assert m.bytes_in(Status.NON_TRIED) > SIZE // 2  # the rest still to come

    plain = kit.station("image", image, tmp_path / "plain.img", *common)
    assert plain.returncode == 1, plain.stderr
    assert not stages(kit.json_lines(plain.stdout))  # a plain job says no stages
    pm = kit.read_map(tmp_path / "plain.img.map")
    assert not finished(kit, pm, truth[(5, "/docs/report.bin")])  # past the bad sector: never reached

    rec = load_record(str(tmp_path / "ff.img.map"))
    assert rec is not None and rec.stage == "used" and rec.globs == ["report.bin"]
    assert not (tmp_path / "plain.img.map.stages.json").exists()


def test_damaged_metadata_is_said_and_everything_else_is_rescued(kit, disk, tmp_path, xdg_data_home) -> None:
    image, truth = disk
    with RawImageReader(str(image)) as reader:
        docs = open_disk(reader).filesystem(1).entry("/docs")
    damage = [(lo, hi - lo, "-") for lo, hi in docs.extents]
    test_map = kit.write_test_map(tmp_path / "test.map", SIZE, damage)
    r = kit.station(
        "image", image, tmp_path / "out.img", "-H", test_map, "--json", "--no-smart", "--files-first", "*.bin"
    )
    assert r.returncode == 0, r.stderr  # finished: bad sectors remain
    notices = [e["message"] for e in session_events(xdg_data_home) if e["kind"] == "notice"]
    assert any(n.startswith("not resolved: ") and "/docs: directory not (yet) rescued" in n for n in notices)
    seen = [s for s, _ in stages(kit.json_lines(r.stdout))]
    assert seen[-3:] == ["files", "used", "rest"]
    files = next(e for e in kit.json_lines(r.stdout) if e["kind"] == "stage" and e["stage"] == "files")
    reachable = truth[(1, "/big.bin")] + truth[(5, "/docs/report.bin")] + truth[(5, "/docs/deep/x.bin")]
    assert files["size"] >= sum(hi - lo for lo, hi in reachable)
    m = kit.read_map(tmp_path / "out.img.map")
    assert kit.ranges(m, "-") == [(lo, lo + n) for lo, n, _ in damage]  # exactly the damage, the rest done
    assert kit.ranges(m, "+") == kit.complement(kit.ranges(m, "-"), SIZE)
    kit.assert_finished_blocks_match(m, image, tmp_path / "out.img")


def test_files_first_refusals(kit, disk, tmp_path) -> None:
    image, _ = disk
    for args, said in [
        (["--files-first", ""], "--files-first needs at least one glob"),
        (["--files-first", "x", "--imager", "serial-imager:/dev/null"], "--files-first"),
    ]:
        r = kit.station("image", image, tmp_path / "o.img", *args)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and said in lines[0] and "Traceback" not in r.stderr
        assert not (tmp_path / "o.img").exists() and not (tmp_path / "o.img.map").exists()


# -- killed in every stage, on a slow virtual drive holding the disk ---------------------------------


def _fuse_missing() -> str | None:
    if not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        return "needs /dev/fuse and root"
    try:
        import mfusepy  # noqa: F401
    except OSError as e:
        return f"libfuse cannot be loaded: {e}"
    return None


SLOW = """
name = "fs-disk"
content = "{content}"
seed = 3
[geometry]
zones = 2
heads = 1
inner_spt = 240
outer_spt = 288
rpm = 3600
"""


class Lines:
    """A child's stdout lines (JSON), read in a thread so the test can wait for one."""

    def __init__(self, stream) -> None:
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.all: list[dict] = []
        threading.Thread(target=self._run, args=(stream,), daemon=True).start()

    def _run(self, stream) -> None:
        for line in stream:
            if line.strip():
                self.q.put(json.loads(line))
        self.q.put(None)

    def wait_for(self, pred, timeout: float = 60.0) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            e = self.q.get(timeout=max(deadline - time.monotonic(), 0.01))
            if e is None:
                return None
            self.all.append(e)
            if pred(e):
                return e


@pytest.mark.skipif(_fuse_missing() is not None, reason=_fuse_missing() or "")
@pytest.mark.parametrize("fmt", ["raw", "zst"])
def test_killed_in_every_stage_the_same_command_goes_on_in_that_stage(kit, disk, tmp_path, fmt) -> None:
    from station.sim.fuse import served

    image, truth = disk
    model = tmp_path / "disk.toml"
    model.write_text(SLOW.format(content=image))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    dest = tmp_path / f"out.{'img' if fmt == 'raw' else 'zst'}"
    mapfile = Path(f"{dest}.map")
    kills = ["metadata", "files", "used", "rest"] if fmt == "raw" else ["files"]
    with served(model, mnt, time_scale=1.0) as drive:
        args = ["image", drive.drive_path, dest, "--json", "--no-smart", "--save-interval", "0.2"]
        args += ["--files-first", "/p1/docs/*", "/p5/big.bin"]
        expect: tuple[str, int] | None = None  # the stage killed in, when it still had work
        reached = "metadata"
        order = ["metadata", "files", "used", "rest"]
        for stage in [*kills, None]:
            p = kit.popen_station(*args)
            lines = Lines(p.stdout)
            try:
                first = lines.wait_for(lambda e: e["kind"] in ("stage", "finished"))
                assert first is not None and first["kind"] == "stage", lines.all
                if expect is not None:  # the same command goes on in the stage it was killed in
                    assert (first["stage"], first["round"]) == expect, (expect, first)
                assert order.index(first["stage"]) >= order.index(reached), (reached, first)
                if stage is None:
                    assert p.wait(timeout=120) == 0, p.stderr.read()
                    break
                hit = lines.wait_for(lambda e, s=stage: e["kind"] == "stage" and e["stage"] == s)
                assert hit is not None, lines.all
                p.send_signal(signal.SIGKILL)
                assert p.wait(timeout=10) == -signal.SIGKILL
            finally:
                kit.stop(p)
                p.stdout.close()
                p.stderr.close()
            rec = load_record(str(mapfile))
            assert rec is not None and rec.stage in order
            m = kit.read_map(mapfile)
            reached = rec.stage
            left = any(b.status in PENDING for lo, hi in rec.domain for b in m.blocks(lo, hi))
            expect = (rec.stage, rec.round) if left or rec.stage == "rest" else None
            kit.ddrescuelog_ok(mapfile, lists=False)
            if fmt == "raw":
                kit.assert_finished_blocks_match(m, image, dest)
    m = kit.read_map(mapfile)
    assert m.bytes_in(Status.FINISHED) == SIZE
    if fmt == "raw":
        assert kit.mismatch(image, dest, [(0, SIZE)]) is None
    elif shutil.which("zstd"):
        out = subprocess.run(["zstd", "-d", "-c", str(dest)], capture_output=True, check=True).stdout
        assert out == image.read_bytes()
