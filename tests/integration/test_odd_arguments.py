"""Arguments with non-ASCII letters or newlines (issue 10, §3.7): the map's `# Command line:`
comment quotes them safely, so the run works and both Station and GNU ddrescuelog read the map."""

from __future__ import annotations

import shutil

import pytest

from station.rescue.mapfile import read_mapfile

SIZE = 256 * 1024


@pytest.mark.parametrize("name", ["Müller.img", "a\nb.img", "tab\there.img", "日本.img", "cr\rx.img"])
def test_odd_names_make_a_map_everyone_reads(kit, tmp_path, name) -> None:
    kit.make_source(tmp_path / "src.bin", SIZE)
    r = kit.station("image", "-q", "src.bin", name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    mapfile = tmp_path / (name + ".map")
    text = mapfile.read_bytes()
    assert text.isascii()
    header = [line for line in text.decode().splitlines() if line.startswith("# Command line:")]
    assert len(header) == 1
    assert read_mapfile(mapfile).size == SIZE
    if shutil.which("ddrescuelog"):
        kit.ddrescuelog_ok(mapfile)
    r = kit.station("image", "-q", "src.bin", name, cwd=tmp_path)  # and it resumes from it
    assert r.returncode == 0, r.stderr


def test_a_symlinked_mapfile_is_written_through(kit, tmp_path) -> None:
    """§3.10: the map behind a symlink is the one kept up to date; the link stays a link."""
    kit.make_source(tmp_path / "src.bin", SIZE)
    store = tmp_path / "store"
    store.mkdir()
    half = SIZE // 2  # an earlier run rescued the first half
    (store / "case.map").write_text(f"0x0 ?\n0x0 {half:#x} +\n{half:#x} {half:#x} ?\n")
    (tmp_path / "o.img").write_bytes((tmp_path / "src.bin").read_bytes()[:half])
    (tmp_path / "link.map").symlink_to("store/case.map")
    r = kit.station("image", "-q", "src.bin", "o.img", "link.map", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "link.map").is_symlink() and not (tmp_path / "link.map.bak").exists()
    assert read_mapfile(store / "case.map").summary().rescued == SIZE
    assert read_mapfile(store / "case.map.bak").summary().rescued == SIZE // 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_temporary_maps_of_dead_processes_are_removed(kit, tmp_path) -> None:
    """§3.11: kill -9 between writing a temporary map and renaming it leaves `.NAME.map.tmpPID`;
    the next run on that map removes those of processes that are gone, and only those."""
    import os
    import subprocess

    kit.make_source(tmp_path / "src.bin", SIZE)
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = os.getpid()
    stale = [f".o.img.map.tmp{dead.pid}", f".o.img.map.bak{dead.pid}", ".o.img.map.tmp4999999"]
    for name in [*stale, f".o.img.map.tmp{alive}", f".other.map.tmp{dead.pid}"]:
        (tmp_path / name).write_text("0x0 ?\n")
    r = kit.station("image", "-q", "src.bin", "o.img", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert left == sorted([f".o.img.map.tmp{alive}", f".other.map.tmp{dead.pid}"])
