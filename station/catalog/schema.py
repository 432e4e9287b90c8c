"""The catalog's tables, one version after another, and the migrations between them.

A catalog records its version in `schema_version`.  Opening one applies every migration it
lacks, each in its own writing transaction that first reads the version again (another process
may have migrated it meanwhile), so a catalog written by any earlier Station opens with its
data, and two processes opening an old catalog at once migrate it once.  A catalog of a later
version than this Station knows is refused in one line: nothing is changed.

Column types are those SQLite and PostgreSQL both take: TEXT, INTEGER, BIGINT (bytes), DOUBLE
PRECISION (times: seconds since the epoch).  JSON goes in TEXT.  docs/formats/catalog.md
describes every column.

Versions:
  1  sessions, the paths they wrote or read, images, verifications, restores, labels and tags,
     and the sync state (what of the session store has been imported)
  2  images.search (everything a search matches, lower-cased, in one column: `station images
     --search` over 10,000 images in milliseconds) and indexes for the lists and drive histories
"""

from __future__ import annotations

from collections.abc import Callable

from station.catalog.db import CatalogError, Database

# What a verification or a restore says first: which session, and which image (by its path, on
# which host, and the image found there when it ran).
_READ_BY_SESSION = (
    "id TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE, "
    "host TEXT, path TEXT, image_id TEXT"
)

V1_TABLES = (
    """CREATE TABLE schema_version (version INTEGER NOT NULL)""",
    """CREATE TABLE catalog_state (name TEXT PRIMARY KEY, value TEXT)""",
    """CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        method TEXT,
        host TEXT,
        pid INTEGER,
        started DOUBLE PRECISION,
        ended DOUBLE PRECISION,
        source_path TEXT,
        source_kind TEXT,
        source_model TEXT,
        source_serial TEXT,
        source_firmware TEXT,
        source_capacity BIGINT,
        destinations TEXT,
        mapfile TEXT,
        options TEXT,
        command TEXT,
        resumed INTEGER,
        reason TEXT,
        size BIGINT,
        rescued BIGINT,
        bad BIGINT,
        pending BIGINT,
        read_errors INTEGER,
        bad_areas INTEGER,
        exit_status INTEGER,
        power_cycles INTEGER,
        elapsed DOUBLE PRECISION,
        average_rate DOUBLE PRECISION,
        peak_rate DOUBLE PRECISION,
        hashes TEXT,
        smart_state TEXT,
        smart_before TEXT,
        smart_after TEXT,
        smart TEXT,
        station_version TEXT,
        seen BIGINT
    )""",
    """CREATE TABLE session_paths (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        host TEXT NOT NULL,
        path TEXT NOT NULL,
        role TEXT NOT NULL,
        image_id TEXT,
        PRIMARY KEY (session_id, path, role)
    )""",
    """CREATE TABLE images (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        path TEXT NOT NULL,
        format TEXT,
        size BIGINT,
        file_size BIGINT,
        created DOUBLE PRECISION,
        updated DOUBLE PRECISION,
        last_session TEXT,
        sessions INTEGER,
        state TEXT,
        replaced INTEGER NOT NULL DEFAULT 0,
        source_path TEXT,
        source_model TEXT,
        source_serial TEXT,
        source_firmware TEXT,
        source_capacity BIGINT,
        mapfile TEXT,
        rescued BIGINT,
        bad BIGINT,
        pending BIGINT,
        read_errors INTEGER,
        bad_areas INTEGER,
        hashes TEXT,
        sha256 TEXT,
        md5 TEXT
    )""",
    f"""CREATE TABLE verifications (
        {_READ_BY_SESSION},
        at DOUBLE PRECISION,
        ok INTEGER,
        method TEXT,
        detail TEXT,
        data TEXT
    )""",
    f"""CREATE TABLE restores (
        {_READ_BY_SESSION},
        target TEXT,
        target_model TEXT,
        target_serial TEXT,
        bytes BIGINT,
        started DOUBLE PRECISION,
        ended DOUBLE PRECISION,
        state TEXT,
        verified INTEGER,
        detail TEXT,
        data TEXT
    )""",
    """CREATE TABLE labels (
        image_id TEXT PRIMARY KEY,
        case_no TEXT,
        customer TEXT,
        label TEXT,
        note TEXT,
        updated DOUBLE PRECISION
    )""",
    """CREATE TABLE tags (
        image_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (image_id, tag)
    )""",
)

V2_CHANGES = (
    "ALTER TABLE images ADD COLUMN search TEXT",
    "CREATE INDEX images_created ON images (created)",
    "CREATE INDEX images_serial ON images (source_serial)",
    "CREATE INDEX images_place ON images (host, path)",
    "CREATE INDEX sessions_serial ON sessions (source_serial, started)",
    "CREATE INDEX session_paths_place ON session_paths (host, path)",
    "CREATE INDEX session_paths_image ON session_paths (image_id)",
    "CREATE INDEX verifications_image ON verifications (image_id)",
    "CREATE INDEX restores_image ON restores (image_id)",
)


def _v1(db: Database) -> None:
    for statement in V1_TABLES:
        db.run(statement)
    db.run("INSERT INTO schema_version (version) VALUES (0)")


def _v2(db: Database) -> None:
    from station.catalog.search import refresh_search

    for statement in V2_CHANGES:
        db.run(statement)
    refresh_search(db, [row[0] for row in db.rows("SELECT id FROM images")])


# MIGRATIONS[n - 1] takes a catalog of version n - 1 to version n.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (_v1, _v2)
CURRENT = len(MIGRATIONS)
TABLES = (
    "tags",
    "labels",
    "restores",
    "verifications",
    "images",
    "session_paths",
    "sessions",
    "catalog_state",
)


def version(db: Database) -> int:
    """The catalog's schema version (0: an empty database)."""
    found = db.one(db.dialect.has_table, ("schema_version",))
    if not found or not found[0]:
        return 0
    row = db.one("SELECT version FROM schema_version")
    return int(row[0]) if row else 0


def migrate(db: Database, target: int = CURRENT) -> int:
    """Bring the catalog to `target` (default: this Station's version); the version it has now."""
    have = version(db)
    if have > CURRENT:
        raise CatalogError(
            f"{db.where}: catalog version {have} is newer than this Station knows ({CURRENT}): "
            "use a newer Station, or move it away and run `station catalog rebuild`"
        )
    while have < target:
        with db.write():
            have = version(db)  # another process may have got here first
            if have >= target:
                break
            MIGRATIONS[have](db)
            have += 1
            db.run("UPDATE schema_version SET version = ?", (have,))
    return have
