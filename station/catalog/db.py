"""Where the catalog is kept and how it is spoken to: standard SQL over DB-API 2.0 (PEP 249).

Why not SQLAlchemy Core: the catalog needs a dozen statements, all of them standard SQL
(CREATE TABLE, INSERT ... ON CONFLICT DO UPDATE, SELECT with LIKE and ORDER BY), which SQLite and
PostgreSQL both run as written; what differs between the two is small and lives in `Dialect`:
the parameter marker, how a writing transaction starts, and the URL.  SQLAlchemy would cost a
dependency and a tenth of a second of import in every `station images`, whose whole budget is
100 ms.  A lab that moves the catalog to its PostgreSQL server sets `STATION_CATALOG` to a
`postgresql://` URL and installs psycopg; nothing else changes (docs/formats/catalog.md).

SQLite is used the way several processes can share it: WAL (readers never wait for the writer),
a busy timeout (a writer waits its turn instead of failing), writing transactions started with
BEGIN IMMEDIATE (they take the write lock first, so two writers queue instead of one failing on
an upgrade from reading to writing), and short transactions (station.catalog.sync writes in
batches).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.core.session import data_home

BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's transaction
URL_VARIABLE = "STATION_CATALOG"  # a file path, sqlite:///PATH or postgresql://...


class CatalogError(Exception):
    """The catalog cannot be opened or used; the message is one line for the technician."""


@dataclass(frozen=True)
class Dialect:
    """What differs between the databases the catalog runs on."""

    name: str
    marker: str  # the DB-API parameter marker the driver wants in place of "?"
    begin_write: tuple[str, ...]  # start a transaction that will write, holding the one writer's lock
    has_table: str  # one row, one column: how many tables are named "?"

    def sql(self, statement: str) -> str:
        """The statement with "?" markers in this dialect's spelling (no "?" appears otherwise)."""
        return statement if self.marker == "?" else statement.replace("?", self.marker)


SQLITE = Dialect(
    "sqlite",
    "?",
    ("BEGIN IMMEDIATE",),
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
)
# One writer at a time there too (a transaction-scoped advisory lock), as SQLite has by nature.
POSTGRESQL = Dialect(
    "postgresql",
    "%s",
    ("BEGIN", "SELECT pg_advisory_xact_lock(14)"),
    "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?",
)


def default_path() -> Path:
    """The per-user catalog: $XDG_DATA_HOME/station/catalog.sqlite, beside the session store."""
    return data_home() / "station" / "catalog.sqlite"


class Database:
    """One connection, in autocommit mode: reads are single statements, writes are `write()` blocks."""

    def __init__(self, connection: Any, dialect: Dialect, where: str) -> None:
        self.connection = connection
        self.dialect = dialect
        self.where = where  # the file or URL, for messages

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple]:
        cur = self.connection.cursor()
        cur.execute(self.dialect.sql(statement), tuple(params))
        return cur.fetchall()

    def one(self, statement: str, params: Sequence[Any] = ()) -> tuple | None:
        found = self.rows(statement, params)
        return found[0] if found else None

    def run(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.connection.cursor().execute(self.dialect.sql(statement), tuple(params))

    def run_many(self, statement: str, params: Sequence[Sequence[Any]]) -> None:
        if params:
            self.connection.cursor().executemany(self.dialect.sql(statement), [tuple(p) for p in params])

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A writing transaction: committed when the block ends, rolled back if it raises."""
        cur = self.connection.cursor()
        try:
            for statement in self.dialect.begin_write:
                cur.execute(statement)
        except sqlite3.OperationalError as e:
            raise CatalogError(f"{self.where}: {e} (another station held it too long: try again)") from None
        try:
            yield self
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()


def connect(url: str | None = None, *, busy_timeout: float = BUSY_TIMEOUT) -> Database:
    """The catalog's database: `url` (a path, sqlite:///PATH or postgresql://...), else
    $STATION_CATALOG, else the per-user file.  CatalogError in one line when it cannot be opened."""
    url = url or os.environ.get(URL_VARIABLE) or str(default_path())
    if url.startswith(("postgresql://", "postgres://")):
        return _connect_postgresql(url)
    path = Path(url.removeprefix("sqlite://") if url.startswith("sqlite:///") else url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as e:
        raise CatalogError(f"{path}: cannot open the catalog ({e})") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as e:
        conn.close()
        raise CatalogError(
            f"{path}: not a catalog ({e}): move it away or run `station catalog rebuild`"
        ) from None
    return Database(conn, SQLITE, str(path))


def _connect_postgresql(url: str) -> Database:
    try:
        import psycopg  # type: ignore[import-not-found]
    except ImportError:
        raise CatalogError(
            f"{URL_VARIABLE} names PostgreSQL, but psycopg is not installed (pip install psycopg)"
        ) from None
    try:
        conn = psycopg.connect(url, autocommit=True)
    except Exception as e:  # the driver's own errors: a refused connection, a bad password...
        raise CatalogError(
            f"cannot reach the catalog at {url.split('@')[-1]}: {' '.join(str(e).split())}"
        ) from None
    return Database(conn, POSTGRESQL, url.split("@")[-1])
