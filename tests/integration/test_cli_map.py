"""`station map` read as a technician at an 80-column terminal reads it: an empty map refused in
one line, a legend whose every character means one thing, nothing wrapped."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_an_empty_mapfile_is_refused_in_one_line(kit, tmp_path: Path) -> None:
    for name, text in (("empty.map", ""), ("status-only.map", "# Mapfile\n0x0 + 1\n")):
        path = tmp_path / name
        path.write_text(text)
        r = kit.station("map", path)
        assert r.returncode == 2 and r.stdout == "", (r.returncode, r.stdout)
        assert r.stderr == f"station: {path}: an empty map (no blocks): nothing to show\n"


def test_the_legend_fits_80_columns_and_says_each_thing_once(
    kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    path = tmp_path / "run.map"
    path.write_text("# Mapfile\n0x100000 ? 1\n0x0 0x100000 +\n0x100000 0x1000 -\n0x101000 0x2ff000 ?\n")
    r = kit.station("map", path, "--rows", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), [len(line) for line in lines]
    legend = "\n".join(lines[-2:])
    assert "+ rescued" in legend and "current position" in legend
    assert legend.count("+") == 1, legend  # `+` is rescued, and nothing else
    assert "1 cell = " in legend and lines[-1].endswith("B")


@pytest.mark.parametrize(("option", "value"), [("--rows", "0"), ("--width", "-5"), ("--rows", "many")])
def test_a_grid_that_cannot_be_drawn_is_refused_naming_the_option(kit, tmp_path: Path, option, value) -> None:
    path = tmp_path / "run.map"
    path.write_text("# Mapfile\n0x0 ? 1\n0x0 0x100000 +\n")
    r = kit.station("map", path, option, value)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    line = r.stderr.splitlines()[-1]
    assert len(r.stderr.splitlines()) == 1 and line.startswith(f"station: argument {option}: "), line
