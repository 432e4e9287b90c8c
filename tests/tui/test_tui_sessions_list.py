"""The sessions table as a technician with a long history sees it: rows at once (each log's last
counters filled in afterwards, from its end), figures before paths, whole."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from textual.widgets import DataTable
from tuikit import run, screen_text, wait_for

from station.core.events import Progress
from station.core.session import SessionStore
from station.tui.screens.sessions import SessionsScreen
from station.views.live import EventTail

SIZE = 8 << 20
LONG = "/srv/images/cases/2025/T-1041 Ann Smith laptop, dropped, clicks on start/" + "x" * 90 + "/disk.img"


def progress(t: float, rescued: int) -> Progress:
    return Progress(
        t, "copying", 1, rescued, SIZE, rescued, SIZE - rescued, 0, 0, 0, 0, 2, 1e6, 1e6, t, 0.0, None
    )


def finished_session(store: SessionStore, n: int, dest: str, lines: int = 50) -> str:
    d = store.root / f"20250615-12{n:04d}-aaaaaa"
    d.mkdir(parents=True)
    record = {
        "id": d.name, "state": "finished", "pid": 1, "host": "bench", "method": "engine",
        "started": 1_750_000_000.0 + n, "ended": 1_750_000_040.0 + n,
        "source": {"path": "/dev/sdb", "model": "WDC WD10EZEX", "size": SIZE},
        "dest": dest, "mapfile": dest + ".map", "options": {}, "command": ["station"], "resumed": False,
        "reason": "rescue finished",
        "result": {"rescued": SIZE - 512, "size": SIZE, "bad": 512, "read_errors": 2},
    }  # fmt: skip
    (d / "session.json").write_text(json.dumps(record))
    (d / "events.jsonl").write_text(
        "".join(
            json.dumps(progress(float(i), SIZE * i // lines).to_dict()) + "\n" for i in range(1, lines + 1)
        )
    )
    return d.name


def test_rows_come_at_once_and_the_figures_from_the_logs_after(
    make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    ids = [finished_session(app.store, n, f"/srv/images/run{n}.img") for n in range(30)]
    release = threading.Event()
    read = EventTail.skip_to_end

    def slow(self):  # a log on a slow disk: every one of them waits until the test lets go
        release.wait(10)
        return read(self)

    monkeypatch.setattr(EventTail, "skip_to_end", slow)

    async def go() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.press("f3")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), 5)
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 30, 3, "the rows, before any log is read")
            assert str(table.get_cell(ids[-1], "elapsed")) == "-"
            assert table.get_row_at(0)[1] == ids[-1]  # newest first
            release.set()
            await wait_for(pilot, lambda: str(table.get_cell(ids[0], "elapsed")) == "50s", 5, "the figures")

    run(go())


def test_long_paths_do_not_push_the_figures_off_the_screen(make_app) -> None:
    app = make_app()
    sid = finished_session(app.store, 1, LONG)

    async def go() -> str:
        async with app.run_test(size=(160, 30)) as pilot:
            await pilot.press("f3")
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: str(table.get_cell(sid, "elapsed")) == "50s", 5)
            await pilot.pause(0.2)
            return screen_text(app)

    row = next(line for line in run(go()).splitlines() if sid in line)
    assert "8388 kB (99.99%)" in row and " 2 " in row and "50s" in row, row
    assert "disk.img" in row and "…" in row, row  # the path shortened in its middle, its file name kept


def test_the_last_counters_are_read_from_the_end_of_a_long_log(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with open(path, "w") as f:
        for i in range(20000):
            f.write(json.dumps(progress(float(i), i).to_dict()) + "\n")
        f.write('{"kind": "notice", "t": 1.0, "message": "x"}\n{"kind": "prog')  # a torn last line
    tail = EventTail(path)
    last = tail.skip_to_end()
    assert last is not None and last.t == 19999.0
    with open(path, "a") as f:
        f.write('ress", "t": 2.0}\n')
        f.write(json.dumps(progress(20000.0, 1).to_dict()) + "\n")
    new = tail.poll()
    assert [e.t for e in new] == [20000.0]  # the torn line read once whole (and skipped: not an event)
