"""The session record: typed, and every record earlier versions wrote still loads and round-trips."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from station.core.events import Progress
from station.core.identity import SourceIdentity
from station.core.record import JobKind, SessionRecord, SessionResult, SmartRecord, SmartSnapshot
from station.core.session import SessionStore

SOURCE = {
    "path": "/dev/sdb", "kind": "block", "size": 1 << 20, "sector_size": 512, "physical_sector_size": 4096,
    "model": "WDC WD10EZEX", "serial": "WD-1234", "device": "8:16", "extra": {},
}  # fmt: skip
ENGINE_RESULT = {
    "rescued": 1040384,
    "size": 1 << 20,
    "bad": 8192,
    "pending": 0,
    "read_errors": 3,
    "exit_status": 0,
}

# cdb6f8b (the first sessions): no kind, no health, no power cycles
V1_FINISHED = {
    "id": "20261122-043558-a1b2c3", "state": "finished", "pid": 4242, "host": "lab1",
    "started": 1795000000.5, "ended": 1795000100.25, "method": "engine", "source": SOURCE,
    "dest": "/img/a.img", "mapfile": "/img/a.img.map", "options": {"retry_passes": 0, "reverse": False},
    "command": ["station", "image", "/dev/sdb", "/img/a.img"], "resumed": False,
    "reason": "rescue finished", "result": ENGINE_RESULT,
}  # fmt: skip
INVENTORY = {"cpu": {"logical_cpus": 4}, "memory": {"total_bytes": 8 << 30}}
SMART_ON = {
    "state": "on", "why_off": None, "device": "/dev/sdb",
    "limits": {"interval": 60.0, "timeout": 30.0, "max_temp": 60, "max_pending_growth": 10},
    "before": {"taken": 1795000000.0, "smart_status": "PASSED", "verdict": "WARNING",
               "reasons": ["8 pending sectors"], "advice": "Image it soon",
               "attributes": {"temperature_c": 41}},
    "after": {"taken": 1795000099.0, "smart_status": "PASSED", "verdict": "WARNING", "reasons": ["9 pending"],
              "advice": "Image it soon", "attributes": {"temperature_c": 44}, "source": "fresh reading"},
    "changes": ["pending sectors 8 → 9"], "polling": {"polls": 2, "deferred": 0, "failures": 0},
}  # fmt: skip
SMART_OFF = {
    "state": "off",
    "why_off": "turned off (--no-smart)",
    "device": None,
    "limits": None,
    "before": None,
}
DRIVE = {"model": "WDC WD10EZEX", "serial": "WD-1234", "capacity_bytes": 1 << 20, "source": "smart"}
# 1dbfc1f..49e849d: the inventory went under "host", over the hostname; a running record
V2_RUNNING = {
    **{k: v for k, v in V1_FINISHED.items() if k not in ("reason", "result")},
    "state": "running", "ended": None, "host": INVENTORY, "drive": DRIVE, "smart": SMART_OFF,
}  # fmt: skip
# 4ced08b and later, as the code before the typed record wrote it: "hardware", power cycles
V4_FINISHED = {
    **V1_FINISHED, "hardware": INVENTORY, "drive": DRIVE, "smart": SMART_ON,
    "result": {**ENGINE_RESULT, "power_cycles": 1},
}  # fmt: skip
# 3fa03e8: a hand-off to an imager; the device log was "" when the imager kept none
HANDOFF = {
    "id": "20261123-101010-0f0f0f", "state": "stopped", "pid": 77, "host": "lab2",
    "started": 1795100000.0, "ended": 1795100500.0, "method": "serial-imager",
    "source": {**SOURCE, "path": "serial-imager:/dev/ttyUSB0:S1", "kind": "imager-port", "device": None},
    "dest": "serial-imager:/dev/ttyUSB0:T1", "mapfile": "/img/WD-1234.map",
    "options": {"imager": "serial-imager:/dev/ttyUSB0", "capabilities": ["hash"],
                "device": {"vendor": "Emu", "model": "SI-2", "firmware": "1.0", "serial": "SI2-1"}},
    "command": ["station", "image", "--imager", "serial-imager:/dev/ttyUSB0", "S1", "T1"], "resumed": True,
    "reason": "interrupted",
    "result": {**ENGINE_RESULT, "exit_status": 1, "hashes": {}, "device_log": "", "power_cycles": 0},
}  # fmt: skip


def test_every_earlier_record_round_trips() -> None:
    """Read and written again, an earlier record gains only its kind (every one was imaging)."""
    for old in (V1_FINISHED, V4_FINISHED, HANDOFF):
        assert SessionRecord.from_dict(old).to_dict() == {**old, "kind": "imaging"}
        current = SessionRecord.from_dict(old).to_dict()
        assert SessionRecord.from_dict(current).to_dict() == current


def test_typed_fields_of_an_engine_record() -> None:
    r = SessionRecord.from_dict(V4_FINISHED)
    assert (r.id, r.kind, r.state, r.method, r.host, r.pid) == (
        "20261122-043558-a1b2c3",
        JobKind.IMAGING,
        "finished",
        "engine",
        "lab1",
        4242,
    )
    assert r.source == SourceIdentity(**SOURCE) and r.source.serial == "WD-1234"
    assert r.destinations == ["/img/a.img"] and r.dest == "/img/a.img"
    assert r.result == SessionResult(**ENGINE_RESULT, power_cycles=1)
    assert r.result.hashes is None and r.result.device_log is None
    assert isinstance(r.smart, SmartRecord) and isinstance(r.smart.before, SmartSnapshot)
    assert (r.smart.before.verdict, r.smart.after.verdict, r.smart.after.source) == (
        "WARNING",
        "WARNING",
        "fresh reading",
    )
    assert r.smart.changes == ["pending sectors 8 → 9"] and r.smart.polling["polls"] == 2
    assert r.hardware == INVENTORY and r.drive == DRIVE


def test_missing_keys_take_their_defaults() -> None:
    r = SessionRecord.from_dict(V1_FINISHED)
    assert r.kind == "imaging" and r.result.power_cycles is None
    assert r.smart is None and r.drive is None and r.hardware is None
    bare = SessionRecord.from_dict({"id": "x"})
    assert (bare.state, bare.method, bare.destinations, bare.result, bare.reason) == (
        "running",
        "engine",
        [],
        None,
        None,
    )
    assert (bare.source.path, bare.source.size, bare.dest) == ("", 0, None)


def test_the_inventory_written_as_host_is_read_as_hardware() -> None:
    r = SessionRecord.from_dict(V2_RUNNING)
    assert r.hardware == INVENTORY and r.host is None
    assert r.smart == SmartRecord(state="off", why_off="turned off (--no-smart)")
    out = r.to_dict()
    assert out["hardware"] == INVENTORY and out["host"] is None
    assert out["smart"] == SMART_OFF  # after, changes and polling are written only once known
    assert "reason" not in out and "result" not in out


def test_unknown_keys_are_kept_at_every_level() -> None:
    later = {
        **V4_FINISHED, "kind": "imaging", "catalog_id": 17, "labels": ["case 42"],
        "source": {**SOURCE, "wwn": "5000c500a1b2c3d4"},
        "result": {**ENGINE_RESULT, "segments": [{"pos": 0, "sha256": "ab"}]},
        "smart": {**SMART_ON, "self_test": "none", "before": {**SMART_ON["before"], "nvme": None}},
    }  # fmt: skip
    r = SessionRecord.from_dict(later)
    assert r.unknown == {"catalog_id": 17, "labels": ["case 42"]}
    assert (
        r.source.unknown == {"wwn": "5000c500a1b2c3d4"} and r.result.unknown["segments"][0]["sha256"] == "ab"
    )
    assert r.smart.unknown == {"self_test": "none"} and r.smart.before.unknown == {"nvme": None}
    assert r.to_dict() == later


def test_several_destinations() -> None:
    r = SessionRecord(destinations=["/dev/sdc", "/dev/sdd"])
    d = r.to_dict()
    assert d["dest"] == "/dev/sdc" and d["destinations"] == ["/dev/sdc", "/dev/sdd"]
    assert SessionRecord.from_dict(d) == r and SessionRecord.from_dict(d).to_dict() == d
    assert "destinations" not in SessionRecord(destinations=["/img/a.img"]).to_dict()


def test_the_store_reads_old_records_and_skips_broken_ones(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    for sid, rec in (("a", V1_FINISHED), ("b", V2_RUNNING), ("c", HANDOFF)):
        (tmp_path / sid).mkdir()
        (tmp_path / sid / "session.json").write_text(json.dumps(rec))
    for sid, text in (("d", "[1, 2]"), ("e", '{"result": "lost"}'), ("f", "{")):
        (tmp_path / sid).mkdir()
        (tmp_path / sid / "session.json").write_text(text)
    got = store.list()
    assert [s.record.id for s in got] == [V1_FINISHED["id"], V2_RUNNING["id"], HANDOFF["id"]]
    assert [s.state for s in got] == ["finished", "running", "stopped"]  # b's host is not ours: as recorded
    s = store.get("c")
    s.save()  # a record read and saved again loses nothing
    assert json.loads((tmp_path / "c" / "session.json").read_text()) == {**HANDOFF, "kind": "imaging"}


def test_create_and_finish(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    s = store.create(SessionRecord(method="engine", source=SourceIdentity(**SOURCE), destinations=["/img/x"]))
    r = s.record
    assert (r.state, r.pid, r.host, r.ended) == ("running", os.getpid(), socket.gethostname(), None)
    assert s.dir.name == r.id and r.started is not None and s.state == "running"
    on_disk = json.loads((s.dir / "session.json").read_text())
    assert on_disk["dest"] == "/img/x" and on_disk["ended"] is None and on_disk["kind"] == "imaging"
    s.finish("stopped", "interrupted", SessionResult(rescued=5, size=10, exit_status=1))
    again = store.get(r.id)
    assert again.record == s.record and again.state == "stopped" and again.record.result.rescued == 5
    r.state, r.pid = "running", None  # its process died without ending it
    assert s.state == "interrupted"


def progress(size: int, rescued: int, bad: int, errors: int) -> Progress:
    return Progress(1.0, "copying", 1, 0, size, rescued, 0, 0, 0, bad, 0, errors, 0.0, 0.0, 1.0, None, None)


def test_result_so_far() -> None:
    running = SessionRecord.from_dict({"source": SOURCE})
    assert running.result_so_far() == SessionResult(size=1 << 20)
    assert running.result_so_far(progress(2048, 1024, 512, 2)) == SessionResult(
        size=2048, rescued=1024, bad=512, read_errors=2
    )
    ended = SessionRecord.from_dict({"source": SOURCE, "result": {"rescued": 9, "read_errors": 0}})
    assert ended.result_so_far(progress(2048, 1024, 512, 2)) == SessionResult(
        size=2048, rescued=9, bad=512, read_errors=0
    )
