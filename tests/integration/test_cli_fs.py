"""`station ls / extract / mount / affected / domain` as processes, on images made by mkfs tools.

An MBR disk (ext4 "DATA" in p1, an empty p2, FAT12 "CARDS" in the logical p5 with a deleted
file) with a mapfile beside it that damages a file, the deleted file's cluster and p2; a GPT disk
with NTFS and exFAT; and the ext4 filesystem alone, without a partition table.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
from fsimages import (
    MiB,
    content,
    ext_truth,
    fat_truth,
    have,
    make_disk,
    make_exfat,
    make_ext,
    make_fat,
    make_ntfs,
    overlaps,
    run,
)

from station.media.fusekit import is_mountpoint, read_line
from station.rescue.mapfile import read_mapfile

FILES = {"/a.txt": 100, "/docs/report.bin": 70_000, "/docs/sub/x.dat": 5000}
FAT_FILES = {**FILES, "/old.bin": 3000}
P2_DAMAGE = 4096  # p2's first sectors: bad
P2_NOTE = "partition 2: no filesystem recognised (its first sectors are not rescued)"


def mtime_of(path: str) -> float:
    return 1_600_000_000 + len(path)  # what fsimages.populate gives every file


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")  # `ls` shows local times


@pytest.fixture(scope="module")
def mbr(tmp_path_factory):
    tools = ("sfdisk", "mkfs.ext4", "tune2fs", "debugfs", "mkfs.vfat", "fatlabel", "mcopy", "mdel")
    if not have(*tools):
        pytest.skip("needs sfdisk, e2fsprogs, dosfstools, mtools")
    d = tmp_path_factory.mktemp("mbr")
    make_ext(d / "p1.img", 8 * MiB, FILES)
    run("tune2fs", "-L", "DATA", str(d / "p1.img"))
    make_fat(d / "p5.img", 8 * MiB, FAT_FILES, bits=12)
    run("fatlabel", str(d / "p5.img"), "CARDS")
    old = fat_truth(d / "p5.img", "/old.bin")
    run("mdel", "-i", str(d / "p5.img"), "::/old.bin")
    image = d / "disk.img"
    parts = [(8 * MiB, d / "p1.img", "83"), (2 * MiB, None, "7"), (8 * MiB, d / "p5.img", "1")]
    p1, p2, p5 = make_disk(image, 24 * MiB, "mbr", parts)
    report = [(lo + p1, hi + p1) for lo, hi in ext_truth(d / "p1.img", "/docs/report.bin", 1024)]
    lo = report[0][0]
    damage = [(lo + 8192, 4096, "-"), (lo + 20480, 1024, "?"), (old[0][0] + p5, 512, "*")]
    damage.append((p2, P2_DAMAGE, "-"))
    return {
        "dir": d,
        "image": image,
        "fs": d / "p1.img",
        "starts": (p1, p2, p5),
        "report": report,
        "damage": damage,
        "size": 24 * MiB,
    }


@pytest.fixture
def disk(mbr, tmp_path, kit):
    """A fresh copy of the MBR disk with its damage in disk.img.map beside it."""
    image = tmp_path / "disk.img"
    shutil.copyfile(mbr["image"], image)
    kit.write_test_map(tmp_path / "disk.img.map", mbr["size"], mbr["damage"])
    return image


@pytest.fixture(scope="module")
def gpt(tmp_path_factory):
    tools = ("sgdisk", "mkntfs", "ntfs-3g", "ntfslabel", "mkfs.exfat", "mount.exfat-fuse", "exfatlabel")
    if os.geteuid() != 0 or not have(*tools):
        pytest.skip("needs root, sgdisk, ntfs-3g, exfatprogs and exfat-fuse")
    d = tmp_path_factory.mktemp("gpt")
    make_ntfs(d / "p1.img", 8 * MiB, FILES)
    run("ntfslabel", str(d / "p1.img"), "WINDATA")
    make_exfat(d / "p2.img", 8 * MiB, FILES)
    run("exfatlabel", str(d / "p2.img"), "CAMERA")
    image = d / "gpt.img"
    make_disk(image, 20 * MiB, "gpt", [(8 * MiB, d / "p1.img", "0700"), (8 * MiB, d / "p2.img", "0700")])
    return image


def refused(r: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2, one line on stderr naming what is wrong, nothing on stdout, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("station: "), r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def rows_under(lines: list[str], header_start: str) -> tuple[str, list[str]]:
    """A table's header line and its rows (up to the first blank line)."""
    i = next(i for i, line in enumerate(lines) if line.lstrip().startswith(header_start))
    rows = []
    for line in lines[i + 1 :]:
        if not line.strip():
            break
        rows.append(line)
    return lines[i], rows


# -- station ls -------------------------------------------------------------------------------------


def test_ls_lists_partitions_then_each_root(kit, disk) -> None:
    r = kit.station("ls", disk)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"map: {disk}.map (found beside the image; --map to use another)"
    head, parts = rows_under(lines, "#")
    assert head.split() == ["#", "start", "bytes", "size", "type", "filesystem", "unrescued", "label"]
    cells = [p.split() for p in parts]
    assert [c[0] for c in cells] == ["1", "2", "5"]
    assert cells[0][-3:] == ["ext4", "5120", "DATA"]
    assert cells[1][-2:] == ["-", str(P2_DAMAGE)]
    assert cells[2][-3:] == ["fat12", "512", "CARDS"]
    assert "/p1:" in lines and "/p5:" in lines
    assert "partition 2: no filesystem recognised" in r.stdout


def test_ls_directory_is_aligned_with_unrescued_bytes(kit, mbr, disk) -> None:
    r = kit.station("ls", disk, "/p1/docs")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "/p1/docs:" in lines
    head, rows = rows_under(lines, "kind")
    assert head.split() == ["kind", "size", "modified", "unrescued", "name"]
    name_at = head.index("name")
    assert all(len(row) > name_at and row[name_at - 1] == " " for row in rows)  # one column for names
    by_name = {row[name_at:]: row.split() for row in rows}
    assert set(by_name) == {"report.bin", "sub"}
    t = time.strftime("%Y-%m-%d %H:%M", time.gmtime(mtime_of("/docs/report.bin")))
    assert by_name["report.bin"] == ["file", "70000", *t.split(), "5120", "report.bin"]
    assert by_name["sub"][0] == "dir" and by_name["sub"][-2] == "0"


def test_ls_json_is_one_object(kit, mbr, disk) -> None:
    r = kit.station("ls", disk, "/p5/docs", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["map"] == f"{disk}.map" and doc["scheme"] == "mbr" and doc["size"] == mbr["size"]
    assert doc["unrescued_bytes"] == 4096 + 1024 + 512 + P2_DAMAGE
    p = {x["number"]: x for x in doc["partitions"]}
    assert (p[1]["filesystem"], p[1]["label"], p[1]["start"]) == ("ext4", "DATA", mbr["starts"][0])
    assert (p[2]["filesystem"], p[2]["unrescued_bytes"]) == (None, P2_DAMAGE)
    assert (p[5]["filesystem"], p[5]["label"], p[5]["unrescued_bytes"]) == ("fat12", "CARDS", 512)
    [listing] = doc["listings"]
    assert (listing["path"], listing["partition"], listing["kind"]) == ("/p5/docs", 5, "dir")
    e = {x["name"]: x for x in listing["entries"]}
    assert e["report.bin"]["path"] == "/docs/report.bin" and e["report.bin"]["shown"] == "/p5/docs/report.bin"
    assert e["report.bin"]["size"] == 70_000 and e["report.bin"]["unrescued_bytes"] == 0
    assert e["report.bin"]["mtime"] == mtime_of("/docs/report.bin")
    assert e["sub"]["kind"] == "dir"
    assert doc["notes"] == [P2_NOTE]


def test_ls_shows_deleted_entries_and_files(kit, disk) -> None:
    r = kit.station("ls", disk, "/p5")
    assert r.returncode == 0, r.stderr
    old = [line for line in r.stdout.splitlines() if "(deleted)" in line]
    assert len(old) == 1 and old[0].split()[0] == "file" and "512" in old[0].split()
    assert "(Volume Label Entry)" not in r.stdout  # the label is a label, not a file
    r = kit.station("ls", disk, "/p5/DOCS/REPORT.BIN")  # FAT ignores case: the stored name is shown
    assert r.returncode == 0, r.stderr
    _, rows = rows_under(r.stdout.splitlines(), "kind")
    assert [row.split()[-1] for row in rows] == ["/p5/docs/report.bin"]


def test_ls_with_partition_option_and_without_a_table(kit, mbr, disk) -> None:
    a = kit.station("ls", disk, "docs", "--partition", "1", "--json")
    b = kit.station("ls", disk, "/p1/docs", "--json")
    assert a.returncode == b.returncode == 0
    assert json.loads(a.stdout)["listings"] == json.loads(b.stdout)["listings"]
    r = kit.station("ls", mbr["fs"], "/docs", "--json")  # the filesystem alone: plain paths
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["map"] is None and doc["scheme"] == "none"
    assert [p["number"] for p in doc["partitions"]] == [0] and doc["partitions"][0]["label"] == "DATA"
    assert {e["name"] for e in doc["listings"][0]["entries"]} == {"report.bin", "sub"}
    assert doc["listings"][0]["path"] == "/docs"
    text = kit.station("ls", mbr["fs"])
    assert text.stdout.splitlines()[0].startswith("no map (no --map, no ")


def test_ls_ntfs_and_exfat_on_gpt(kit, gpt) -> None:
    r = kit.station("ls", gpt, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["scheme"] == "gpt"
    assert [(p["number"], p["filesystem"], p["label"]) for p in doc["partitions"]] == [
        (1, "ntfs", "WINDATA"),
        (2, "exfat", "CAMERA"),
    ]
    roots = {x["path"]: {e["name"]: e for e in x["entries"]} for x in doc["listings"]}
    assert {"a.txt", "docs", "$MFT"} <= set(roots["/p1"]) and roots["/p1"]["$MFT"]["kind"] == "metadata"
    assert {"a.txt", "docs"} <= set(roots["/p2"])
    assert not any("Volume Label" in name for name in roots["/p2"])
    r = kit.station("ls", gpt, "/p2/docs/sub")
    _, rows = rows_under(r.stdout.splitlines(), "kind")
    assert r.returncode == 0 and [row.split()[:2] for row in rows] == [["file", "5000"]]


# -- station affected -------------------------------------------------------------------------------


def test_affected_json_has_the_issue_shape(kit, mbr, disk) -> None:
    r = kit.station("affected", disk, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["map"] == f"{disk}.map"
    damage = [(pos, pos + size) for pos, size, _ in mbr["damage"]]
    report_hit = overlaps(mbr["report"], damage)
    assert report_hit == 4096 + 1024
    files = {(f["partition"], f["path"]): f for f in doc["files"]}
    assert set(files) == {(1, "/docs/report.bin")}
    f = files[(1, "/docs/report.bin")]
    assert {"path", "partition", "size", "affected_bytes"} <= set(f)
    assert (f["size"], f["affected_bytes"], f["kind"], f["deleted"]) == (70_000, report_hit, "file", False)
    assert sum(size for _, size in f["ranges"]) == report_hit
    deleted = [(d["partition"], d["path"], d["affected_bytes"]) for d in doc["deleted"]]
    assert deleted == [(5, "/_ld.bin", 512)]
    assert doc["unrescued_bytes"] == 4096 + 1024 + 512 + P2_DAMAGE
    assert doc["notes"] == [P2_NOTE]


def test_affected_text_most_affected_first_deleted_apart(kit, mbr, disk, tmp_path) -> None:
    # one more hit, smaller: the sub directory's block on p1
    doc = json.loads(kit.station("ls", disk, "/p1/docs", "--json").stdout)
    sub = next(e for e in doc["listings"][0]["entries"] if e["name"] == "sub")
    assert sub["unrescued_bytes"] == 0
    r = kit.station("affected", disk)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"map: {disk}.map (found beside the image; --map to use another)"
    assert lines[1].startswith(f"{disk}: {4096 + 1024 + 512 + P2_DAMAGE} bytes not rescued; 1 of ")
    head, rows = rows_under(lines, "unrescued")
    assert head.split() == ["unrescued", "size", "kind", "path"]
    assert [row.split() for row in rows] == [["5120", "70000", "file", "/p1/docs/report.bin"]]
    i = lines.index("deleted (still named in their directories; their blocks may have been reused):")
    assert lines[i + 2].split() == ["512", "3000", "file", "/p5/_ld.bin"]
    assert lines[-2:] == ["notes:", f"  {P2_NOTE}"]


def test_affected_orders_by_affected_bytes(kit, mbr, disk, tmp_path) -> None:
    p1 = mbr["starts"][0]
    x = [(lo + p1, hi + p1) for lo, hi in ext_truth(mbr["fs"], "/docs/sub/x.dat", 1024)]
    damage = [*mbr["damage"], (x[0][0], 1024, "/")]
    mapfile = kit.write_test_map(tmp_path / "more.map", mbr["size"], damage)
    r = kit.station("affected", disk, mapfile)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"map: {mapfile}"
    _, rows = rows_under(r.stdout.splitlines(), "unrescued")
    assert [row.split()[-1] for row in rows] == ["/p1/docs/report.bin", "/p1/docs/sub/x.dat"]


def test_affected_csv(kit, mbr, disk) -> None:
    r = kit.station("affected", disk, "--csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == [
        "path", "partition", "kind", "size", "allocated_bytes", "affected_bytes", "record_affected",
        "deleted", "inode", "mtime", "ranges",
    ]  # fmt: skip
    got = {(x["partition"], x["path"]): x for x in rows}
    assert set(got) == {("1", "/docs/report.bin"), ("5", "/_ld.bin")}
    f = got[("1", "/docs/report.bin")]
    assert (f["affected_bytes"], f["deleted"], f["mtime"]) == ("5120", "false", "2020-09-13T12:26:56Z")
    assert sum(int(x.split(":")[1]) for x in f["ranges"].split()) == 5120
    assert got[("5", "/_ld.bin")]["deleted"] == "true"
    assert f"map: {disk}.map" in r.stderr and "partition 2" in r.stderr


def test_affected_without_a_map(kit, mbr) -> None:
    r = kit.station("affected", mbr["image"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("no map (")
    assert "0 bytes not rescued; 0 of " in r.stdout
    assert json.loads(kit.station("affected", mbr["image"], "--json").stdout)["files"] == []


# -- station extract --------------------------------------------------------------------------------


def test_extract_files_and_directories_times_kept_gaps_reported(kit, mbr, disk, tmp_path) -> None:
    out = tmp_path / "out"
    r = kit.station("extract", disk, "/p1/docs", "/p5/a.txt", "--to", out)
    assert r.returncode == 1, r.stderr  # report.bin is incomplete
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "a.txt",
        "docs",
        "docs/report.bin",
        "docs/sub",
        "docs/sub/x.dat",
    ]
    for rel, path in [("a.txt", "/a.txt"), ("docs/sub/x.dat", "/docs/sub/x.dat")]:
        assert (out / rel).read_bytes() == content(path, FILES[path])
        assert (out / rel).stat().st_mtime == mtime_of(path)
    got = (out / "docs" / "report.bin").read_bytes()
    want = bytearray(content("/docs/report.bin", 70_000))
    want[8192 : 8192 + 4096] = bytes(4096)
    want[20480 : 20480 + 1024] = bytes(1024)
    assert got == bytes(want)
    assert (out / "docs" / "report.bin").stat().st_mtime == mtime_of("/docs/report.bin")
    lines = r.stdout.splitlines()
    assert lines[1] == f"extracted 3 files (75100 bytes, 75 kB) and 2 directories from {disk} into {out}"
    assert lines[2] == "1 incomplete (zeros where the image has no data):"
    assert lines[3].split() == [
        "/p1/docs/report.bin", "5120", "of", "70000", "bytes", "missing,", "at", "8192-12288,", "20480-21504",
    ]  # fmt: skip


def test_extract_complete_exits_0_and_a_root_lands_in_pN(kit, disk, tmp_path) -> None:
    out = tmp_path / "new" / "out"  # created, parents too
    r = kit.station("extract", disk, "/p5", "--to", out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (out / "p5" / "docs" / "report.bin").read_bytes() == content("/docs/report.bin", 70_000)
    assert not (out / "p5" / "old.bin").exists() and not (out / "p5" / "_ld.bin").exists()  # deleted
    assert "incomplete" not in r.stdout


# -- station domain ---------------------------------------------------------------------------------


def test_domain_files_read_by_ddrescue_and_station_image(kit, mbr, have_ddrescue, tmp_path) -> None:
    image = mbr["image"]
    dom = tmp_path / "report.map"
    r = kit.station("domain", image, "--files", "/p1/docs/*.bin", "-o", dom)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].startswith(f"wrote {dom}: files /p1/docs/*.bin, ")
    m = read_mapfile(dom)
    assert m.size == mbr["size"]
    chosen = kit.ranges(m, "+")
    assert overlaps(chosen, mbr["report"]) == sum(hi - lo for lo, hi in mbr["report"])  # all of it
    p5 = mbr["starts"][2]
    assert overlaps(chosen, [(p5, p5 + 8 * MiB)]) == 0  # the FAT partition's copy is not chosen
    kit.ddrescuelog_ok(dom)
    r = kit.ddrescue("-m", dom, image, tmp_path / "dd.img", tmp_path / "dd.map")
    assert r.returncode == 0, r.stderr
    assert kit.ranges(read_mapfile(tmp_path / "dd.map"), "+") == chosen
    r = kit.station("image", image, tmp_path / "st.img", tmp_path / "st.map", "-m", dom)
    assert r.returncode == 0, r.stderr
    assert kit.ranges(read_mapfile(tmp_path / "st.map"), "+") == chosen
    kit.assert_finished_blocks_match(read_mapfile(tmp_path / "st.map"), image, tmp_path / "st.img")


def test_domain_metadata_and_used(kit, mbr, tmp_path) -> None:
    image = mbr["image"]
    r = kit.station("domain", image, "--metadata", "-o", tmp_path / "meta.map")
    assert r.returncode == 0, r.stderr
    meta = kit.ranges(read_mapfile(tmp_path / "meta.map"), "+")
    assert overlaps(meta, [(0, 512)]) == 512  # the MBR
    assert overlaps(meta, mbr["report"]) == 0  # no file data
    r = kit.station("domain", image, "--used", "-o", tmp_path / "used.map")
    assert r.returncode == 0, r.stderr
    used = kit.ranges(read_mapfile(tmp_path / "used.map"), "+")
    assert overlaps(used, mbr["report"]) == sum(hi - lo for lo, hi in mbr["report"])
    assert 0 < sum(hi - lo for lo, hi in used) < mbr["size"] // 2
    assert "partition 2: no filesystem known, taken whole" in r.stdout


def test_domain_metadata_of_an_image_nobody_has_read(kit, mbr, tmp_path) -> None:
    """Files-first starts from nothing: the bootstrap (the disk's first and last MiB)."""
    mapfile = kit.write_test_map(tmp_path / "none.map", mbr["size"], [(0, mbr["size"], "?")])
    r = kit.station("domain", mbr["image"], "--metadata", "--map", mapfile, "-o", tmp_path / "boot.map")
    assert r.returncode == 0, r.stderr
    boot = kit.ranges(read_mapfile(tmp_path / "boot.map"), "+")
    assert boot == [(0, MiB), (mbr["size"] - MiB, mbr["size"])]
    refused(kit.station("ls", mbr["image"], "--map", mapfile), "first sectors are not rescued yet")


# -- station mount ----------------------------------------------------------------------------------


needs_fuse = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"), reason="needs root and /dev/fuse"
)


@needs_fuse
def test_mount_serves_partitions_and_stops_on_sigterm(kit, mbr, disk, tmp_path) -> None:
    mnt, fsdir = tmp_path / "mnt", tmp_path / "fs"
    mnt.mkdir()
    fsdir.mkdir()
    p = kit.popen_station("mount", disk, mnt)
    try:
        deadline = time.monotonic() + 30
        while not (mnt / "p5").exists():
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.1)
        assert sorted(os.listdir(mnt)) == ["disk", "p1", "p2", "p5"]
        subprocess.run(["mount", "-o", "ro,loop", str(mnt / "p1"), str(fsdir)], check=True, timeout=30)
        try:
            assert (fsdir / "a.txt").read_bytes() == content("/a.txt", 100)
            got = (fsdir / "docs" / "report.bin").read_bytes()  # unrescued bytes read as zeros
            assert got[8192 : 8192 + 4096] == bytes(4096) and got[:8192] == content("/docs/report.bin", 8192)
        finally:
            subprocess.run(["umount", str(fsdir)], check=True, timeout=30)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        kit.stop(p)
    assert p.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == f"map: {disk}.map (found beside the image; --map to use another)"
    assert lines[1] == f"serving {disk} read-only at {mnt} (unrescued bytes read as zeros):"
    assert lines[2].split() == ["disk", str(mbr["size"]), "the", "whole", "image"]
    assert lines[3].split() == ["p1", str(8 * MiB), "ext4", "'DATA'", "(0x83", "Linux)"]
    assert lines[5].split()[:3] == ["p5", str(8 * MiB), "fat12"]
    assert lines[6].startswith("Ctrl-C stops")
    assert err.strip() == f"stopped: {mnt} unmounted"
    assert not is_mountpoint(mnt) and os.listdir(mnt) == []


@needs_fuse
def test_mount_json_and_eio(kit, mbr, disk, tmp_path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    p = kit.popen_station("mount", disk, mnt, "--json", "--eio", "--map", f"{disk}.map")
    try:
        info = json.loads(read_line(p, 30) or "{}")
        assert info["files"] == ["disk", "p1", "p2", "p5"] and info["eio"] is True
        assert info["map"] == f"{disk}.map" and info["sizes"]["p2"] == 2 * MiB
        fd = os.open(mnt / "p2", os.O_RDONLY)
        try:
            with pytest.raises(OSError):
                os.pread(fd, 4096, 0)  # p2's first 4 KiB are bad
        finally:
            os.close(fd)
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    finally:
        kit.stop(p)
    assert not is_mountpoint(mnt)


# -- bad input --------------------------------------------------------------------------------------


def test_bad_input_is_refused_in_one_line_and_changes_nothing(kit, mbr, disk, tmp_path) -> None:
    work = disk.parent
    (work / "dir").mkdir()
    (work / "full").mkdir()
    (work / "full" / "x").write_text("x")
    (work / "random.bin").write_bytes(os.urandom(200_000))
    (work / "empty.img").write_bytes(b"")
    (work / "bad.map").write_text("this is not a mapfile\n")
    (work / "dom.map").write_text("keep me\n")
    kit.write_test_map(work / "long.map", 2 * mbr["size"], [(mbr["size"], 4096, "-")])
    before = kit.tree(work)
    d = str(disk)
    cases = [
        (["ls", work / "nope.img"], "nope.img: no such file"),
        (["ls", work / "dir"], "is a directory, not an image"),
        (["ls", work / "random.bin"], "no partition table and no filesystem found"),
        (["affected", work / "empty.img"], "empty file, not an image"),
        (["ls", "/dev/null"], "not a file or a drive"),
        (["ls", d, "--map", work / "bad.map"], "bad.map: line 1"),
        (["ls", d, "--map", work / "missing.map"], "missing.map: no such mapfile"),
        (["affected", d, d], "not a mapfile (binary data)"),
        (["affected", d, work / "long.map"], "not this image's map?"),
        (["affected", d, work / "bad.map", "--map", work / "long.map"], "two mapfiles"),
        (["ls", d, "/p1/nope"], f"{d}: /p1/nope: no such file or directory"),
        (["ls", d, "/p1/a.txt/x"], "/p1/a.txt: not a directory"),
        (["ls", d, "/docs"], "has partitions (p1, p2, p5): start the path with one, as /p1/docs"),
        (["ls", d, "/p9"], "partition 9: no such partition"),
        (["ls", d, "/p2"], "partition 2: no filesystem recognised"),
        (["ls", mbr["fs"], "/p1/docs"], "/p1: no such file or directory"),
        (["extract", d, "/p1/nope", "--to", work / "o"], "/p1/nope: no such file or directory"),
        (["extract", d, "/p1/docs", "--to", work / "full"], "full: not empty"),
        (["extract", d, "/p1/docs", "--to", work / "bad.map"], "exists and is not a directory"),
        (["extract", d, "/p1/docs", "/p5/docs", "--to", work / "o"], "would both be written to"),
        (["extract", d, "/p1", "/p1/docs", "--to", work / "o"], "one holds the other"),
        (["extract", d, "/p1/docs", "--to", work / "o", "--map", work / "bad.map"], "bad.map"),
        (["domain", d, "--used", "-o", work / "dom.map"], "exists (--force replaces it)"),
        (["domain", d, "--used", "-o", f"{d}.map", "--force"], "is the image map itself"),
        (["domain", d, "--used", "-o", work / "no" / "d.map"], "no such directory"),
        (["domain", d, "--files", "*.docx", "-o", work / "new.map"], "nothing in"),
        (["domain", d, "-o", work / "new.map"], "one of the arguments --metadata --used --files"),
        (["mount", d, work / "full"], "not empty"),
        (["mount", d, work / "nomnt"], "no such directory"),
        (["mount", work / "nope.img", work / "dir"], "no such file"),
    ]
    for args, words in cases:
        refused(kit.station(*args), words)
    assert kit.tree(work) == before


def test_damaged_directory_gives_notes_not_tracebacks(kit, mbr, tmp_path) -> None:
    """Random bytes over /docs's block: TSK's errors become notes or one line, never a traceback."""
    image = tmp_path / "fs.img"
    shutil.copyfile(mbr["fs"], image)
    doc = json.loads(kit.station("ls", image, "/", "--json").stdout)
    docs = next(e for e in doc["listings"][0]["entries"] if e["name"] == "docs")
    out = run("debugfs", "-R", "stat /docs", str(image)).stdout
    block = int(re.search(r"\(0\):(\d+)", out).group(1))
    with open(image, "r+b") as f:
        f.seek(block * 1024)
        f.write(os.urandom(1024))
    for args in (["ls", image, "/docs"], ["ls", image, "/docs/sub"], ["affected", image], ["ls", image]):
        r = kit.station(*args)
        assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) <= 1, r.stderr
        assert r.returncode in (0, 2), r
    assert docs["kind"] == "dir"


def test_a_sealed_zst_image_carries_its_map_and_reads_like_the_raw_one(kit, mbr, disk, tmp_path) -> None:
    from station.images.convert import raw_to_zst

    zst = tmp_path / "disk.zst"
    raw_to_zst(str(disk), str(zst), f"{disk}.map", chunk_size=256 << 10)
    raw = json.loads(kit.station("affected", disk, "--json").stdout)
    r = kit.station("affected", zst, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["files"] == raw["files"] and doc["deleted"] == raw["deleted"]
    assert doc["unrescued_bytes"] == raw["unrescued_bytes"]
    out = tmp_path / "out"
    r = kit.station("extract", zst, "/p1/a.txt", "--to", out)
    assert r.returncode == 0, r.stderr
    assert (out / "a.txt").read_bytes() == content("/a.txt", FILES["/a.txt"])
    assert kit.station("ls", zst, "/p1").stdout.splitlines()[0] == "map: the one carried inside the image"
