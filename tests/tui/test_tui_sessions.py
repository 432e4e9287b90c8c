"""Sessions screen, following sessions of other processes, and the comparison."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from textual.widgets import DataTable
from tuikit import run, wait_for

from station.core.events import Finished, Progress, ReadFailed
from station.core.identity import SourceIdentity
from station.core.record import SessionRecord
from station.core.session import SessionStore
from station.rescue.mapfile import write_mapfile
from station.rescue.rescuemap import RescueMap, Status
from station.tui.screens.compare import CompareScreen
from station.tui.screens.follow import FollowScreen
from station.tui.screens.sessions import SessionsScreen
from station.tui.widgets.sector_map import SectorMap
from station.tui.widgets.speed_chart import SpeedChart

SIZE = 1 << 20


def progress(t: float, rescued: int, errors: int = 0, rate: float = 1e5, size: int = SIZE) -> Progress:
    left = size - rescued
    return Progress(
        t, "copying", 1, rescued, size, rescued, left, 0, 0, 0, 0, errors, rate, rate, t, 0.0, None
    )


def other_terminal_session(store: SessionStore, tmp_path: Path, name: str = "a"):
    """A session as `station image` in another process writes it (here: this pid, so it reads as running)."""
    s = store.create(
        SessionRecord(
            method="engine", source=SourceIdentity(f"/dev/{name}", "block", SIZE, model=f"Drive {name}"),
            destinations=[str(tmp_path / f"{name}.img")], mapfile=str(tmp_path / f"{name}.img.map"),
            options={"retry_passes": 0}, command=["station", "image"], resumed=False,
        )
    )  # fmt: skip
    return s


def cell(table: DataTable, sid: str, column: str) -> str:
    return str(table.get_cell(sid, column))


def test_sessions_of_other_terminals_are_listed_and_followed_live(make_app, tmp_path: Path) -> None:
    app = make_app()
    store = app.store
    s = other_terminal_session(store, tmp_path)
    s.log(progress(1.0, SIZE // 4))

    async def go():
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("f3")
            await pilot.pause()
            assert isinstance(app.screen, SessionsScreen)
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 1, 5, "the session row")
            assert "running" in cell(table, s.id, "state") and "25%" in cell(table, s.id, "rescued")
            s._last_progress_log = -1e9  # log the next snapshot at once, as a second later would
            s.log(progress(2.0, SIZE // 2, errors=3))
            await wait_for(pilot, lambda: "50%" in cell(table, s.id, "rescued"), 5, "the followed progress")
            assert cell(table, s.id, "errors") == "3"
            late = other_terminal_session(store, tmp_path, "b")  # started while the screen is open
            await wait_for(pilot, lambda: table.row_count == 2, 5, "the new session")
            assert table.get_row_at(0)[1] == late.id  # newest first
            s.finish("finished", "rescue finished", {"rescued": SIZE - 512, "size": SIZE, "bad": 512,
                                                     "read_errors": 4})  # fmt: skip
            await wait_for(pilot, lambda: "finished" in cell(table, s.id, "state"), 5, "the end")
            assert cell(table, s.id, "errors") == "4"

    run(go())


def test_a_session_of_station_image_shows_up(make_app, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 4096)
    r = subprocess.run(
        [sys.executable, "-m", "station.cli", "image", "-q", str(src), str(tmp_path / "cli.img")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    app = make_app()

    async def go():
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("f3")
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 1, 5, "the CLI's session")
            sid = app.screen.order[0]
            assert "finished" in cell(table, sid, "state") and "100%" in cell(table, sid, "rescued")
            assert cell(table, sid, "source").endswith("/src.bin")  # a long path: its start and file name

    run(go())


def test_follow_screen_reads_the_map_as_the_other_process_saves_it(make_app, tmp_path: Path) -> None:
    app = make_app()
    s = other_terminal_session(app.store, tmp_path)
    m = RescueMap(SIZE)
    m.set_status(0, SIZE // 4, Status.FINISHED)
    m.set_status(SIZE // 4, 4096, Status.BAD_SECTOR)
    write_mapfile(s.record.mapfile, m)
    s.log(progress(1.0, SIZE // 4, errors=1))
    s.log(ReadFailed(1.0, SIZE // 4, 4096, "EIO", "copying"))

    async def go():
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("f3")
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 1, 5)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, FollowScreen), 5)
            smap = app.screen.query_one(SectorMap)
            await wait_for(pilot, lambda: smap.snapshot is not None, 5, "the map")
            assert Status.BAD_SECTOR in smap.snapshot.cells
            assert smap.snapshot.cells.count(Status.FINISHED) < len(smap.snapshot.cells) // 3
            m.set_status(SIZE // 2, SIZE // 2, Status.FINISHED)  # the other process saves again
            write_mapfile(s.record.mapfile, m)
            await wait_for(pilot, lambda: smap.snapshot.cells[-1] == Status.FINISHED, 5, "the new map")
            s._last_progress_log = -1e9
            s.log(progress(2.0, SIZE * 3 // 4, errors=1))
            chart = app.screen.query_one(SpeedChart)
            await wait_for(pilot, lambda: len(chart.curves[0].series.times) == 2, 5, "the second sample")
            assert chart.curves[0].series.errors == [1.0]

    run(go())


def test_compare_sessions_side_by_side(make_app, tmp_path: Path) -> None:
    app = make_app()
    figures = {}
    for name, rate, errors in (("a", 2e5, 5), ("b", 1e5, 9)):
        s = other_terminal_session(app.store, tmp_path, name)
        for i in range(1, 6):
            s._last_progress_log = -1e9
            s.log(progress(float(i), SIZE * i // 5, errors=errors * i // 5, rate=rate))
        s.log(Finished(5.0, "finished", "rescue finished"))
        s.finish("finished", "rescue finished", {"rescued": SIZE - errors * 512, "size": SIZE,
                                                 "bad": errors * 512, "read_errors": errors})  # fmt: skip
        figures[s.id] = errors

    async def go():
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("f3")
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 2, 5)
            await pilot.press("space", "down", "space")
            assert app.screen.marked == set(figures)
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), 5)
            screen = app.screen
            await wait_for(pilot, lambda: len(screen.figures) == 2, 5, "the figures")
            compare = screen.query_one(DataTable)
            for sid, errors in figures.items():
                assert cell(compare, sid, "errors") == str(errors)
                assert cell(compare, sid, "time") == "5s"
            rates = {f.id: f.average_rate for f in screen.figures}
            assert sorted(rates.values()) == [1e5, 2e5]
            chart = screen.query_one(SpeedChart)
            assert len(chart.curves) == 2 and chart.curves[0].colour != chart.curves[1].colour

    run(go())


def test_opening_this_apps_own_session_shows_its_live_screen(make_app, tmp_path: Path) -> None:
    from textual.widgets import Input
    from tuikit import virtual_drive

    from station.tui.screens.live import LiveScreen

    app = make_app([virtual_drive(pace=4.0)])

    async def go():
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("enter")
            app.screen.query_one("#image-path", Input).value = str(tmp_path / "own.img")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.live is not None and app.live.job.session is not None, 5)
            await pilot.press("f3")
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 1, 5)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, LiveScreen)
            app.live.stop()
            await wait_for(pilot, lambda: not app.live.running, 10)

    run(go())
