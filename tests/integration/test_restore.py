"""`station restore`, `station verify TARGET --against IMAGE` and `station clone` as processes, on files.

Images are a random source with unread areas in their map (raw + map, and the same sealed as
zst).  Loop devices, GPT and sector sizes are in test_restore_loop.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from station.images.convert import raw_to_zst
from station.jobs.restore_stream import marker_sector
from station.rescue.mapfile import write_mapfile
from station.rescue.rescuemap import RescueMap, Status

sys.path.insert(0, str(Path(__file__).parents[1]))
from failing_disk import failing_disk  # noqa: E402

MiB = 1 << 20
SIZE = 24 * MiB
HOLES = [(3 * MiB, 3 * MiB + 4096, Status.BAD_SECTOR), (10 * MiB + 512, 10 * MiB + 1536, Status.NON_SCRAPED),
         (20 * MiB, 22 * MiB, Status.NON_TRIED)]  # fmt: skip


@pytest.fixture
def image(tmp_path: Path, kit) -> Path:
    """A raw image with its map: three areas the rescue never read; a stretch of zeros."""
    raw = kit.make_source(tmp_path / "disk.img", SIZE)
    with open(raw, "r+b") as f:
        f.seek(12 * MiB)
        f.write(bytes(4 * MiB))
    m = RescueMap(SIZE, Status.FINISHED)
    for lo, hi, st in HOLES:
        m.set_status(lo, hi - lo, st)
    write_mapfile(str(raw) + ".map", m)
    return raw


@pytest.fixture
def zst(image: Path) -> Path:
    out = image.with_suffix(".zst")
    raw_to_zst(str(image), str(out))
    return out


def expected(image: Path) -> bytes:
    """The image as its map reads it: unread bytes as zeros."""
    data = bytearray(image.read_bytes())
    for lo, hi, _ in HOLES:
        data[lo:hi] = bytes(hi - lo)
    return bytes(data)


def records(xdg: Path) -> list[dict]:
    root = xdg / "station" / "sessions"
    return [
        json.loads((d / "session.json").read_text())
        for d in sorted(root.iterdir())
        if (d / "session.json").exists()
    ]


def test_restore_to_two_files_is_verified_and_recorded(
    kit, image: Path, tmp_path: Path, xdg_data_home: Path
) -> None:
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    r = kit.station("restore", image, a, b)
    assert r.returncode == 0, r.stderr
    want = expected(image)
    assert a.read_bytes() == want and b.read_bytes() == want
    assert "finished: restored and verified to 2 targets" in r.stderr
    [rec] = records(xdg_data_home)
    assert rec["kind"] == "restore" and rec["state"] == "finished"
    assert rec["restore"]["image"] == str(image) and rec["restore"]["fill"] == "zero"
    assert rec["restore"]["unrescued"] == sum(hi - lo for lo, hi, _ in HOLES)
    assert rec["destinations"] == [str(a), str(b)]
    for t in rec["targets"]:
        assert t["state"] == "written" and t["bytes_written"] == SIZE and t["seconds"] is not None
        check = t["check"]
        assert check["state"] == "ok" and check["expected"] == hashlib.sha256(want).hexdigest()
        assert check["expected_from"] == "computed while reading the image"
    assert rec["mapfile"].startswith(str(xdg_data_home)), "the restore's map lives in the session store"


def test_a_sealed_image_is_checked_against_its_recorded_hash(
    kit, zst: Path, image: Path, tmp_path: Path
) -> None:
    a = tmp_path / "a.img"
    r = kit.station("restore", zst, a, "--json")
    assert r.returncode == 0, r.stderr
    lines = kit.json_lines(r.stdout)
    assert {"progress", "targets", "target", "finished"} <= {x["kind"] for x in lines}
    [t] = lines[-1]["targets"]
    assert t["check"]["state"] == "ok" and t["check"]["expected_from"] == "recorded in the image"
    assert a.read_bytes() == expected(image)


def test_fill_marker_names_each_unread_sector(kit, image: Path, tmp_path: Path) -> None:
    a = tmp_path / "a.img"
    a.write_bytes(b"\xff" * SIZE)
    r = kit.station("restore", image, a, "--fill", "marker", "--force")
    assert r.returncode == 0, r.stderr
    got, want = a.read_bytes(), expected(image)
    for lo, hi, _ in HOLES:
        for s in range(lo // 512, -(-hi // 512)):
            a_, b_ = max(lo, s * 512), min(hi, s * 512 + 512)
            assert got[a_:b_] == marker_sector(s)[a_ - s * 512 : b_ - s * 512], f"sector {s}"
    rest = bytearray(got)
    for lo, hi, _ in HOLES:
        rest[lo:hi] = bytes(hi - lo)
    assert bytes(rest) == want, "outside the unread areas the image's bytes"
    marked = {i // 512 for i in range(0, SIZE, 512) if b"STATION-NOT-RESCUED" in got[i : i + 512]}
    unread = {s for lo, hi, _ in HOLES for s in range(lo // 512, -(-hi // 512))}
    assert marked == unread
    assert kit.station("verify", a, "--against", image, "--fill", "marker").returncode == 0


def test_fill_skip_keeps_the_targets_bytes(kit, image: Path, tmp_path: Path) -> None:
    a = tmp_path / "a.img"
    a.write_bytes(b"\xee" * SIZE)
    r = kit.station("restore", image, a, "--fill", "skip", "--force")
    assert r.returncode == 0, r.stderr
    got = a.read_bytes()
    src = image.read_bytes()
    pos = 0
    for lo, hi, _ in HOLES:
        assert got[pos:lo] == src[pos:lo]
        assert got[lo:hi] == b"\xee" * (hi - lo)
        pos = hi
    assert got[pos:] == src[pos:]


def test_verify_catches_a_byte_changed_after_the_write(kit, zst: Path, tmp_path: Path) -> None:
    a = tmp_path / "a.img"
    assert kit.station("restore", zst, a).returncode == 0
    assert kit.station("verify", a, "--against", zst).returncode == 0
    with open(a, "r+b") as f:
        f.seek(7 * MiB + 100)
        b = f.read(1)
        f.seek(7 * MiB + 100)
        f.write(bytes([b[0] ^ 0x40]))
    r = kit.station("verify", a, "--against", zst, "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["state"] == "mismatch" and out["actual"] != out["expected"]
    [[lo, hi]] = out["bad_ranges"]
    assert lo <= 7 * MiB + 100 < hi and hi - lo <= 64 * 1024
    r = kit.station("verify", a, "--against", zst)
    assert r.returncode == 1 and "MISMATCH" in r.stdout and str(lo) in r.stdout


def test_a_target_that_fails_part_way_is_reported_and_the_others_go_on(
    kit, zst: Path, image: Path, tmp_path: Path, xdg_data_home: Path
) -> None:
    if shutil.which("fusermount3") is None or not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        pytest.skip("needs FUSE and root")
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    with failing_disk(tmp_path, SIZE, fail_after=5 * MiB) as (disk, _server):
        r = kit.station("restore", zst, a, disk, b, "--force")
    assert r.returncode == 1, r.stderr
    assert a.read_bytes() == expected(image) and b.read_bytes() == expected(image)
    table = r.stderr.splitlines()
    row = next(line for line in table if line.startswith(str(disk)))
    assert "failed: input/output error writing at byte" in row
    assert sum("ok (sha256 matches" in line for line in table) == 2
    assert "failed: 1 of 3 targets failed" in r.stderr
    [rec] = records(xdg_data_home)
    states = {t["path"]: (t["state"], t["check"]["state"]) for t in rec["targets"]}
    assert states == {str(a): ("written", "ok"), str(disk): ("failed", "skipped"), str(b): ("written", "ok")}
    assert rec["state"] == "failed" and rec["result"]["exit_status"] == 1


def test_a_target_that_vanishes_is_dropped(kit, zst: Path, tmp_path: Path) -> None:
    if shutil.which("fusermount3") is None or not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        pytest.skip("needs FUSE and root")
    a = tmp_path / "a.img"
    with failing_disk(tmp_path, SIZE, fail_after=1 << 40) as (disk, server):
        server.kill()  # the disk goes away: its writes fail (ENOTCONN), it is no hang
        server.wait(10)
        r = kit.station("restore", zst, a, disk, "--force", timeout=60)
    assert r.returncode in (1, 2), r.stderr
    if r.returncode == 1:  # it vanished after the checks: dropped, the other written
        assert kit.station("verify", a, "--against", zst).returncode == 0
    else:  # gone before: refused in one line
        assert len(r.stderr.strip().splitlines()) == 1


def test_used_only_writes_the_used_blocks_and_zeroes_the_rest(kit, tmp_path: Path) -> None:
    if shutil.which("mkfs.ext4") is None or shutil.which("e2fsck") is None:
        pytest.skip("e2fsprogs is not installed")
    from fsimages import content, make_ext

    img = tmp_path / "ext4.img"
    files = {"/docs/a.txt": 300_000, "/docs/b.bin": 2 * MiB, "/c.dat": 70_000}
    make_ext(img, 32 * MiB, files, block_size=4096)
    with open(img, "r+b") as f:  # stale bytes in free space: not copied with --used-only
        f.seek(28 * MiB)
        f.write(b"\xab" * MiB)
    a = tmp_path / "a.img"
    a.write_bytes(b"\xcd" * (32 * MiB))
    r = kit.station("restore", img, a, "--used-only", "--force")
    assert r.returncode == 0, r.stderr
    got = a.read_bytes()
    assert got[28 * MiB : 29 * MiB] == bytes(MiB), "free space is zeroed, not the image's stale bytes"
    assert b"\xcd" * 4096 not in got, "nothing of the target's old content is left"
    fsck = kit_run("e2fsck", "-fn", str(a))
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    for path, size in files.items():
        out = kit_run("debugfs", "-R", f"cat {path}", str(a), binary=True)
        assert out.stdout == content(path, size)
    assert kit.station("verify", a, "--against", img, "--used-only").returncode == 0


def kit_run(*cmd: str, binary: bool = False):
    import subprocess

    return subprocess.run(cmd, capture_output=True, text=not binary, timeout=60)


def test_clone_onto_two_files_with_the_map_in_the_store(kit, tmp_path: Path, xdg_data_home: Path) -> None:
    src = kit.make_source(tmp_path / "src.bin", 8 * MiB)
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    r = kit.station("clone", src, a, b, "-q")
    assert r.returncode == 0, r.stderr
    assert a.read_bytes() == src.read_bytes() == b.read_bytes()
    [rec] = records(xdg_data_home)
    assert rec["kind"] == "clone" and rec["destinations"] == [str(a), str(b)]
    assert rec["mapfile"].startswith(str(xdg_data_home / "station" / "sessions" / "maps"))
    assert [t["state"] for t in rec["targets"]] == ["written", "written"]
    assert all(t["bytes_written"] == 8 * MiB for t in rec["targets"])
    # both read back over everything rescued, and they agree: the source's SHA-256
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert [(t["check"]["state"], t["check"]["actual"]) for t in rec["targets"]] == [("ok", digest)] * 2
    assert all(t["check"]["checked_bytes"] == 8 * MiB for t in rec["targets"])
    assert "ok (read back whole, sha256" in r.stderr
    again = kit.station("clone", src, a, b, "-q")  # the same command resumes (nothing left to do)
    assert again.returncode == 0, again.stderr


def test_clone_no_verify_leaves_the_targets_unread(kit, tmp_path: Path, xdg_data_home: Path) -> None:
    src = kit.make_source(tmp_path / "src.bin", 4 * MiB)
    a = tmp_path / "a.img"
    r = kit.station("clone", src, a, "-q", "--no-verify")
    assert r.returncode == 0, r.stderr
    [rec] = records(xdg_data_home)
    assert rec["targets"][0].get("check") is None and a.read_bytes() == src.read_bytes()


def test_clone_catches_a_fake_capacity_target(kit, tmp_path: Path, xdg_data_home: Path) -> None:
    """A drive that says 8 MiB but holds 4 (its addresses wrap, as counterfeit flash does) takes
    every write without an error; reading the targets back finds it and names where it differs."""
    if shutil.which("fusermount3") is None or not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        pytest.skip("needs FUSE and root")
    src = kit.make_source(tmp_path / "src.bin", 8 * MiB)
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    with failing_disk(tmp_path, 8 * MiB, fail_after=4 * MiB, wrap=True) as (fake, _server):
        r = kit.station("clone", src, a, fake, b, "--force", "-q")
    assert r.returncode == 1, r.stderr
    [rec] = records(xdg_data_home)
    by = {t["path"]: t for t in rec["targets"]}
    assert by[str(a)]["check"]["state"] == by[str(b)]["check"]["state"] == "ok"
    fake_check = by[str(fake)]["check"]
    assert by[str(fake)]["state"] == "written" and fake_check["state"] == "mismatch"
    ranges = fake_check["bad_ranges"]
    assert ranges and ranges[0][0] < 4 * MiB  # its first half was overwritten by the second
    assert rec["state"] == "failed" and f"{fake} differs from the others" in rec["reason"]
    assert "MISMATCH" in r.stderr


def test_clone_drops_a_failing_target_and_goes_on(kit, tmp_path: Path, xdg_data_home: Path) -> None:
    if shutil.which("fusermount3") is None or not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        pytest.skip("needs FUSE and root")
    src = kit.make_source(tmp_path / "src.bin", 8 * MiB)
    a = tmp_path / "a.img"
    with failing_disk(tmp_path, 8 * MiB, fail_after=2 * MiB) as (disk, _server):
        r = kit.station("clone", src, disk, a, "--force", "-q")
    assert r.returncode == 1, r.stderr
    assert a.read_bytes() == src.read_bytes()
    [rec] = records(xdg_data_home)
    by = {t["path"]: t for t in rec["targets"]}
    assert by[str(disk)]["state"] == "dropped" and "input/output error" in by[str(disk)]["error"]
    assert by[str(a)]["state"] == "written"
    assert "dropped" in rec["reason"]


def test_every_refusal_is_one_line_exit_2_and_changes_nothing(
    kit, image: Path, zst: Path, tmp_path: Path, xdg_data_home: Path
) -> None:
    from station.media.locks import lock_for_writing

    old = tmp_path / "old.img"
    old.write_bytes(b"keep" * 1024)
    (tmp_path / "adir").mkdir()
    link = tmp_path / "link.img"
    link.symlink_to(image)
    hard = tmp_path / "hard.img"
    os.link(image, hard)
    broken = tmp_path / "broken.zst"
    broken.write_bytes(zst.read_bytes()[:-5000])
    new = tmp_path / "new.img"
    held = tmp_path / "held.img"  # an image a rescue is still writing
    held.write_bytes(b"rescue in progress" * 100)
    cases = {
        "no image": ["restore", tmp_path / "nope.img", new],
        "image is a directory": ["restore", tmp_path / "adir", new],
        "damaged image": ["restore", broken, new],
        "no such map": ["restore", image, new, "--map", tmp_path / "nope.map"],
        "target is the image": ["restore", image, image, "--force"],
        "target is the image by a link": ["restore", image, link, "--force"],
        "target is a hard link of the image": ["restore", image, hard, "--force"],
        "target is the image's map": ["restore", image, str(image) + ".map", "--force"],
        "named twice": ["restore", image, new, new],
        "named twice by two names": ["restore", image, old, tmp_path / "." / "old.img", "--force"],
        "existing file without --force": ["restore", image, new, old],
        "no such directory": ["restore", image, tmp_path / "nodir" / "t.img"],
        "a directory": ["restore", image, tmp_path / "adir"],
        "a character device": ["restore", image, "/dev/null"],
        "a bad fill": ["restore", image, new, "--fill", "random"],
        "no target": ["restore", image],
        "a bad stall timeout": ["restore", image, new, "--stall-timeout", "0"],
        "another job holds a target": ["restore", image, new, held],
        "a rescue still writes the image": ["restore", held, new],
        "verify: no such target": ["verify", tmp_path / "nope.img", "--against", image],
        "verify: no such image": ["verify", old, "--against", tmp_path / "nope.img"],
        "clone: the source as target": ["clone", image, image, "--force"],
        "clone: a target named twice": ["clone", image, new, new],
    }
    lock = lock_for_writing([str(held)], "a test holding it")
    try:
        before = kit.tree(tmp_path)
        for what, args in cases.items():
            r = kit.station(*args)
            assert r.returncode == 2, f"{what}: {r.returncode} {r.stderr}"
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("station: "), f"{what}: {r.stderr!r}"
            assert "Traceback" not in r.stderr
            assert kit.tree(tmp_path) == before, f"{what}: something changed"
            if "holds" in what or "writes" in what:
                assert "is being written by a test holding it" in r.stderr, r.stderr
    finally:
        lock.release()
    assert not (xdg_data_home / "station" / "sessions").exists() or not [
        d for d in (xdg_data_home / "station" / "sessions").iterdir() if d.name != "maps"
    ], "no session was created"


def test_a_target_that_stops_answering_is_dropped_after_the_stall_timeout(
    kit, zst: Path, tmp_path: Path
) -> None:
    if shutil.which("fusermount3") is None or not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        pytest.skip("needs FUSE and root")
    a = tmp_path / "a.img"
    with failing_disk(tmp_path, SIZE, fail_after=3 * MiB, hang=True) as (disk, _server):
        r = kit.station("restore", zst, disk, a, "--force", "--stall-timeout", "2", timeout=60)
    assert r.returncode == 1, r.stderr
    row = next(line for line in r.stderr.splitlines() if line.startswith(str(disk)))
    assert "stalled: no answer for" in row
    assert kit.station("verify", a, "--against", zst).returncode == 0


def test_a_stop_ends_the_restore_as_stopped(tmp_path: Path, image: Path, xdg_data_home: Path) -> None:
    import threading

    from station.core.control import RunControl
    from station.jobs.restore import RestoreSettings, prepare_restore

    job = prepare_restore(str(image), [str(tmp_path / "a.img")], settings=RestoreSettings(), command=["t"])
    control = RunControl(threading.Event())
    control.stop()
    r = job.run(control=control)
    assert r.outcome == "stopped" and r.exit_status == 1
    assert job.session is not None and [t.state for t in job.session.record.targets or []] == ["stopped"]


def test_the_catalog_lists_the_restore_under_its_image(
    kit, zst: Path, tmp_path: Path, xdg_data_home: Path
) -> None:
    import time

    from station.catalog import Catalog
    from station.core.identity import SourceIdentity
    from station.core.record import SessionRecord, SessionResult
    from station.core.session import SessionStore

    store = SessionStore()
    s = store.create(SessionRecord(destinations=[str(zst)], source=SourceIdentity("/dev/sdq", "block", SIZE)))
    s.finish("finished", "done", SessionResult(rescued=SIZE, size=SIZE))
    time.sleep(0.01)
    a = tmp_path / "a.img"
    assert kit.station("restore", zst, a).returncode == 0
    with Catalog.open(store) as cat:
        [image] = [i for i in cat.images() if i.path == str(zst)]
        [r] = cat.restores(image.id)
    assert (r.target, r.bytes, r.state, r.verified) == (str(a), SIZE, "written", True)
