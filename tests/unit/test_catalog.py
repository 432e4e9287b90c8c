"""station.catalog: importing the session store, images from sessions, queries, labels, lazy sync."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from catalogkit import GB, add_session, store_at

from station.catalog import Catalog, CatalogError, ImageQuery, LabelEdit
from station.catalog.facts import event_figures
from station.catalog.labels import LABEL_FILE
from station.core.session import SessionStore, changes_path

T0 = 1_700_000_000.0  # 2023-11-14


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return store_at(tmp_path)


def open_catalog(store: SessionStore, url: str) -> Catalog:
    """`url`: the `catalog_url` fixture's (SQLite, then PostgreSQL), or a SQLite file's path."""
    return Catalog.open(store, url)


def test_sessions_already_in_the_store_are_imported_on_first_use(store, tmp_path, catalog_url):
    add_session(store, "/img/a.img", started=T0, serial="S-A", hashes={"sha256": "ab" * 32, "md5": "cd" * 16})
    add_session(store, "/img/b.img", started=T0 + 10, serial="S-B")
    with open_catalog(store, catalog_url) as cat:
        images = cat.images()
    assert [i.path for i in images] == ["/img/b.img", "/img/a.img"]  # newest first
    a = images[1]
    assert (a.source.model, a.source.serial, a.source.firmware, a.source.capacity) == (
        "WDC WD10EZEX-08WN4A0", "S-A", "01.01A01", GB,
    )  # fmt: skip
    assert (a.size, a.rescued, a.bad, a.sessions, a.state) == (GB, GB - 4096, 4096, 1, "finished")
    assert a.sha256 == "ab" * 32 and a.hashes["md5"] == "cd" * 16
    assert a.format == "missing"  # the file is not on this machine's disk
    j = a.to_json()
    for key in ("path", "format", "size", "sha256", "case", "customer", "label", "tags", "note", "created"):
        assert key in j
    assert j["source"]["model"] == "WDC WD10EZEX-08WN4A0" and j["source"]["serial"] == "S-A"
    assert j["created"].startswith(time.strftime("%Y-%m-%dT", time.localtime(T0)))


def test_resumed_sessions_make_one_image_and_a_fresh_start_another(store, tmp_path, catalog_url):
    first = add_session(store, "/img/x.img", started=T0, state="stopped", rescued=GB // 2)
    second = add_session(store, "/img/x.img", started=T0 + 100, resumed=True)
    third = add_session(store, "/img/x.img", started=T0 + 200, resumed=False, serial="OTHER")
    with open_catalog(store, catalog_url) as cat:
        images = cat.images()
        assert [(i.id, i.sessions, i.replaced) for i in images] == [(third.id, 1, False), (first.id, 2, True)]
        old = images[1]
        assert old.rescued == GB - 4096 and old.read_errors == 6  # the newest run's map; errors summed
        assert cat.resolve(second.id).id == first.id  # a session names its image
        assert cat.resolve("/img/x.img").id == third.id  # a path names the image there now
        assert [s.id for s in cat.sessions_of(first.id)] == [first.id, second.id]


def test_lazy_sync_reads_new_changed_and_removed_sessions(store, tmp_path, catalog_url):
    s = add_session(store, "/img/a.img", started=T0, state="running")
    with open_catalog(store, catalog_url) as cat:
        assert cat.images()[0].state == "running"
        report = cat.sync()
        assert (report.read, report.full) == (0, False)  # nothing changed: nothing read
        s.finish("finished", "done", s.record.result_so_far())
        assert cat.sync().read == 1  # found through the store's change journal
        assert cat.images()[0].state == "finished"
        add_session(store, "/img/b.img", started=T0 + 1)
        report = cat.sync()
        assert report.full and report.read == 1  # a new directory: every mtime compared
        shutil.rmtree(s.dir)
        assert cat.sync().removed == 1
        assert [i.path for i in cat.images()] == ["/img/b.img"]


def test_a_session_whose_process_died_reads_as_interrupted(store, tmp_path, catalog_url):
    s = add_session(store, "/img/a.img", started=T0, state="running")
    s.record.pid = 2**22 + 12345  # no such process
    s.save()
    with open_catalog(store, catalog_url) as cat:
        assert cat.images()[0].state == "interrupted"


def test_search_serial_case_and_since(store, tmp_path, catalog_url):
    a = add_session(store, "/img/ann-laptop.img", started=T0, serial="WD-111", model="WDC WD10")
    add_session(store, "/img/bob.zst", started=T0 + 86400 * 10, serial="ST-222", model="ST2000DM008")
    with open_catalog(store, catalog_url) as cat:
        cat.label(cat.resolve(a.id), LabelEdit(case="T-1041", customer="Ann Smith", add_tags=("urgent",)))

        def paths(**q) -> list[str]:
            return [i.path for i in cat.images(ImageQuery(**q))]

        assert paths(search="ann") == ["/img/ann-laptop.img"]
        assert paths(search="SMITH urgent") == ["/img/ann-laptop.img"]  # every word, any case
        assert paths(search="smith bob") == []
        assert paths(search="st2000") == ["/img/bob.zst"]  # the model
        assert paths(search="100%") == []  # LIKE's wildcards are plain characters
        assert paths(serial="wd-111") == ["/img/ann-laptop.img"]
        assert paths(case="t-1041") == ["/img/ann-laptop.img"]
        assert paths(since=T0 + 86400) == ["/img/bob.zst"]
        assert paths(search=a.id[-6:]) == ["/img/ann-laptop.img"]  # a session id


def test_labels_live_in_the_store_and_survive_a_rebuild_and_a_deleted_catalog(
    store, tmp_path, catalog_url, request
):
    a = add_session(store, "/img/a.img", started=T0)
    with open_catalog(store, catalog_url) as cat:
        image = cat.label(
            cat.resolve("/img/a.img"), LabelEdit(case="C-7", label="Ann's laptop", add_tags=("x", "y"))
        )
        assert (image.case, image.label, image.tags) == ("C-7", "Ann's laptop", ("x", "y"))
        image = cat.label(image, LabelEdit(note="water damage\nsecond line", remove_tags=("x",), case=""))
        assert (image.case, image.tags, image.note) == ("", ("y",), "water damage\nsecond line")
    on_disk = json.loads((a.dir / LABEL_FILE).read_text())
    assert on_disk["tags"] == ["y"] and on_disk["label"] == "Ann's laptop"
    with open_catalog(store, catalog_url) as cat:
        cat.rebuild()
        assert cat.images()[0].label == "Ann's laptop"
    if catalog_url.startswith("postgresql://"):
        request.getfixturevalue("pg_server").drop(catalog_url)
    else:
        for extra in ("", "-wal", "-shm"):
            Path(catalog_url + extra).unlink(missing_ok=True)
    with open_catalog(store, catalog_url) as cat:
        assert cat.images()[0].tags == ("y",)


@pytest.mark.parametrize(
    "edit, message",
    [
        (LabelEdit(add_tags=("two words",)), "one word per tag"),
        (LabelEdit(add_tags=("",)), "cannot be empty"),
        (LabelEdit(case="a\nb"), "one line only"),
        (LabelEdit(note="x" * 5000), "longer than"),
    ],
)
def test_bad_label_edits_are_refused_and_change_nothing(store, tmp_path, edit, message, catalog_url):
    a = add_session(store, "/img/a.img", started=T0)
    with open_catalog(store, catalog_url) as cat, pytest.raises(ValueError, match=message):
        cat.label(cat.resolve(a.id), edit)
    assert not (a.dir / LABEL_FILE).exists()


def test_resolve_refuses_what_names_no_image(store, tmp_path, catalog_url):
    add_session(store, "/img/a.img", started=T0)
    v = add_session(store, [], started=T0 + 5, kind="inspect")
    with open_catalog(store, catalog_url) as cat:
        with pytest.raises(LookupError, match="no image or session"):
            cat.resolve("/img/none.img")
        with pytest.raises(LookupError, match="wrote no image"):
            cat.resolve(v.id)


def test_resolve_finds_an_image_through_another_name(store, tmp_path, catalog_url):
    real = tmp_path / "disk.img"
    real.write_bytes(b"\0" * 4096)
    add_session(store, str(real), started=T0)
    (tmp_path / "link.img").symlink_to(real)
    os.link(real, tmp_path / "hard.img")
    with open_catalog(store, catalog_url) as cat:
        assert cat.resolve(str(tmp_path / "link.img")).path == str(real)
        assert cat.resolve(str(tmp_path / "hard.img")).path == str(real)
        assert cat.images()[0].format == "raw" and cat.images()[0].file_size == 4096


def test_drive_history_oldest_first_and_seen_before(store, tmp_path, catalog_url):
    add_session(store, "/img/2.img", started=T0 + 50, serial="SER-1")
    one = add_session(store, "/img/1.img", started=T0, serial="SER-1")
    add_session(store, "/img/3.img", started=T0 + 10, serial="SER-2")
    with open_catalog(store, catalog_url) as cat:
        cat.label(cat.resolve(one.id), LabelEdit(case="K-9"))
        history = cat.drive_sessions(" ser-1 ")
        assert [(s.destinations, s.case) for s in history] == [(["/img/1.img"], "K-9"), (["/img/2.img"], "")]
        assert cat.seen_before(["SER-1", "ser-2", "NEW"]) == {"SER-1": 2, "ser-2": 1}


def test_verifications_and_restores_from_the_jobs_to_come(store, tmp_path, catalog_url):
    """Records of the verify and restore jobs (issues 11 and 13), read for what they hold."""
    img = add_session(store, "/img/a.zst", started=T0, hashes={"sha256": "00" * 32})
    add_session(store, [], started=T0 + 10, kind="verify", source_path="/img/a.zst",
                result_extra={"ok": False, "summary": "MISMATCH: 1 range differs"})  # fmt: skip
    add_session(store, [], started=T0 + 20, kind="verify", source_path="/img/a.zst")  # exit 0: matched
    add_session(store, ["/dev/sdc", "/dev/sdd"], started=T0 + 30, kind="restore", source_path="/img/a.zst",
                extra={"targets": [
                    {"path": "/dev/sdc", "serial": "T1", "bytes_written": GB, "state": "finished",
                     "verified": True},
                    {"path": "/dev/sdd", "serial": "T2", "state": "failed", "error": "write error at 4096",
                     "verification": {"ok": False}},
                ]})  # fmt: skip
    img.record.unknown["verifications"] = [{"ok": True, "at": T0 + 5, "against": "source", "summary": "ok"}]
    img.save()
    with open_catalog(store, catalog_url) as cat:
        checks = cat.verifications(img.id)
        assert [(v.ok, v.method) for v in checks] == [
            (True, "against source"),
            (False, "hashes"),
            (True, "hashes"),
        ]
        assert checks[1].detail == "MISMATCH: 1 range differs"
        restores = cat.restores(img.id)
        assert [(r.target, r.serial, r.bytes, r.state, r.verified) for r in restores] == [
            ("/dev/sdc", "T1", GB, "finished", True),
            ("/dev/sdd", "T2", None, "failed", False),
        ]
        assert restores[1].detail == "write error at 4096"
        assert cat.images()[0].last_verified is True
        assert len(cat.images()) == 1  # a restore's targets are not images


def test_unreadable_and_odd_records_never_break_the_catalog(store, tmp_path, catalog_url):
    add_session(store, "/img/a.img", started=T0)
    broken = store.root / "20990101-000000-bad000"
    broken.mkdir()
    (broken / "session.json").write_text("{not json")
    odd = store.root / "20990101-000000-odd000"
    odd.mkdir()
    (odd / "session.json").write_text(json.dumps({"id": "x", "dest": "/img/odd.img", "drive": "a string",
                                                  "result": {"rescued": "lots", "hashes": [1, 2]},
                                                  "future_field": {"anything": 1}}))  # fmt: skip
    with open_catalog(store, catalog_url) as cat:
        report = cat.sync(full=True)
        assert report.read == 0  # all already read at opening, the broken one as unreadable
        paths = sorted(i.path for i in cat.images())
        assert paths == ["/img/a.img", "/img/odd.img"]
        assert cat.db.one("SELECT state FROM sessions WHERE id = ?", (broken.name,)) == ("unreadable",)


def test_event_figures_read_the_peak_and_the_last_progress(tmp_path):
    s = add_session(store_at(tmp_path), "/img/a.img", started=T0, rates=[10.0, 500.0, 20.0])
    with open(s.dir / "events.jsonl", "a") as f:
        f.write('{"kind":"progress","t":9,"current_rate":99')  # torn by a crash
    peak, last = event_figures(s.dir / "events.jsonl")
    assert peak == 500.0 and last is not None and last["t"] == 2.0


def test_the_journal_may_vanish_or_be_cut_short(store, tmp_path, catalog_url):
    add_session(store, "/img/a.img", started=T0)
    with open_catalog(store, catalog_url) as cat:
        changes_path(store.root).unlink()
        assert cat.sync().full  # compared everything once
        assert not cat.sync().full
        add_session(store, "/img/b.img", started=T0 + 1)
        changes_path(store.root).write_text("")  # cut short
        cat.sync()
        assert len(cat.images()) == 2


def test_a_catalog_that_is_not_a_database_is_refused_in_one_line(store, tmp_path):
    (tmp_path / "catalog.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CatalogError, match="not a catalog"):
        open_catalog(store, str(tmp_path / "catalog.sqlite"))


def test_an_older_reading_never_replaces_a_newer_one(store, tmp_path, catalog_url):
    """Two processes syncing at once: the one that read a record first may write last."""
    from station.catalog.facts import read_facts
    from station.catalog.sync import _apply

    s = add_session(store, "/img/a.img", started=T0, state="stopped")
    with open_catalog(store, catalog_url) as cat:
        (seen,) = cat.db.one("SELECT seen FROM sessions WHERE id = ?", (s.id,))
        old = read_facts(store.root, s.id, seen + 1)
        s.record.state = "finished"
        s.save()
        new = read_facts(store.root, s.id, seen + 2)
        with cat.db.write():
            _apply(cat.db, [new], [], "here")
        with cat.db.write():
            _apply(cat.db, [old], [], "here")
        assert cat.db.one("SELECT state, seen FROM sessions WHERE id = ?", (s.id,)) == ("finished", seen + 2)
