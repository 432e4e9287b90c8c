"""The `station` command as a user meets it: --json progress, `station map`, the session store."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

SIZE = 2 * 1024 * 1024
DAMAGE = [(0x8000, 0x200, "-"), (0x40000, 0x4000, "*"), (0x100000, 0x10000, "?")]
BAD_BYTES = 0x200 + 0x4000 + 0x10000

PROGRESS_FIELDS = {
    "rescued": int, "non_tried": int, "non_trimmed": int, "non_scraped": int, "bad": int,
    "read_errors": int, "current_rate": float, "average_rate": float, "phase": str, "pass": int,
    "elapsed": float, "remaining": (float, type(None)), "since_last_good": (float, type(None)),
}  # fmt: skip
PHASES = {"copying", "trimming", "sweeping", "scraping", "retrying", "finished"}


@pytest.fixture
def lab(tmp_path: Path, kit):
    kit.make_source(tmp_path / "source.bin", SIZE, seed=9)
    kit.write_test_map(tmp_path / "test.map", SIZE, DAMAGE)
    return tmp_path


def test_json_progress_lines(kit, lab):
    r = kit.station("image", "--json", "-H", "test.map", "source.bin", "image.bin", cwd=lab)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(e, dict) for e in events)
    progress = [e for e in events if e["kind"] == "progress"]
    assert len(progress) >= 2 and events[-1]["kind"] == "finished"
    assert [e["kind"] for e in events[:-1]] == ["progress"] * (len(events) - 1)
    for e in progress:
        for name, kind in PROGRESS_FIELDS.items():
            assert name in e, f"progress line without {name}: {e}"
            value = e[name]
            assert isinstance(value, kind) or (kind is float and isinstance(value, int)), (name, value)
        assert e["phase"] in PHASES
        assert e["rescued"] + e["non_tried"] + e["non_trimmed"] + e["non_scraped"] + e["bad"] == SIZE
        assert e["current_rate"] >= 0 and e["average_rate"] >= 0 and e["elapsed"] >= 0
    rescued = [e["rescued"] for e in progress]
    assert rescued == sorted(rescued), "rescued went backwards"
    elapsed = [e["elapsed"] for e in progress]
    assert elapsed == sorted(elapsed)
    first, last = progress[0], progress[-1]
    assert "pass_" not in first  # the key is "pass", as a reader of the JSON expects
    assert (first["phase"], first["pass"], first["rescued"], first["non_tried"]) == ("copying", 1, 0, SIZE)
    assert last["phase"] == "finished"
    assert (last["non_tried"], last["non_trimmed"], last["non_scraped"]) == (0, 0, 0)
    assert (last["rescued"], last["bad"]) == (SIZE - BAD_BYTES, BAD_BYTES)
    assert last["read_errors"] >= len(DAMAGE)
    assert events[-1]["outcome"] == "finished" and events[-1]["reason"]
    s = kit.read_map(lab / "image.bin.map").summary()  # the default mapfile: DEST.map
    assert (s.rescued, s.bytes["-"]) == (last["rescued"], last["bad"])


def test_json_when_stopped_early(kit, lab):
    r = kit.station("image", "--json", "-X", "0", "-H", "test.map", "source.bin", "image.bin", cwd=lab)
    assert r.returncode == 1, r.stderr
    events = kit.json_lines(r.stdout)
    assert events[-1]["kind"] == "finished" and events[-1]["outcome"] == "stopped"
    assert "read errors" in events[-1]["reason"]
    last = [e for e in events if e["kind"] == "progress"][-1]
    assert last["read_errors"] == 1 and last["phase"] != "finished"


def test_quiet_prints_one_summary_line(kit, lab):
    r = kit.station("image", "-q", "source.bin", "image.bin", "image.map", cwd=lab)
    assert r.returncode == 0
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("finished:") and "image.map" in lines[0]


# -- station map -------------------------------------------------------------------------------------

CELL = 0x1000  # 32 cells of 4 KiB: 2 rows of 16
MAP_BLOCKS = [
    (0, 8 * CELL, "+"),
    (8 * CELL, 2 * CELL, "?"),
    (10 * CELL, CELL, "*"),
    (11 * CELL, CELL, "/"),
    (12 * CELL, CELL, "-"),
    (13 * CELL, 7 * CELL + 0x800, "+"),
    (20 * CELL + 0x800, 0x200, "-"),  # one bad sector inside cell 20: the cell shows the worst
    (20 * CELL + 0xA00, 5 * CELL - 0xA00 + 0x400, "+"),
    (25 * CELL + 0x400, 0x200, "?"),  # a little non-tried inside cell 25
    (25 * CELL + 0x600, 7 * CELL - 0x600, "+"),
]
EXPECTED_ROWS = ["++++++++..*/-+++", "++++-++++.++++++"]


def block_rows(stdout: str, rows: int) -> list[str]:
    """The block map: the `rows` lines after the blank line that ends the summary."""
    lines = stdout.splitlines()
    end = next(i for i, line in enumerate(lines) if line.strip().startswith("bad-sector:"))
    start = next(i for i in range(end + 1, len(lines)) if lines[i].strip())
    return [line.rstrip() for line in lines[start : start + rows]]


def write_map(path: Path, blocks, status: str = "?", pos: int = 0) -> Path:
    text = f"# hand-made\n{pos:#x}  {status}  1\n" + "".join(f"{p:#x} {s:#x} {st}\n" for p, s, st in blocks)
    path.write_text(text)
    return path


def test_station_map_prints_summary_and_block_map(kit, tmp_path):
    mapfile = write_map(tmp_path / "hand.map", MAP_BLOCKS, status="*", pos=11 * CELL)
    r = kit.station("map", mapfile, "--width", "16", "--rows", "2")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert block_rows(r.stdout, 2) == EXPECTED_ROWS
    text = r.stdout
    for label in ("non-tried", "rescued", "non-trimmed", "non-scraped", "bad-sector"):
        assert f"{label}:" in text
    assert "current status: trimming" in text
    if shutil.which("ddrescuelog"):  # the status lines read exactly as ddrescuelog -t prints them
        t = kit.ddrescuelog("-t", mapfile)
        assert t.returncode == 0, t.stderr
        keys = ("non-tried:", "rescued:", "non-trimmed:", "non-scraped:", "bad-sector:")
        theirs = [line.rstrip() for line in t.stdout.splitlines() if line.strip().startswith(keys)]
        ours = [line.rstrip() for line in out if line.strip().startswith(keys)]
        assert len(theirs) == 5 and ours == theirs


def test_station_map_of_a_real_run(kit, lab):
    r = kit.station("image", "-q", "-H", "test.map", "source.bin", "image.bin", "image.map", cwd=lab)
    assert r.returncode == 0, r.stderr
    r = kit.station("map", lab / "image.map", "--width", "64", "--rows", "4")
    assert r.returncode == 0, r.stderr
    rows = block_rows(r.stdout, 4)
    assert all(len(row) == 64 and set(row) <= set("+-") for row in rows), rows
    assert "-" in "".join(rows) and "current status: finished" in r.stdout


@pytest.mark.parametrize(
    "content, line",
    [
        ("0x0 ?\n0x0 0x100 +\n0x200 0x100 -\n", "line 3"),
        ("# only\n0x0 0x100 +\n", "line 2"),
        ("0x0 ?\n0x0 0x100 Q\n", "line 2"),
    ],
    ids=["gap", "no-status-line", "bad-status"],
)
def test_station_map_refuses_a_malformed_map(kit, tmp_path, content, line):
    bad = tmp_path / "bad.map"
    bad.write_text(content)
    r = kit.station("map", bad)
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and line in r.stderr and "Traceback" not in r.stderr
    r = kit.station("map", tmp_path / "missing.map")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1


# -- the session store ----------------------------------------------------------------------------------


def test_session_record_and_listing(kit, lab, xdg_data_home):
    r = kit.station("image", "-q", "-H", "test.map", "source.bin", "image.bin", "image.map", cwd=lab)
    assert r.returncode == 0, r.stderr
    root = xdg_data_home / "station" / "sessions"
    dirs = list(root.iterdir())
    assert len(dirs) == 1
    rec = json.loads((dirs[0] / "session.json").read_text())
    assert rec["id"] == dirs[0].name
    assert rec["state"] == "finished" and rec["method"] == "engine" and rec["resumed"] is False
    src = rec["source"]
    assert src["kind"] == "file" and src["size"] == SIZE and src["sector_size"] == 512
    assert os.path.samefile(lab / src["path"], lab / "source.bin")
    assert rec["dest"] == str(lab / "image.bin") and rec["mapfile"] == str(lab / "image.map")
    m = kit.read_map(lab / "image.map").summary()
    assert rec["result"]["rescued"] == m.rescued == SIZE - BAD_BYTES
    assert rec["result"]["bad"] == BAD_BYTES and rec["result"]["exit_status"] == 0
    events = [json.loads(line) for line in (dirs[0] / "events.jsonl").read_text().splitlines()]
    kinds = {e["kind"] for e in events}
    assert {"progress", "map_saved", "finished", "read_error"} <= kinds
    assert [e["outcome"] for e in events if e["kind"] == "finished"] == ["finished"]
    last = [e for e in events if e["kind"] == "progress"][-1]  # the final snapshot is logged too
    assert (last["phase"], last["rescued"], last["bad"]) == ("finished", m.rescued, BAD_BYTES)

    r = kit.station("sessions", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 1
    row = rows[0]
    assert (row["id"], row["state"], row["method"]) == (rec["id"], "finished", "engine")
    assert (row["dest"], row["rescued"], row["size"]) == (str(lab / "image.bin"), SIZE - BAD_BYTES, SIZE)
    r = kit.station("sessions")
    assert r.returncode == 0 and rec["id"] in r.stdout and "finished" in r.stdout


def test_stopped_then_resumed_sessions(kit, lab):
    args = ["image", "-q", "-H", "test.map", "source.bin", "image.bin", "image.map"]
    assert kit.station(*args[:2], "-X", "0", *args[2:], cwd=lab).returncode == 1
    assert kit.station(*args, cwd=lab).returncode == 0
    rows = sorted(json.loads(kit.station("sessions", "--json").stdout), key=lambda s: s["started"])
    assert [s["state"] for s in rows] == ["stopped", "finished"]
    recs = sorted(kit.session_records(Path(os.environ["XDG_DATA_HOME"])), key=lambda s: s["started"])
    assert [s["resumed"] for s in recs] == [False, True]


def test_session_source_path_is_absolute(kit, lab):
    r = kit.station("image", "-q", "source.bin", "image.bin", cwd=lab)
    assert r.returncode == 0, r.stderr
    rec = kit.session_records(Path(os.environ["XDG_DATA_HOME"]))[0]
    assert rec["source"]["path"] == str(lab / "source.bin")
