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
