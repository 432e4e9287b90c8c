"""What `station images --search` matches: one lower-cased column per image (schema version 2).

Everything a technician may type to find an image — its path and file name, the drive's model,
serial and firmware, the case, customer, label, note and tags, the ids of its sessions — is
joined into `images.search`, kept up to date whenever an image or its labels change.  A search
is then one LIKE per word over 10,000 rows, the same SQL on SQLite and PostgreSQL (the text is
lower-cased on both sides, since PostgreSQL's LIKE is case-sensitive).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from station.catalog.db import Database

BATCH = 500  # ids per IN (...) list: far below every database's limit on parameters


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), BATCH):
        yield ids[i : i + BATCH]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def refresh_search(db: Database, image_ids: Iterable[str]) -> None:
    """Recompute the search text of these images (inside the caller's writing transaction)."""
    ids = list(dict.fromkeys(image_ids))
    for chunk in _chunks(ids):
        marks = _marks(len(chunk))
        images = db.rows(
            f"SELECT i.id, i.path, i.source_model, i.source_serial, i.source_firmware, i.format, "
            f"l.case_no, l.customer, l.label, l.note FROM images i LEFT JOIN labels l ON l.image_id = i.id "
            f"WHERE i.id IN ({marks})",
            chunk,
        )
        tags: dict[str, list[str]] = defaultdict(list)
        for image_id, tag in db.rows(f"SELECT image_id, tag FROM tags WHERE image_id IN ({marks})", chunk):
            tags[image_id].append(tag)
        sessions: dict[str, list[str]] = defaultdict(list)
        for image_id, sid in db.rows(
            f"SELECT image_id, session_id FROM session_paths WHERE image_id IN ({marks})", chunk
        ):
            sessions[image_id].append(sid)
        updates = []
        for image_id, path, *fields in images:
            words = [image_id, path, *(f for f in fields if f), *tags[image_id], *sessions[image_id]]
            updates.append((" ".join(words).lower(), image_id))
        db.run_many("UPDATE images SET search = ? WHERE id = ?", updates)


def like_patterns(text: str) -> list[str]:
    """One LIKE pattern per word of a search (every word must match); LIKE's own wildcards in the
    text are matched literally (escaped with backslash)."""
    words = text.lower().split()
    return ["%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for w in words]
