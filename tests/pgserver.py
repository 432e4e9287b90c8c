"""A PostgreSQL server of the tests' own, for the catalog's PostgreSQL path: a real server (Debian's
postgresql: initdb and pg_ctl) in a temporary folder, on a free loopback port, a fresh database per
test.  As root it runs as the `postgres` user (the server refuses root); `fsync=off`, since a
test's database lives for one test.  `unavailable()` says why it cannot run here (no server
binaries or no psycopg), and the tests that need it are skipped with that reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


def unavailable() -> str | None:
    """Why no server can be started here, or None."""
    if _bin("initdb") is None or _bin("pg_ctl") is None:
        return "PostgreSQL's server is not installed (Debian's postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "root, and no runuser to start the server as another user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One server for the test session; `database()` makes a fresh database and gives its URL."""

    USER = "station"

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="station-pg-"))
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        data = self.root / "data"
        self._run(str(_bin("initdb")), "-D", str(data), "-A", "trust", "-U", self.USER, "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run(
            str(_bin("pg_ctl")), "-D", str(data), "-o", options, "-l", str(self.root / "log"), "-w", "start"
        )

    def url(self, name: str) -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{name}"

    def database(self) -> str:
        """A new, empty database: its URL."""
        name = "t" + uuid.uuid4().hex[:12]
        self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop(self, url: str) -> None:
        """The database of `url` deleted (and made again, empty): a catalog deleted by hand."""
        name = url.rsplit("/", 1)[1]
        self._admin(f"DROP DATABASE {name} WITH (FORCE)")
        self._admin(f"CREATE DATABASE {name}")

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def stop(self) -> None:
        try:
            self._run(str(_bin("pg_ctl")), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
