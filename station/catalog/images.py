"""Images, derived from the sessions that wrote them: which runs made one image, and what it holds.

A path can hold several images over time: a session that did not resume (its mapfile was new)
starts a new image there, and every later session that resumed adds to it.  So the sessions
that wrote a path, oldest first, fall into images by their `resumed` flag, and each image's id
is the id of the session that created it (its labels live in that session's directory).  A
session that read a path (a verification, a restore) belongs to the image that was there when
it ran.  An image replaced by a later one at the same path is kept, marked replaced.

Each image's figures come from its sessions: identity and map figures from the newest session
that has them (a resumed run knows the whole map), read errors summed over the runs, hashes
from the newest run that computed them.  Format and file size come from the file itself when it
is on this machine (raw, zst, a drive, or missing).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from typing import Any

from station.catalog.db import Database
from station.catalog.facts import WROTE
from station.catalog.search import refresh_search

Place = tuple[str, str]  # (host, path)

IMAGE_FIELDS = (
    "id", "host", "path", "format", "size", "file_size", "created", "updated", "last_session", "sessions",
    "state", "replaced", "source_path", "source_model", "source_serial", "source_firmware",
    "source_capacity", "mapfile", "rescued", "bad", "pending", "read_errors", "bad_areas", "hashes",
    "sha256", "md5",
)  # fmt: skip
_UPSERT = (
    f"INSERT INTO images ({', '.join(IMAGE_FIELDS)}) VALUES ({', '.join('?' * len(IMAGE_FIELDS))}) "
    f"ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{f} = excluded.{f}" for f in IMAGE_FIELDS[1:])
)
_SESSION_FIGURES = (
    "id, state, started, ended, source_path, source_model, source_serial, source_firmware, "
    "source_capacity, size, rescued, bad, pending, read_errors, bad_areas, hashes, mapfile"
)
_LINKED = (
    "UPDATE {table} SET image_id = (SELECT sp.image_id FROM session_paths sp "
    "WHERE sp.session_id = {table}.session_id AND sp.host = {table}.host AND sp.path = {table}.path "
    "LIMIT 1) WHERE host = ? AND path = ?"
)


def file_facts(path: str) -> tuple[str, int | None]:
    """(format, bytes on disk) of an image on this machine: raw, zst, device, other or missing."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing", None
    if stat.S_ISBLK(st.st_mode):
        return "device", None
    if not stat.S_ISREG(st.st_mode):
        return "other", None
    from station.images.formats import image_format  # zstandard: only when an image is read

    return image_format(path), st.st_size


def _by_name(path: str) -> str:
    """The format of an image on another station, as its name says."""
    return "device" if path.startswith("/dev/") else "zst" if path.endswith(".zst") else "raw"


def recompute(db: Database, places: Iterable[Place], this_host: str) -> list[str]:
    """Re-derive the images at these places from their sessions (inside a writing transaction);
    the ids of the images there now."""
    ids: list[str] = []
    for host, path in sorted(places):
        links = db.rows(
            "SELECT sp.session_id, sp.role, s.resumed FROM session_paths sp JOIN sessions s "
            "ON s.id = sp.session_id WHERE sp.host = ? AND sp.path = ? ORDER BY COALESCE(s.started, 0), s.id",
            (host, path),
        )
        groups: list[tuple[str, list[str]]] = []
        updates = []
        for sid, role, resumed in links:
            if role == WROTE:
                if not groups or not resumed:
                    groups.append((sid, []))
                groups[-1][1].append(sid)
            updates.append((groups[-1][0] if groups else None, sid, path, role))
        db.run_many(
            "UPDATE session_paths SET image_id = ? WHERE session_id = ? AND path = ? AND role = ?", updates
        )
        keep = {image_id for image_id, _ in groups}
        for (old,) in db.rows("SELECT id FROM images WHERE host = ? AND path = ?", (host, path)):
            if old not in keep:
                db.run("DELETE FROM images WHERE id = ?", (old,))
        found = file_facts(path) if host == this_host else (_by_name(path), None)
        rows = [
            _image_row(db, image_id, sids, host, path, found, replaced=k < len(groups) - 1)
            for k, (image_id, sids) in enumerate(groups)
        ]
        db.run_many(_UPSERT, [[row[f] for f in IMAGE_FIELDS] for row in rows])
        for table in ("verifications", "restores"):
            db.run(_LINKED.format(table=table), (host, path))
        ids += [image_id for image_id, _ in groups]
    refresh_search(db, ids)
    return ids


def _image_row(
    db: Database,
    image_id: str,
    sids: list[str],
    host: str,
    path: str,
    found: tuple[str, int | None],
    *,
    replaced: bool,
) -> dict[str, Any]:
    names = [c.strip() for c in _SESSION_FIGURES.split(",")]
    by_id = {
        row[0]: dict(zip(names, row, strict=True))
        for row in db.rows(
            f"SELECT {_SESSION_FIGURES} FROM sessions WHERE id IN ({', '.join('?' * len(sids))})", sids
        )
    }
    runs = [by_id[s] for s in sids if s in by_id]
    newest_first = runs[::-1]

    def newest(key: str) -> Any:
        return next((r[key] for r in newest_first if r[key] is not None), None)

    figures = next((r for r in newest_first if r["rescued"] is not None), {})
    hashes = next((r["hashes"] for r in newest_first if r["hashes"]), None)
    digests = json.loads(hashes) if hashes else {}
    errors = [r["read_errors"] for r in runs if r["read_errors"] is not None]
    fmt, file_size = found
    return {
        "id": image_id,
        "host": host,
        "path": path,
        "format": fmt,
        "size": newest("size") or newest("source_capacity"),
        "file_size": file_size,
        "created": runs[0]["started"] if runs else None,
        "updated": max((r["ended"] or r["started"] or 0 for r in runs), default=None),
        "last_session": runs[-1]["id"] if runs else None,
        "sessions": len(runs),
        "state": runs[-1]["state"] if runs else None,
        "replaced": 1 if replaced else 0,
        "source_path": newest("source_path"),
        "source_model": newest("source_model"),
        "source_serial": newest("source_serial"),
        "source_firmware": newest("source_firmware"),
        "source_capacity": newest("source_capacity"),
        "mapfile": newest("mapfile"),
        "rescued": figures.get("rescued"),
        "bad": figures.get("bad"),
        "pending": figures.get("pending"),
        "read_errors": sum(errors) if errors else None,
        "bad_areas": figures.get("bad_areas"),
        "hashes": hashes,
        "sha256": digests.get("sha256") if isinstance(digests, dict) else None,
        "md5": digests.get("md5") if isinstance(digests, dict) else None,
    }
