"""The catalog's schema versions: every earlier version, filled as that version wrote it, migrates
to the current one with its data; a newer catalog is refused; two processes migrate once."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable

import pytest

from station.catalog import Catalog, CatalogError, ImageQuery
from station.catalog.db import Database, connect
from station.catalog.schema import CURRENT, migrate, version
from station.core.session import SessionStore

T0 = 1_700_000_000.0


def fill_v1(db: Database) -> None:
    """Rows as a version-1 catalog held them: two images of one drive, one labelled and tagged,
    a verification and a restore."""
    with db.write():
        for sid, path, started, resumed in (
            ("20231114-000000-aaaaaa", "/img/a.img", T0, 0),
            ("20231114-001000-bbbbbb", "/img/a.img", T0 + 600, 1),
            ("20231115-000000-cccccc", "/img/b.zst", T0 + 86400, 0),
        ):
            db.run(
                "INSERT INTO sessions (id, kind, state, method, host, started, ended, source_model, "
                "source_serial, source_capacity, destinations, resumed, size, rescued, bad, hashes, seen) "
                "VALUES (?, 'imaging', 'finished', 'engine', 'bench1', ?, ?, 'ST2000DM008', 'Z4Z0AAAA', "
                "?, ?, ?, ?, ?, 512, ?, 1)",
                (sid, started, started + 60, 2 * 10**12, json.dumps([path]), resumed, 2 * 10**12,
                 2 * 10**12 - 512, json.dumps({"sha256": sid[-6:] * 10})),
            )  # fmt: skip
            db.run(
                "INSERT INTO session_paths (session_id, host, path, role, image_id) "
                "VALUES (?, 'bench1', ?, 'wrote', ?)",
                (sid, path, "20231115-000000-cccccc" if path.endswith("zst") else "20231114-000000-aaaaaa"),
            )
        for iid, path, fmt, created in (
            ("20231114-000000-aaaaaa", "/img/a.img", "raw", T0),
            ("20231115-000000-cccccc", "/img/b.zst", "zst", T0 + 86400),
        ):
            db.run(
                "INSERT INTO images (id, host, path, format, size, file_size, created, sessions, state, "
                "source_model, source_serial, rescued, bad, hashes, sha256) "
                "VALUES (?, 'bench1', ?, ?, ?, ?, ?, 1, 'finished', 'ST2000DM008', 'Z4Z0AAAA', ?, 512, ?, ?)",
                (
                    iid,
                    path,
                    fmt,
                    2 * 10**12,
                    10**12,
                    created,
                    2 * 10**12 - 512,
                    json.dumps({"sha256": "ff" * 32}),
                    "ff" * 32,
                ),  # fmt: skip
            )
        db.run(
            "INSERT INTO labels (image_id, case_no, customer, label, note, updated) "
            "VALUES ('20231114-000000-aaaaaa', 'T-1041', 'Ann Smith', 'laptop', 'water damage', ?)",
            (T0,),
        )
        db.run_many(
            "INSERT INTO tags (image_id, tag) VALUES ('20231114-000000-aaaaaa', ?)", [("urgent",), ("hdd",)]
        )
        db.run(
            "INSERT INTO verifications (id, session_id, host, path, image_id, at, ok, method) "
            "VALUES ('v1', '20231115-000000-cccccc', 'bench1', '/img/b.zst', '20231115-000000-cccccc', ?, 1, "
            "'hashes')",
            (T0 + 90000,),
        )
        db.run(
            "INSERT INTO restores (id, session_id, host, path, image_id, target, bytes, state, verified) "
            "VALUES ('r1', '20231115-000000-cccccc', 'bench1', '/img/b.zst', '20231115-000000-cccccc', "
            "'/dev/sdc', 100, 'finished', 1)"
        )


# FILL[v]: rows as a catalog of version v held them (version 0: no catalog yet).
FILL: dict[int, Callable[[Database], None]] = {0: lambda db: None, 1: fill_v1}


def test_every_version_has_a_filling():
    assert sorted(FILL) == list(range(CURRENT)), "a new schema version needs its FILL and its checks"


@pytest.mark.parametrize("start", range(CURRENT))
def test_every_earlier_version_migrates_with_its_data(tmp_path, start, catalog_url):
    url = catalog_url  # (a SQLite file, then a PostgreSQL database)
    db = connect(url)
    assert migrate(db, target=start) == start
    FILL[start](db)
    db.close()
    with Catalog.open(SessionStore(tmp_path / "no-store"), url, sync=False) as cat:
        assert version(cat.db) == CURRENT
        if start == 0:
            assert cat.images() == []
            return
        images = cat.images()
        assert [i.path for i in images] == ["/img/b.zst", "/img/a.img"]
        a = images[1]
        labels = ("T-1041", "Ann Smith", "laptop", "water damage", ("hdd", "urgent"))
        assert (a.case, a.customer, a.label, a.note, a.tags) == labels
        assert (a.source.model, a.source.serial, a.sha256) == ("ST2000DM008", "Z4Z0AAAA", "ff" * 32)
        # what version 2 added works on the migrated rows: search and the indexes behind the lists
        assert [i.path for i in cat.images(ImageQuery(search="smith URGENT"))] == ["/img/a.img"]
        assert [i.path for i in cat.images(ImageQuery(search="st2000"))] == ["/img/b.zst", "/img/a.img"]
        assert [s.id for s in cat.drive_sessions("z4z0aaaa")][0] == "20231114-000000-aaaaaa"
        assert [(v.ok, v.method) for v in cat.verifications("20231115-000000-cccccc")] == [(True, "hashes")]
        assert [r.target for r in cat.restores("20231115-000000-cccccc")] == ["/dev/sdc"]
        assert cat.resolve("20231114-001000-bbbbbb").id == "20231114-000000-aaaaaa"


def test_a_newer_catalog_is_refused_and_left_alone(tmp_path, catalog_url):
    url = catalog_url
    db = connect(url)
    migrate(db)
    db.run("UPDATE schema_version SET version = ?", (CURRENT + 1,))
    db.close()
    with pytest.raises(CatalogError, match=f"version {CURRENT + 1} is newer"):
        Catalog.open(SessionStore(tmp_path / "s"), url)
    db = connect(url)
    assert version(db) == CURRENT + 1


def _migrate_in_process(
    url: str, start: multiprocessing.synchronize.Event, out: multiprocessing.Queue
) -> None:
    start.wait()
    try:
        db = connect(url)
        out.put(migrate(db))
    except Exception as e:  # reported to the test
        out.put(f"{type(e).__name__}: {e}")


def test_processes_opening_an_old_catalog_at_once_migrate_it_once(tmp_path, catalog_url):
    url = catalog_url
    db = connect(url)
    migrate(db, target=1)
    fill_v1(db)
    db.close()
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_migrate_in_process, args=(url, start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert results == [CURRENT] * 4
    db = connect(url)
    assert db.rows("SELECT version FROM schema_version") == [(CURRENT,)]  # one row: migrated once
    assert db.one("SELECT count(*) FROM images WHERE search LIKE ?", ("%smith%",)) == (1,)


def test_the_database_is_in_wal_mode_with_a_busy_timeout(tmp_path):
    db = connect(str(tmp_path / "c.sqlite"))
    assert db.one("PRAGMA journal_mode") == ("wal",)
    assert db.one("PRAGMA busy_timeout")[0] >= 10_000
