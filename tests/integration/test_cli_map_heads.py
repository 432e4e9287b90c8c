"""`station map MAPFILE --heads`: the head map of a finished session, from what it kept beside the map."""

from __future__ import annotations

import re
from pathlib import Path

from headdrives import dead_head_model

from station.core.session import SessionStore
from station.jobs.imaging import prepare
from station.rescue.options import KiB, RescueOptions
from station.sim.drive import SimDrive
from station.sim.model import parse_model
from station.sim.source import SimSource

MODEL = dead_head_model()


def rescued(tmp_path: Path) -> Path:
    """A finished rescue of a drive whose head 2 is dead; its map (the learned file beside it)."""
    drive = SimDrive(parse_model(MODEL))
    job = prepare(
        "sim", str(tmp_path / "x.img"), source=SimSource(drive, path="sim"), command=["t"],
        options=RescueOptions(cluster_size=16 * KiB, skip_size=16 * KiB, no_scrape=True),
        store=SessionStore(tmp_path / "sessions"),
    )  # fmt: skip
    job.run(clock=drive.clock)
    assert (tmp_path / "x.img.map.learned.json").exists()
    return tmp_path / "x.img.map"


def rows(stdout: str) -> dict[str, str]:
    """The head map's rows by head number (the lines 'head N   X  X')."""
    lines = [line.split() for line in stdout.splitlines() if line.startswith("head ")]
    return {w[1]: " ".join(w) for w in lines if w[1].isdigit()}


def test_the_head_map_of_a_finished_session(kit, tmp_path: Path) -> None:
    mapfile = rescued(tmp_path)
    r = kit.station("map", mapfile, "--heads")
    assert r.returncode == 0, r.stderr
    assert "heads: 4, estimated" in r.stdout
    head = rows(r.stdout)
    assert set(head) == {"0", "1", "2", "3"}, r.stdout
    zones = len(head["2"].split()) - 2
    assert zones >= 1 and head["2"].split()[2:] == ["X"] * zones  # bad in every zone learned
    for h in "013":
        assert "X" not in head[h] and "+" in head[h], head[h]
    table = re.findall(r"^ +(\d) +([\d.]+)% +([\d.]+)%", r.stdout, re.M)  # head, good, bad
    bad = {h: float(b) for h, _, b in table}
    assert bad["2"] > 50 and bad["0"] == bad["1"] == bad["3"] == 0, table


def test_the_head_count_given_is_the_one_drawn(kit, tmp_path: Path) -> None:
    r = kit.station("map", rescued(tmp_path), "--heads", "8")
    assert r.returncode == 0, r.stderr
    assert "heads: 8, as given" in r.stdout and len(rows(r.stdout)) == 8


def test_a_map_without_what_was_learned_has_no_head_map(kit, tmp_path: Path) -> None:
    mapfile = rescued(tmp_path)
    (tmp_path / "x.img.map.learned.json").unlink()
    r = kit.station("map", mapfile, "--heads")
    assert r.returncode == 1 and "no head map" in r.stdout
    r = kit.station("map", mapfile)  # the block map needs none of it
    assert r.returncode == 0 and "rescued:" in r.stdout and "no head map" not in r.stdout
