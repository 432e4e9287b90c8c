"""Keeping the catalog level with the session store, lazily: every opening reads what changed.

Why lazily and not from a hook in the job lifecycle: the catalog must also learn of sessions
that no hook of this process saw — a `station image` in another terminal, a session whose
process was killed (it reads as interrupted), records written by earlier versions, a session
directory deleted by hand — and a hook that fails or is skipped would leave it wrong until a
rebuild.  Comparing the store with what the catalog knows at each opening is always right.

It is also cheap, because the store says what changed (station.core.session):

- a session created or removed changes the store directory's mtime: then every session
  directory's mtime is compared with the one recorded at its import (10,000 stats, ~50 ms here);
- a record saved (a session ending, a label written) appends its id to the store's change
  journal: only those are read again (the journal is read from where the last sync stopped);
- a session recorded as running on this machine whose process is gone is read again (it is
  interrupted now).

Otherwise an opening costs one stat, one small read and one query.  Files are read outside any
transaction; rows are written in short transactions of BATCH sessions, each recomputing the
images at the paths its sessions touched (station.catalog.images), so other processes wait
milliseconds, never seconds.  `rebuild` forgets everything and imports the store again.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.catalog.db import Database
from station.catalog.facts import UNREADABLE, SessionFacts, read_facts
from station.catalog.images import Place, recompute
from station.catalog.labels import Labels
from station.catalog.schema import TABLES
from station.core.session import changes_path, pid_alive

BATCH = 200  # sessions per writing transaction
STATE_STORE = "store"  # which store directory, and its inode and mtime at the last full compare
STATE_JOURNAL = "journal"  # the change journal's inode and how far it has been read

SESSION_FIELDS = (
    "id", "kind", "state", "method", "host", "pid", "started", "ended", "source_path", "source_kind",
    "source_model", "source_serial", "source_firmware", "source_capacity", "destinations", "mapfile",
    "options", "command", "resumed", "reason", "size", "rescued", "bad", "pending", "read_errors",
    "bad_areas", "exit_status", "power_cycles", "elapsed", "average_rate", "peak_rate", "hashes",
    "smart_state", "smart_before", "smart_after", "smart", "station_version", "seen",
)  # fmt: skip
VERIFICATION_FIELDS = ("id", "session_id", "host", "path", "at", "ok", "method", "detail", "data")
RESTORE_FIELDS = (
    "id", "session_id", "host", "path", "target", "target_model", "target_serial", "bytes", "started",
    "ended", "state", "verified", "detail", "data",
)  # fmt: skip


@dataclass
class SyncReport:
    """What one sync did: sessions read (again), sessions gone, unreadable records met."""

    read: int = 0
    removed: int = 0
    unreadable: int = 0
    full: bool = False  # every session directory was compared


def marks(n: int) -> str:
    return ", ".join("?" * n)


def chunks(items: Sequence[Any], size: int = BATCH) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def insert(db: Database, table: str, fields: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> None:
    """Insert rows given as dicts (missing keys as NULL)."""
    db.run_many(
        f"INSERT INTO {table} ({', '.join(fields)}) VALUES ({marks(len(fields))})",
        [[row.get(f) for f in fields] for row in rows],
    )


# -- what changed -------------------------------------------------------------------------------------


def _store_key(root: Path) -> str:
    try:
        st = os.stat(root)
    except OSError:
        return f"{root}:none"
    return f"{root}:{st.st_ino}:{st.st_mtime_ns}"


def _scan(root: Path) -> dict[str, int]:
    """Every session directory of the store and its mtime (ns)."""
    found: dict[str, int] = {}
    try:
        with os.scandir(root) as entries:
            for e in entries:
                if not e.name.startswith(".") and e.is_dir(follow_symlinks=False):
                    found[e.name] = e.stat(follow_symlinks=False).st_mtime_ns
    except FileNotFoundError:
        pass
    return found


def _journal(root: Path, state: str | None) -> tuple[set[str], str, bool]:
    """(ids saved since `state`, the new state, whether the journal was replaced or cut short)."""
    path = changes_path(root)
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError:  # no session saved yet (or the journal was removed: compare everything once)
        return set(), "none", state not in (None, "none")
    with f:
        st = os.fstat(f.fileno())
        ino, _, off = (state or "").partition(":")
        offset = int(off) if ino == str(st.st_ino) and off.isdigit() and int(off) <= st.st_size else 0
        reset = state is not None and (offset == 0 and state != f"{st.st_ino}:0")
        f.seek(offset)
        data = f.read()
    cut = data.rfind(b"\n") + 1  # complete lines only: a line being written waits for the next sync
    ids = {line.decode("utf-8", "replace") for line in data[:cut].split(b"\n") if line}
    return ids, f"{st.st_ino}:{offset + cut}", reset


def _dead_running(db: Database, host: str) -> set[str]:
    """Sessions recorded as running here whose process is gone: they read as interrupted now."""
    rows = db.rows("SELECT id, pid FROM sessions WHERE state = ? AND host = ?", ("running", host))
    return {sid for sid, pid in rows if not pid or not pid_alive(int(pid))}


def _mtime(root: Path, sid: str) -> int | None:
    try:
        return os.stat(root / sid).st_mtime_ns
    except OSError:
        return None


# -- syncing ------------------------------------------------------------------------------------------


def sync(db: Database, root: Path, *, full: bool = False) -> SyncReport:
    """Read into the catalog every session of the store at `root` that changed since the last sync."""
    host = socket.gethostname()
    state = dict(db.rows("SELECT name, value FROM catalog_state"))
    store_key = _store_key(root)
    journal_ids, journal_state, journal_reset = _journal(root, state.get(STATE_JOURNAL))
    full = full or journal_reset or state.get(STATE_STORE) != store_key
    report = SyncReport(full=full)
    stale = _dead_running(db, host)
    if full:
        on_disk = _scan(root)
        known = dict(db.rows("SELECT id, seen FROM sessions"))
        changed = {sid: m for sid, m in on_disk.items() if known.get(sid) != m or sid in stale}
        gone = [sid for sid in known if sid not in on_disk]
    else:
        changed, gone = {}, []
        for sid in journal_ids | stale:
            m = _mtime(root, sid)
            if m is None:
                gone.append(sid)
            else:
                changed[sid] = m
        if changed:
            known = dict(
                db.rows(f"SELECT id, seen FROM sessions WHERE id IN ({marks(len(changed))})", list(changed))
            )
            changed = {sid: m for sid, m in changed.items() if known.get(sid) != m or sid in stale}
    ids = sorted(changed)
    for batch in chunks(ids):
        facts = [read_facts(root, sid, changed[sid], host) for sid in batch]
        with db.write():
            _apply(db, facts, [], host)
        report.read += len(facts)
        report.unreadable += sum(1 for f in facts if f.row["state"] == UNREADABLE)
    with db.write():
        _apply(db, [], gone, host)
        report.removed = len(gone)
        db.run_many(
            "INSERT INTO catalog_state (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [(STATE_STORE, store_key), (STATE_JOURNAL, journal_state)],
        )
    return report


def rebuild(db: Database, root: Path) -> SyncReport:
    """Forget everything and import the whole store again (labels come back from their files)."""
    host = socket.gethostname()
    store_key = _store_key(root)
    _, journal_state, _ = _journal(root, None)
    on_disk = _scan(root)
    facts = [read_facts(root, sid, m, host) for sid, m in sorted(on_disk.items())]
    with db.write():
        for table in TABLES:
            db.run(f"DELETE FROM {table}")
        for batch in chunks(facts):
            _apply(db, list(batch), [], host)
        rows = [(STATE_STORE, store_key), (STATE_JOURNAL, journal_state)]
        db.run_many("INSERT INTO catalog_state (name, value) VALUES (?, ?)", rows)
    unreadable = sum(1 for f in facts if f.row["state"] == UNREADABLE)
    return SyncReport(read=len(facts), unreadable=unreadable, full=True)


def _apply(db: Database, facts: list[SessionFacts], gone: list[str], host: str) -> None:
    """Replace the rows of these sessions, drop those of the gone ones, recompute their images.

    Facts older than what another process stored meanwhile (its directory's mtime is newer) are
    dropped: two syncs racing never leave the older reading in the catalog.
    """
    if facts:
        stored: dict[str, int] = {}
        for chunk in chunks([f.id for f in facts], 500):
            stored.update(db.rows(f"SELECT id, seen FROM sessions WHERE id IN ({marks(len(chunk))})", chunk))
        facts = [f for f in facts if (stored.get(f.id) or 0) <= f.seen]
    ids = [f.id for f in facts] + list(gone)
    places: set[Place] = set()
    for chunk in chunks(ids, 500):
        q = marks(len(chunk))
        places |= {
            (h, p)
            for h, p in db.rows(f"SELECT host, path FROM session_paths WHERE session_id IN ({q})", chunk)
        }
        db.run(f"DELETE FROM sessions WHERE id IN ({q})", chunk)  # its paths, verifications, restores too
        db.run(f"DELETE FROM labels WHERE image_id IN ({q})", chunk)
        db.run(f"DELETE FROM tags WHERE image_id IN ({q})", chunk)
    insert(db, "sessions", SESSION_FIELDS, (f.row for f in facts))
    db.run_many(
        "INSERT INTO session_paths (session_id, host, path, role) VALUES (?, ?, ?, ?)",
        [(f.id, f.host, path, role) for f in facts for path, role in f.paths],
    )
    insert(
        db,
        "verifications",
        VERIFICATION_FIELDS,
        ({**v, "host": f.host} for f in facts for v in f.verifications),
    )
    insert(db, "restores", RESTORE_FIELDS, ({**r, "host": f.host} for f in facts for r in f.restores))
    for f in facts:
        if f.labels is not None:
            put_labels(db, f.id, f.labels)
    places |= {(f.host, path) for f in facts for path, _ in f.paths}
    recompute(db, places, host)


def put_labels(db: Database, image_id: str, labels: Labels) -> None:
    """The catalog's copy of an image's labels (its search text is the caller's to refresh)."""
    db.run("DELETE FROM labels WHERE image_id = ?", (image_id,))
    db.run("DELETE FROM tags WHERE image_id = ?", (image_id,))
    if labels.empty:
        return
    db.run(
        "INSERT INTO labels (image_id, case_no, customer, label, note, updated) VALUES (?, ?, ?, ?, ?, ?)",
        (image_id, labels.case, labels.customer, labels.label, labels.note, labels.updated),
    )
    db.run_many("INSERT INTO tags (image_id, tag) VALUES (?, ?)", [(image_id, tag) for tag in labels.tags])
