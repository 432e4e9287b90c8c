"""The catalog as the commands, the workstation and the report use it: open, find, label.

    with Catalog.open() as cat:                    # created or migrated, then synced with the store
        for image in cat.images(ImageQuery(search="wd 2024")): ...
        image = cat.resolve("disk.img")            # an image path or a session id
        cat.label(image, LabelEdit(case="T-1041", add_tags=("urgent",)))
        cat.drive_sessions("WD-WCC4N0XXXXXX")      # "this drive was here before", oldest first

One object per thread (a connection is not shared between threads); opening costs milliseconds.
"""

from __future__ import annotations

import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from station.catalog.db import CatalogError, Database, connect
from station.catalog.entries import (
    IMAGE_COLUMNS,
    SESSION_COLUMNS,
    ImageEntry,
    Restore,
    SessionEntry,
    Verification,
)
from station.catalog.labels import LabelEdit, Labels, read_labels, write_labels
from station.catalog.schema import migrate
from station.catalog.search import like_patterns, refresh_search
from station.catalog.sync import SyncReport, marks, put_labels, rebuild, sync
from station.core.session import SessionStore

SINCE_FORMS = "YYYY-MM-DD, YYYY-MM-DDTHH:MM (local time), or Nd (N days ago)"


def parse_since(text: str, now: float | None = None) -> float:
    """A date as `--since` and the images screen take it, in seconds since the epoch; ValueError
    in one line for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*d\s*", text)
    if m:
        return (now if now is not None else time.time()) - int(m[1]) * 86400
    try:
        return datetime.fromisoformat(text.strip()).timestamp()  # naive: local time
    except ValueError:
        raise ValueError(f"--since {text!r}: not a date ({SINCE_FORMS})") from None


@dataclass(frozen=True)
class ImageQuery:
    """Which images: every word of `search` somewhere in them, a drive's serial, a case, a date."""

    search: str | None = None
    serial: str | None = None
    case: str | None = None
    since: float | None = None  # created at or after (seconds since the epoch)
    limit: int | None = None


class Catalog:
    """The catalog of one session store (see the module's docstring)."""

    def __init__(self, db: Database, store: SessionStore) -> None:
        self.db = db
        self.store = store

    @classmethod
    def open(cls, store: SessionStore | None = None, url: str | None = None, *, sync: bool = True) -> Catalog:
        """The catalog (created or migrated as needed), level with the store unless `sync` is False.
        CatalogError in one line when it cannot be."""
        db = connect(url)
        try:
            migrate(db)
            cat = cls(db, store or SessionStore())
            if sync:
                cat.sync()
        except BaseException:
            db.close()
            raise
        return cat

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- keeping level with the store ------------------------------------------------------------------

    def sync(self, *, full: bool = False) -> SyncReport:
        """Read what changed in the session store (see station.catalog.sync)."""
        return sync(self.db, self.store.root, full=full)

    def rebuild(self) -> SyncReport:
        """Forget everything and import the whole session store again."""
        return rebuild(self.db, self.store.root)

    # -- images ----------------------------------------------------------------------------------------

    def images(self, query: ImageQuery | None = None) -> list[ImageEntry]:
        """The images that match, newest first (at most `query.limit`)."""
        q = query or ImageQuery()
        where, params = self._where(q)
        limit = f" LIMIT {int(q.limit)}" if q.limit else ""
        rows = self.db.rows(
            f"SELECT {IMAGE_COLUMNS} FROM images i LEFT JOIN labels l ON l.image_id = i.id "
            f"WHERE {where} ORDER BY i.created DESC, i.id DESC{limit}",
            params,
        )
        return self._with_tags(rows)

    def count_images(self, query: ImageQuery | None = None) -> int:
        """How many images match (all of them without a query), whatever the limit."""
        where, params = self._where(query or ImageQuery())
        row = self.db.one(
            f"SELECT count(*) FROM images i LEFT JOIN labels l ON l.image_id = i.id WHERE {where}", params
        )
        return int(row[0]) if row else 0

    @staticmethod
    def _where(q: ImageQuery) -> tuple[str, list[object]]:
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        for pattern in like_patterns(q.search or ""):
            where.append("i.search LIKE ? ESCAPE '\\'")
            params.append(pattern)
        if q.serial:
            where.append("upper(i.source_serial) = upper(?)")
            params.append(q.serial.strip())
        if q.case:
            where.append("upper(l.case_no) = upper(?)")
            params.append(q.case.strip())
        if q.since is not None:
            where.append("i.created >= ?")
            params.append(q.since)
        return " AND ".join(where), params

    def image(self, image_id: str) -> ImageEntry | None:
        rows = self.db.rows(
            f"SELECT {IMAGE_COLUMNS} FROM images i LEFT JOIN labels l ON l.image_id = i.id WHERE i.id = ?",
            (image_id,),
        )
        found = self._with_tags(rows)
        return found[0] if found else None

    def _with_tags(self, rows: list[tuple]) -> list[ImageEntry]:
        tags: dict[str, list[str]] = defaultdict(list)
        ids = [r[0] for r in rows]
        if len(ids) > 500:  # most of the catalog: one pass over the (small) tags table
            wanted = set(ids)
            for image_id, tag in self.db.rows("SELECT image_id, tag FROM tags ORDER BY tag"):
                if image_id in wanted:
                    tags[image_id].append(tag)
        elif ids:
            q = f"SELECT image_id, tag FROM tags WHERE image_id IN ({marks(len(ids))}) ORDER BY tag"
            for image_id, tag in self.db.rows(q, ids):
                tags[image_id].append(tag)
        verified = self._last_verified(ids)
        return [ImageEntry.from_row(r, tuple(tags[r[0]]), verified.get(r[0])) for r in rows]

    def _last_verified(self, ids: list[str]) -> dict[str, bool | None]:
        if not ids or len(ids) > 500:
            return {}
        rows = self.db.rows(
            f"SELECT image_id, ok FROM verifications WHERE image_id IN ({marks(len(ids))}) ORDER BY at", ids
        )
        return {image_id: None if ok is None else bool(ok) for image_id, ok in rows}

    def resolve(self, text: str) -> ImageEntry:
        """The image a command line names: a session id (its image), else an image path (the image
        there now).  LookupError in one line when it names none."""
        text = text.strip()
        if not text:
            raise LookupError("no image or session given")
        row = self.db.one(
            "SELECT image_id FROM session_paths WHERE session_id = ? AND image_id IS NOT NULL "
            "ORDER BY CASE WHEN role = 'wrote' THEN 0 ELSE 1 END",
            (text,),
        )
        if row is None and self.db.one("SELECT id FROM images WHERE id = ?", (text,)):
            row = (text,)
        if row is None:
            row = self._image_at(text)
        if row is None:
            if self.db.one("SELECT id FROM sessions WHERE id = ?", (text,)):
                raise LookupError(f"{text}: this session wrote no image the catalog knows")
            raise LookupError(
                f"{text}: no image or session of that name in the catalog (station images lists them)"
            )
        found = self.image(row[0])
        if found is None:
            raise LookupError(f"{text}: no such image")
        return found

    def _image_at(self, text: str) -> tuple | None:
        """The newest image at a path, as given, absolute, or resolved through symlinks."""
        candidates = dict.fromkeys([os.path.normpath(os.path.abspath(text)), os.path.realpath(text)])
        for path in candidates:
            row = self.db.one("SELECT id FROM images WHERE path = ? ORDER BY created DESC", (path,))
            if row is not None:
                return row
        if os.path.exists(text):  # named through another link: compare the files themselves
            st = os.stat(text)
            for image_id, path in self.db.rows("SELECT id, path FROM images ORDER BY created DESC"):
                try:
                    other = os.stat(path)
                except OSError:
                    continue
                if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                    return (image_id,)
        return None

    # -- sessions, verifications, restores -----------------------------------------------------------

    def sessions_of(self, image_id: str) -> list[SessionEntry]:
        """Every session that wrote or read this image, oldest first."""
        rows = self.db.rows(
            f"SELECT DISTINCT {SESSION_COLUMNS} FROM sessions s "
            f"JOIN session_paths sp ON sp.session_id = s.id WHERE sp.image_id = ? ORDER BY s.started, s.id",
            (image_id,),
        )
        return [SessionEntry.from_row(r, image_id) for r in rows]

    def session(self, sid: str) -> SessionEntry | None:
        row = self.db.one(f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ?", (sid,))
        return SessionEntry.from_row(row) if row else None

    def drive_sessions(self, serial: str) -> list[SessionEntry]:
        """Every session of the drive with this serial (case and spaces aside), oldest first, each
        with the image it wrote and that image's case."""
        rows = self.db.rows(
            f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE upper(s.source_serial) = upper(?) "
            f"ORDER BY s.started, s.id",
            (serial.strip(),),
        )
        ids = [r[0] for r in rows]
        images: dict[str, tuple[str, str]] = {}
        if ids:
            for sid, image_id, case in self.db.rows(
                f"SELECT sp.session_id, sp.image_id, l.case_no FROM session_paths sp "
                f"LEFT JOIN labels l ON l.image_id = sp.image_id WHERE sp.session_id IN ({marks(len(ids))})",
                ids,
            ):
                images.setdefault(sid, (image_id, case or ""))
        return [SessionEntry.from_row(r, *images.get(r[0], (None, ""))) for r in rows]

    def seen_before(self, serials: list[str]) -> dict[str, int]:
        """How many sessions the catalog has of each of these drives (by serial; absent: none)."""
        wanted = [s.strip() for s in serials if s and s.strip()]
        if not wanted:
            return {}
        rows = self.db.rows(
            f"SELECT upper(source_serial), count(*) FROM sessions WHERE upper(source_serial) IN "
            f"({', '.join('upper(?)' for _ in wanted)}) GROUP BY upper(source_serial)",
            wanted,
        )
        counts = {key: n for key, n in rows}
        return {s: counts[s.upper()] for s in wanted if s.upper() in counts}

    def verifications(self, image_id: str) -> list[Verification]:
        rows = self.db.rows(
            "SELECT id, session_id, at, ok, method, detail FROM verifications WHERE image_id = ? "
            "ORDER BY at, id",
            (image_id,),
        )
        return [Verification(i, s, at, None if ok is None else bool(ok), m, d) for i, s, at, ok, m, d in rows]

    def restores(self, image_id: str) -> list[Restore]:
        rows = self.db.rows(
            "SELECT id, session_id, target, target_model, target_serial, bytes, started, ended, state, "
            "verified, detail FROM restores WHERE image_id = ? ORDER BY started, id",
            (image_id,),
        )
        return [
            Restore(i, s, t, m, ser, b, st, en, state, None if v is None else bool(v), d)
            for i, s, t, m, ser, b, st, en, state, v, d in rows
        ]

    # -- labels ----------------------------------------------------------------------------------------

    def label(self, image: ImageEntry, edit: LabelEdit) -> ImageEntry:
        """Apply a technician's edit: to the image's label file (the truth) and to the catalog, in
        one writing transaction, so concurrent edits queue and none is lost.  ValueError for a
        bad edit, CatalogError when the image's session directory is gone."""
        edit.check()
        session_dir = self.store.root / image.id
        if not session_dir.is_dir():
            raise CatalogError(
                f"{image.path}: its session {image.id} is no longer in the store: nothing to label"
            )
        with self.db.write():
            labels = edit.apply(read_labels(session_dir) or Labels(), time.time())
            try:
                write_labels(session_dir, labels)
            except OSError as e:
                raise CatalogError(f"{session_dir}: cannot write its labels ({e.strerror})") from None
            self._store_labels(image.id, labels)
        updated = self.image(image.id)
        return updated if updated is not None else image

    def _store_labels(self, image_id: str, labels: Labels) -> None:
        put_labels(self.db, image_id, labels)
        refresh_search(self.db, [image_id])

    @property
    def where(self) -> str:
        """The database, for messages."""
        return self.db.where

    @property
    def store_root(self) -> Path:
        return self.store.root
