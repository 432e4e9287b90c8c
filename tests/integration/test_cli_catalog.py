"""`station images / label / drive / catalog` as processes, over a private session store."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from catalogkit import add_session

from station.catalog.db import connect
from station.core.session import SessionStore

SIZE = 1024 * 1024
DAMAGE = [(0x8000, 0x200, "-"), (0x40000, 0x1000, "*")]


@pytest.fixture
def lab(tmp_path: Path, kit):
    kit.make_source(tmp_path / "source.bin", SIZE, seed=3)
    kit.write_test_map(tmp_path / "test.map", SIZE, DAMAGE)
    return tmp_path


def image(kit, lab: Path, name: str, *extra: str) -> None:
    r = kit.station("image", "-q", "-H", "test.map", *extra, "source.bin", name, cwd=lab)
    assert r.returncode == 0, r.stderr


def refused(r: subprocess.CompletedProcess, words: str) -> None:
    """Bad input: exit 2, one line naming the problem, no traceback."""
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("station: ") and words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_images_lists_what_was_imaged_and_json_has_the_promised_fields(kit, lab):
    image(kit, lab, "first.img")
    image(kit, lab, "second.img")
    r = kit.station("images", "--json")
    assert r.returncode == 0, r.stderr
    images = json.loads(r.stdout)
    assert [Path(i["path"]).name for i in images] == ["second.img", "first.img"]
    for i in images:
        for key in (
            "path",
            "format",
            "size",
            "sha256",
            "case",
            "customer",
            "label",
            "tags",
            "note",
            "created",
        ):
            assert key in i, key
        assert set(i["source"]) >= {"model", "serial"}
        assert (i["format"], i["size"], i["bad"], i["state"]) == ("raw", SIZE, 0x200 + 0x1000, "finished")
    r = kit.station("images")
    assert r.returncode == 0 and "first.img" in r.stdout and "second.img" in r.stdout


def test_label_by_path_or_session_then_find_by_case_and_search(kit, lab, xdg_data_home):
    image(kit, lab, "ann.img")
    image(kit, lab, "bob.img")
    r = kit.station("label", "ann.img", "--case", "T-1041", "--customer", "Ann Smith", "--tag", "urgent",
                    "--tag", "laptop", "--note", "dropped", cwd=lab)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "T-1041" in r.stdout and "laptop urgent" in r.stdout
    sid = next(s.id for s in SessionStore().list() if s.record.dest.endswith("bob.img"))
    r = kit.station("label", sid, "--label", "Bob's desktop", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["label"] == "Bob's desktop"
    found = json.loads(kit.station("images", "--json", "--case", "t-1041").stdout)
    assert [Path(i["path"]).name for i in found] == ["ann.img"]
    assert found[0]["tags"] == ["laptop", "urgent"] and found[0]["customer"] == "Ann Smith"
    found = json.loads(kit.station("images", "--json", "--search", "BOB desktop").stdout)
    assert [Path(i["path"]).name for i in found] == ["bob.img"]
    assert json.loads(kit.station("images", "--json", "--since", "1d").stdout) != []
    assert json.loads(kit.station("images", "--json", "--since", "2999-01-01").stdout) == []


def test_bad_input_is_one_line_exit_2_and_changes_nothing(kit, lab, xdg_data_home):
    image(kit, lab, "a.img")
    session_dir = next((xdg_data_home / "station" / "sessions").iterdir())
    refused(kit.station("label", "nothing.img", "--case", "X", cwd=lab), "no image or session")
    refused(kit.station("label", "a.img", "--tag", "two words", cwd=lab), "one word per tag")
    refused(kit.station("label", "a.img", "--case", "a\nb", cwd=lab), "one line only")
    refused(kit.station("images", "--since", "last tuesday"), "not a date")
    refused(kit.station("report", "a.img", "--html", str(lab), cwd=lab), "is a directory")
    refused(kit.station("report", "a.img", "--pdf", "/no/such/dir/r.pdf", cwd=lab), "no such directory")
    refused(kit.station("report", "nothing.img", cwd=lab), "no image or session")
    assert not (session_dir / "label.json").exists()
    (xdg_data_home / "station" / "catalog.sqlite").write_bytes(b"garbage" * 1000)
    for name in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (xdg_data_home / "station" / name).unlink(missing_ok=True)
    refused(kit.station("images"), "not a catalog")


def test_drive_history_oldest_first(kit, xdg_data_home):
    store = SessionStore()
    add_session(store, "/img/later.img", started=2_000_000, serial="ZA1B2C3D")
    add_session(store, "/img/first.img", started=1_000_000, serial="ZA1B2C3D")
    add_session(store, "/img/other.img", started=1_500_000, serial="OTHER")
    r = kit.station("drive", "za1b2c3d")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "2 sessions" in lines[0]
    assert "first.img" in lines[1] and "later.img" in lines[2]
    rows = json.loads(kit.station("drive", "ZA1B2C3D", "--json").stdout)
    assert [row["image_path"] for row in rows] == ["/img/first.img", "/img/later.img"]
    assert "never seen" in kit.station("drive", "NEW-DRIVE").stdout
    assert [i["path"] for i in json.loads(kit.station("images", "--json", "--serial", "other").stdout)] == [
        "/img/other.img"
    ]


def test_rebuild_recreates_the_catalog_with_its_labels(kit, lab, xdg_data_home):
    image(kit, lab, "a.img")
    assert kit.station("label", "a.img", "--case", "K-7", cwd=lab).returncode == 0
    catalog = xdg_data_home / "station" / "catalog.sqlite"
    r = kit.station("catalog", "rebuild")
    assert r.returncode == 0 and "1 sessions, 1 images" in r.stdout, r.stdout
    for suffix in ("", "-wal", "-shm"):
        Path(str(catalog) + suffix).unlink(missing_ok=True)
    rows = json.loads(kit.station("images", "--json").stdout)  # a deleted catalog: made again on first use
    assert rows[0]["case"] == "K-7"
    assert "1 sessions, 1 images" in kit.station("catalog").stdout


def test_several_processes_at_once(kit, lab, xdg_data_home, catalog_url, monkeypatch):
    """Labels from several terminals at once, while others list and a job saves sessions: no
    'database is locked', no lost tag; on the per-user SQLite file and on a lab's PostgreSQL."""
    monkeypatch.setenv("STATION_CATALOG", catalog_url)  # (inherited by every station process)
    image(kit, lab, "shared.img")
    store = SessionStore()
    procs = [kit.popen_station("label", "shared.img", "--tag", f"t{i}", cwd=lab) for i in range(6)] + [
        kit.popen_station("images", "--json") for _ in range(4)
    ]
    for i in range(20):  # sessions appearing meanwhile, as other jobs would save them
        add_session(store, f"/img/x{i}.img", started=time.time() + i)
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    tags = json.loads(kit.station("label", "shared.img", "--json", cwd=lab).stdout)["tags"]
    assert tags == sorted(f"t{i}" for i in range(6))
    assert len(json.loads(kit.station("images", "--json").stdout)) == 21
    db = connect(catalog_url)  # the rows are in the database named, not in a file beside
    assert db.one("SELECT count(*) FROM images") == (21,)
    db.close()


def test_a_session_whose_process_is_killed_reads_as_interrupted(kit, lab, xdg_data_home):
    s = add_session(SessionStore(), str(lab / "big.img"), started=time.time(), state="running")
    child = subprocess.Popen(["sleep", "60"])  # stands in for the job's process
    s.record.pid = child.pid
    s.save()
    assert json.loads(kit.station("images", "--json").stdout)[0]["state"] == "running"
    child.kill()
    child.wait()
    assert json.loads(kit.station("images", "--json").stdout)[0]["state"] == "interrupted"
