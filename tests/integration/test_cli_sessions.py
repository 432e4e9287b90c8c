"""`station sessions`: newest first (as the workstation lists them), one session's record and log by
its id, and a rerun that says what it resumes from."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

SIZE = 1 << 20
DAMAGE = [(0x8000, 0x200, "-")]


@pytest.fixture
def lab(tmp_path: Path, kit):
    kit.make_source(tmp_path / "source.bin", SIZE, seed=3)
    kit.write_test_map(tmp_path / "test.map", SIZE, DAMAGE)
    return tmp_path


def test_sessions_newest_first_and_one_by_its_id(kit, lab) -> None:
    ids = []
    for name in ("first.img", "second.img"):
        r = kit.station("image", "-q", "-H", "test.map", "source.bin", name, cwd=lab)
        assert r.returncode == 0, r.stderr
        ids.append(json.loads(kit.station("sessions", "--json").stdout)[0]["id"])
        time.sleep(1.1)  # ids and start times to the second
    listed = kit.station("sessions").stdout.splitlines()
    assert [line.split()[0] for line in listed] == ids[::-1] == [ids[1], ids[0]]
    assert [row["id"] for row in json.loads(kit.station("sessions", "--json").stdout)] == [ids[1], ids[0]]

    r = kit.station("sessions", ids[0][:-2])  # the start of an id is enough when it is unique
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"session   {ids[0]}  (imaging)" in out and "state     finished: rescue finished" in out
    assert f"dest      {lab / 'first.img'}" in out and "source.bin" in out and "mapfile   " in out
    assert "result    rescued 1048 kB of 1049 kB" in out and "bad 512 B" in out
    assert "events (" in out and "copying pass 1 (forward)" in out and "read error at 0x8000" in out
    assert "finished: rescue finished" in out.split("events (", 1)[1]

    doc = json.loads(kit.station("sessions", ids[1], "--json").stdout)
    assert doc["record"]["id"] == ids[1] and "finished" in [e["kind"] for e in doc["events"]]

    for bad, said in ((["nope"], "no session nope"), ([ids[0][:4]], "is the start of 2 sessions' ids")):
        r = kit.station("sessions", *bad)
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and said in r.stderr, r.stderr


def test_a_rerun_says_what_it_resumes_from(kit, lab) -> None:
    r = kit.station("image", "-q", "--max-read-errors", "0", "-H", "test.map", "source.bin", "x.img", cwd=lab)
    assert r.returncode == 1, r.stderr
    r = kit.station("image", "-H", "test.map", "source.bin", "x.img", cwd=lab)
    assert r.returncode == 0, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("resuming: ") and " rescued, " in first and first.endswith(" bad"), r.stderr
    sid = json.loads(kit.station("sessions", "--json").stdout)[0]["id"]
    assert "resuming: " in kit.station("sessions", sid).stdout  # in the session's own log too
