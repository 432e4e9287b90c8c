"""What a run learns is kept beside its map and used on resume (issue 10 §4); a map written by
another tool since starts without it; the head map comes out of it."""

from __future__ import annotations

import json
from pathlib import Path

from headdrives import dead_head_model

from station.core.events import Notice
from station.core.session import SessionStore
from station.jobs.imaging import prepare
from station.rescue.heads import head_cells, head_layout
from station.rescue.knowledge import Knowledge
from station.rescue.learnedfile import learned_path, load_learned
from station.rescue.mapfile import read_mapfile, write_mapfile
from station.rescue.options import KiB, RescueOptions
from station.sim.drive import SimDrive
from station.sim.model import parse_model
from station.sim.source import SimSource

DEAD_HEAD = dead_head_model(
    extra="""[[defects]]
kind = "slow_zone"
start = "2Mi"
length = "512Ki"
delay = 0.5
"""
)


def run_job(tmp_path: Path, **opts) -> tuple[object, list]:
    drive = SimDrive(parse_model(DEAD_HEAD))
    options = RescueOptions(cluster_size=16 * KiB, skip_size=16 * KiB, **opts)
    job = prepare(
        "sim", str(tmp_path / "x.img"), source=SimSource(drive), options=options, command=["t"],
        store=SessionStore(tmp_path / "sessions"),
    )  # fmt: skip
    events: list = []
    return job.run(emit=events.append, clock=drive.clock), events  # slowness on the drive's clock


def notices(events: list) -> list[str]:
    return [e.message for e in events if isinstance(e, Notice)]


def test_what_pass_1_learned_is_kept_beside_the_map_and_used_on_resume(tmp_path: Path) -> None:
    first, _ = run_job(tmp_path, max_read_errors=40)  # stopped early, in copying pass 1
    assert first.outcome == "stopped"
    mp = tmp_path / "x.img.map"
    kept = json.loads(Path(learned_path(mp)).read_text())
    assert kept["format"] == "station-learned" and kept["knowledge"]["bad_patterns"]
    assert kept["knowledge"]["slow"], "the slow zone was met and stepped over"
    learned, why = load_learned(mp)
    assert learned is not None and why == ""
    again, events = run_job(tmp_path)
    assert again.outcome == "finished"
    said = notices(events)
    assert any(n.startswith("resuming with what the last run learned: ") and "pattern" in n for n in said), (
        said
    )
    # the head map survives the restart: head 2 is the bad one in every learned zone
    k = Knowledge(512, 16 * KiB, 1 << 20)
    k.load(load_learned(mp)[0])
    layout = head_layout(k.areas.patterns, k.slow_areas.patterns)
    assert layout is not None and layout.heads == 4
    assert {z.bad_heads for z in layout.zones} == {(2,)}
    cells = head_cells(layout, read_mapfile(mp), k.slow.ranges)
    assert all(c.worst() == "bad" for c in cells[2])
    assert all(c.worst() in ("good", "slow") for h in (0, 1, 3) for c in cells[h])


def test_a_map_written_by_another_tool_starts_without_what_was_learned(tmp_path: Path) -> None:
    run_job(tmp_path, max_read_errors=40)
    mp = tmp_path / "x.img.map"
    write_mapfile(mp, read_mapfile(mp), command_line="ddrescue ...")  # as another tool would
    assert load_learned(mp)[0] is None
    _, events = run_job(tmp_path)
    assert "the map was written by another tool since the last run: learning afresh" in notices(events)
    Path(learned_path(mp)).write_text("{not json")
    assert load_learned(mp)[0] is None and "cannot be read" in load_learned(mp)[1]


def test_a_loose_starts_slack_is_kept_and_older_files_load_without_it() -> None:
    k = Knowledge(512, 16 * KiB, 1 << 20)
    k.areas.record(4096, 14336, False, False, slack=8192)  # stepped over from a near read
    k.areas.record(1 << 20, 6144, True)
    kept = json.loads(json.dumps(k.to_dict()))
    again = Knowledge(512, 16 * KiB, 1 << 20)
    again.load(kept)
    assert list(again.areas.recent) == list(k.areas.recent)
    kept["bad_recent"] = [a[:4] for a in kept["bad_recent"]]  # as written before slack was kept
    older = Knowledge(512, 16 * KiB, 1 << 20)
    older.load(kept)
    assert [a.slack for a in older.areas.recent] == [0, 0]
