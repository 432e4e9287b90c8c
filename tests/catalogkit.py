"""Session stores for the catalog and report tests: records as the jobs write them, in a tmp store.

`add_session` writes a session directory the way station.jobs' lifecycle leaves it (the record,
optionally a progress log), with the times, drive and outcome a test asks for, so the catalog
reads exactly what a real run would have left.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from station.core.identity import SourceIdentity
from station.core.record import SessionRecord, SessionResult, SmartRecord, SmartSnapshot
from station.core.session import Session, SessionStore

GB = 10**9


def add_session(
    store: SessionStore,
    dest: str | list[str],
    *,
    started: float,
    serial: str | None = "WD-WCC4N0000001",
    model: str | None = "WDC WD10EZEX-08WN4A0",
    size: int = 1 * GB,
    rescued: int | None = None,
    bad: int = 4096,
    resumed: bool = False,
    state: str = "finished",
    kind: str = "imaging",
    source_path: str = "/dev/sdb",
    hashes: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    result_extra: dict[str, Any] | None = None,
    rates: list[float] | None = None,
    smart: bool = False,
) -> Session:
    """A finished (or `state`) session of `kind` that wrote `dest`, started at `started`."""
    dests = [dest] if isinstance(dest, str) else dest
    record = SessionRecord(
        kind=kind,
        method="engine",
        source=SourceIdentity(path=source_path, kind="block", size=size, model=model, serial=serial),
        destinations=dests,
        mapfile=(dests[0] + ".map") if dests else None,
        options={"retries": 1},
        resumed=resumed,
    )
    s = store.create(record)
    r = s.record
    r.started = started
    if state != "running":
        r.ended = started + 3600
        r.pid = None
    r.state = state
    r.drive = {"model": model, "serial": serial, "firmware": "01.01A01", "capacity_bytes": size}
    r.hardware = {"host": {"hostname": "bench1", "station": "0.1.0", "kernel": "6.1"}}
    if state != "running":
        done = rescued if rescued is not None else size - bad
        r.result = SessionResult.from_dict(
            {
                "rescued": done, "size": size, "bad": bad, "pending": size - done - bad,
                "read_errors": 3, "exit_status": 0 if state == "finished" else 1, "hashes": hashes,
                **(result_extra or {}),
            }
        )  # fmt: skip
        r.reason = "rescue finished" if state == "finished" else "stopped"
    if smart:
        was = {"reallocated_sectors": 3, "pending_sectors": 0, "temperature_c": 38}
        now = {"reallocated_sectors": 3, "pending_sectors": 8, "temperature_c": 44}
        before = SmartSnapshot(
            taken=started, verdict="WARNING", reasons=["3 reallocated sectors"], attributes=was
        )
        after = SmartSnapshot(
            taken=started + 3600, verdict="FAILING", reasons=["8 pending sectors"], attributes=now
        )
        r.smart = SmartRecord(state="on", device="/dev/sdb", before=before, after=after)
    r.unknown.update(extra or {})
    s.save()
    if rates:
        with open(s.dir / "events.jsonl", "w") as f:
            for i, rate in enumerate(rates):
                f.write(json.dumps(progress(float(i), rate, size, bad), separators=(",", ":")) + "\n")
    return s


def progress(t: float, rate: float, size: int, bad: int) -> dict[str, Any]:
    """A progress event as events.jsonl holds it."""
    return {
        "kind": "progress", "t": t, "phase": "copying", "pass_": 1, "pos": 0, "size": size,
        "rescued": size - bad, "non_tried": 0, "non_trimmed": 0, "non_scraped": 0, "bad": bad,
        "bad_areas": 2, "read_errors": 3, "current_rate": rate, "average_rate": rate / 2,
        "elapsed": t, "since_last_good": 0.0, "remaining": None,
    }  # fmt: skip


def store_at(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "xdg" / "station" / "sessions")
