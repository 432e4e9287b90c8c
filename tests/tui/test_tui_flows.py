"""The workstation's flows, driven with App.run_test and Pilot: what a technician does and sees."""

from __future__ import annotations

import os
import time
from pathlib import Path

from textual.widgets import DataTable, Input, Static
from tuikit import (
    BAD_BYTES,
    SIZE,
    SPARE,
    SYSTEM,
    run,
    save_and_read,
    start_on,
    text_of,
    virtual_drive,
    wait_for,
    warning_health,
)

from station.core.events import Progress
from station.rescue.mapfile import read_mapfile
from station.rescue.rescuemap import Status
from station.sim.scripted import expected_bytes
from station.tui.screens.devices import DevicesScreen
from station.tui.screens.dialogs import ConfirmScreen, OptionsScreen
from station.tui.screens.live import LiveScreen
from station.tui.screens.new_session import NewSessionScreen
from station.tui.widgets.sector_map import SectorMap


def test_devices_list_marks_protection_and_loads_smart_off_the_ui_thread(make_app) -> None:
    app = make_app([SYSTEM, SPARE, virtual_drive()], health=warning_health)

    async def go():
        async with app.run_test(size=(140, 40)) as pilot:
            table = app.screen.query_one("#drives", DataTable)
            assert table.row_count == 3
            rows = [[str(c) for c in table.get_row_at(i)] for i in range(3)]
            assert rows[0][0] == "/dev/sda" and "SYSTEM" in rows[0][6]
            assert rows[1][0] == "/dev/sdz" and "free" in rows[1][6]
            assert rows[2][0] == "scripted" and rows[2][4] == "virtual" and rows[2][5] == "-"
            await wait_for(pilot, lambda: "WARNING" in str(table.get_cell("/dev/sdz", "smart")), 5, "badge")
            assert "GOOD" in str(table.get_cell("/dev/sda", "smart"))
            await pilot.press("down")  # the spare drive: its SMART reasons in the detail
            detail = text_of(app.screen.query_one("#drive-detail", Static))
            assert "197 current pending sectors: 8" in detail
            await pilot.press("up")
            assert "not a target: holds the running system" in text_of(app.screen.query_one("#drive-detail"))

    run(go())


def test_new_session_on_a_virtual_drive_runs_to_the_end(make_app, tmp_path: Path) -> None:
    app = make_app()
    image = tmp_path / "out" / "test.img"
    image.parent.mkdir()

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await start_on(pilot, app, 0, image)
            live = app.live
            await wait_for(pilot, lambda: not live.running and live.state == "finished", 20, "the job's end")
            await pilot.pause(0.3)
            assert live.progress.rescued == SIZE - BAD_BYTES and live.progress.bad == BAD_BYTES
            snap = app.screen.query_one(SectorMap).snapshot
            assert snap is not None and Status.BAD_SECTOR in snap.cells and Status.NON_TRIED not in snap.cells
            assert any("finished: rescue finished" in line for line in live.log)

    run(go())
    m = read_mapfile(str(image) + ".map")
    data = image.read_bytes()
    for b in m:
        if b.status == Status.FINISHED:
            assert data[b.pos : b.end] == expected_bytes(b.pos, b.size), f"wrong bytes at {b.pos:#x}"
    assert m.bytes_in(Status.BAD_SECTOR) == BAD_BYTES
    (rec,) = [s.record for s in app.store.list()]
    assert rec.state == "finished" and rec.command[:2] == ["station", "image"]
    assert rec.result.rescued == SIZE - BAD_BYTES


def test_a_refused_job_shows_one_line_and_creates_nothing(make_app, tmp_path: Path) -> None:
    app = make_app()
    before = sorted(p for p in tmp_path.rglob("*"))

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, NewSessionScreen)
            app.screen.query_one("#image-path", Input).value = str(tmp_path / "missing" / "x.img")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, NewSessionScreen) and app.live is None
            error = text_of(app.screen.query_one("#error", Static))
            assert "no such directory" in error and len(error.strip().splitlines()) == 1
            app.screen.query_one("#retry-passes", Input).value = "lots"
            assert "not a whole number" in await save_and_read(pilot, app, "#error")
            app.screen.query_one("#retry-passes", Input).value = "0"
            app.screen.query_one("#head-first", Input).value = "1"
            app.screen.query_one("#head-skip", Input).value = "1"
            assert "a head can be first, last or skipped" in await save_and_read(pilot, app, "#error")
            app.screen.query_one("#head-first", Input).value = "one"
            assert "heads first:" in await save_and_read(pilot, app, "#error")

    run(go())
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_live_counters_update_at_least_four_times_a_second(make_app, tmp_path: Path) -> None:
    # 8 MiB/s: even the largest read (1 MiB) takes an eighth of a second, so the engine can
    # report 4 times a second (it reports between reads)
    app = make_app([virtual_drive(size=32 << 20, pace=1.0)])

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await start_on(pilot, app, 0, tmp_path / "slow.img")
            screen = app.screen
            calls = []
            original = screen.refresh_view

            def counted():
                calls.append(1)
                original()

            screen.refresh_view = counted
            counters = screen.query_one("#counters", Static)
            await wait_for(pilot, lambda: app.live.updates > 0, 5, "the engine's first progress")
            seen = set()
            calls.clear()
            updates_before = app.live.updates
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.0:
                await pilot.pause(0.05)
                seen.add(text_of(counters))
            per_second = len(calls) / (time.monotonic() - t0)
            assert per_second >= 3.2, (
                f"the live screen redrew {per_second:.1f} times a second"
            )  # 4, give or take timer jitter
            assert app.live.updates - updates_before >= 5, "progress messages should arrive about 4 a second"
            assert len(seen) >= 5, "the counters should change as the job runs"
            assert any("rescued" in t and "last good read" in t for t in seen)
            app.live.stop()
            await wait_for(pilot, lambda: not app.live.running, 10)

    run(go())


def test_pause_saves_the_map_and_holds_then_resume_goes_on(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive(pace=4.0)])
    image = tmp_path / "p.img"

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await start_on(pilot, app, 0, image)
            live = app.live
            await wait_for(pilot, lambda: live.progress is not None and live.progress.rescued > 0, 5)
            await pilot.press("p")
            await wait_for(pilot, lambda: live.state == "paused", 5, "paused")
            held = live.progress.rescued
            on_disk = read_mapfile(str(image) + ".map").bytes_in(Status.FINISHED)
            assert on_disk == held, "pausing saves the map first"
            title = app.screen.query_one("#job-title", Static)
            await wait_for(pilot, lambda: "PAUSED" in text_of(title), 2, "PAUSED in the title")
            await pilot.pause(0.6)
            assert live.progress.rescued == held, "nothing is read while paused"
            assert any("paused: paused by the technician" in line for line in live.log)
            await pilot.press("p")
            await wait_for(pilot, lambda: live.progress.rescued > held, 5, "reading again")
            assert live.state == "running" and any(line.endswith("resumed") for line in live.log)
            live.stop()
            await wait_for(pilot, lambda: not live.running, 10)

    run(go())


def test_stop_asks_first_and_saves_the_map(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive(pace=4.0)])
    image = tmp_path / "s.img"

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await start_on(pilot, app, 0, image)
            live = app.live
            await pilot.press("x")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")  # no: it goes on
            await pilot.pause(0.3)
            assert isinstance(app.screen, LiveScreen) and live.running and not live.control.stopping
            await pilot.press("x")
            await pilot.pause()
            await pilot.press("y")
            await wait_for(pilot, lambda: not live.running, 10, "the stop")
            await pilot.pause(0.1)
            assert live.result.outcome == "stopped" and live.state == "stopped"
            return live.result.summary.rescued

    rescued = run(go())
    assert 0 < rescued < SIZE
    assert read_mapfile(str(image) + ".map").bytes_in(Status.FINISHED) == rescued
    (rec,) = [s.record for s in app.store.list()]
    assert rec.state == "stopped"


def test_options_change_between_passes(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive(pace=2.0)])

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await start_on(pilot, app, 0, tmp_path / "o.img")
            live = app.live
            await pilot.press("o")
            await pilot.pause()
            assert isinstance(app.screen, OptionsScreen)
            app.screen.query_one("#opt-retry_passes", Input).value = "two"
            assert "not a number" in await save_and_read(pilot, app, "#opt-error")
            app.screen.query_one("#opt-retry_passes", Input).value = "2"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, LiveScreen) and live.options.retry_passes == 2
            await wait_for(pilot, lambda: not live.running, 30, "the job's end")
            await pilot.pause(0.1)
            assert any("options changed: retry passes 2" in line for line in live.log)
            assert any("retrying pass 2" in line for line in live.log), "the new option was used"

    run(go())


def test_quit_while_imaging_asks_then_stops_and_saves(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive(pace=4.0)])
    image = tmp_path / "q.img"

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await start_on(pilot, app, 0, image)
            await wait_for(pilot, lambda: app.live.progress is not None and app.live.progress.rescued > 0, 5)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await pilot.pause(0.2)
            assert app.live.running and app.is_running
            await pilot.press("ctrl+q")
            await pilot.pause()
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.is_running, 10, "the app to exit")

    run(go())
    assert app.return_code == 0
    assert app.live.result.outcome == "stopped"
    (rec,) = [s.record for s in app.store.list()]
    assert rec.state == "stopped"
    assert read_mapfile(str(image) + ".map").bytes_in(Status.FINISHED) == app.live.result.summary.rescued


def test_ctrl_q_quits_with_status_0_when_nothing_runs(make_app) -> None:
    app = make_app()

    async def go():
        async with app.run_test() as pilot:
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: not app.is_running, 5)

    run(go())
    assert app.return_code == 0


def test_command_palette_offers_job_actions(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive(pace=4.0)])

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            titles = {c.title for c in app.get_system_commands(app.screen)}
            assert {"Devices", "Sessions", "Demo session", "Attach device at port"} <= titles
            assert "Pause job" not in titles
            await start_on(pilot, app, 0, tmp_path / "c.img")
            await wait_for(pilot, lambda: app.live is not None and app.live.running, 10, "the job running")
            titles = {c.title for c in app.get_system_commands(app.screen)}
            assert {"Live session", "Pause job", "Stop job"} <= titles
            app.live.stop()
            await wait_for(pilot, lambda: not app.live.running, 10)

    run(go())


def test_zoom_into_a_bad_area(make_app, tmp_path: Path) -> None:
    app = make_app()

    async def go():
        async with app.run_test(size=(120, 40)) as pilot:
            await start_on(pilot, app, 0, tmp_path / "z.img")
            await wait_for(pilot, lambda: not app.live.running, 20)
            await pilot.pause(0.3)
            smap = app.screen.query_one(SectorMap)
            whole = smap.snapshot
            first_bad = whole.cells.index(Status.BAD_SECTOR)
            smap.cursor = first_bad
            await pilot.press("plus")
            await pilot.pause(0.3)
            zoomed = smap.snapshot
            assert zoomed.hi - zoomed.lo == (whole.hi - whole.lo) // 4
            lo, hi = whole.cell_range(first_bad)
            assert zoomed.lo <= lo and hi <= zoomed.hi
            assert zoomed.cells.count(Status.BAD_SECTOR) > whole.cells.count(Status.BAD_SECTOR)
            assert "1 cell =" in text_of(app.screen.query_one("#map-caption", Static))
            await pilot.press("0")
            await pilot.pause(0.3)
            assert (smap.snapshot.lo, smap.snapshot.hi) == (0, SIZE)

    run(go())


def test_escape_leaves_the_job_running_and_f4_returns(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive(pace=4.0)])

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await start_on(pilot, app, 0, tmp_path / "e.img")
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, DevicesScreen) and app.live.running
            await pilot.press("f4")
            await pilot.pause()
            assert isinstance(app.screen, LiveScreen)
            app.live.stop()
            await wait_for(pilot, lambda: not app.live.running, 10)

    run(go())


def test_progress_messages_replace_each_other() -> None:
    from station.tui.runner import JobEvents, JobProgress

    class Job:
        pass

    a, b = Job(), Job()
    p = Progress(0, "copying", 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0, None, None)
    first = JobProgress(a, p, None)
    assert first.can_replace(JobProgress(a, p, None))
    assert not first.can_replace(JobProgress(b, p, None))  # another job's progress is its own
    assert not first.can_replace(JobEvents(a, []))
    assert os.environ["TZ"] == "UTC"


def test_leaving_the_app_however_stops_a_paused_job(make_app, tmp_path: Path) -> None:
    """An app that ends without the quit dialog (an error, a test's end) must not leave the engine waiting."""
    app = make_app([virtual_drive(pace=4.0)])

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await start_on(pilot, app, 0, tmp_path / "u.img")
            await wait_for(pilot, lambda: app.live.launched and app.live.updates > 0, 5)
            await pilot.press("p")
            await wait_for(pilot, lambda: app.live.state == "paused", 5, "paused")

    run(go())  # returns only once the engine's worker thread has ended
    assert app.live.done.is_set() and app.live.result.outcome == "stopped"
    assert (
        read_mapfile(str(tmp_path / "u.img.map")).bytes_in(Status.FINISHED) == app.live.result.summary.rescued
    )


def test_simulator_presets_are_listed_after_the_demo_drive_and_image(tmp_path: Path) -> None:
    """The app's own default drive list: block devices, the demo drive, then every preset."""
    from station.core.session import SessionStore
    from station.sim.model import preset_names
    from station.tui.app import StationApp

    app = StationApp(
        store=SessionStore(tmp_path / "sessions"), health=None, attached=[], image_dir=tmp_path / "images"
    )

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            table = app.screen.query_one("#drives", DataTable)
            paths = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
            virtual = [p for p in paths if p == "demo" or p.startswith("sim:")]
            assert virtual == ["demo"] + [f"sim:{n}" for n in preset_names()]
            assert paths[-len(virtual) :] == virtual, "virtual drives come after the block devices"
            row = paths.index("sim:healthy")
            await start_on(pilot, app, row, tmp_path / "healthy.img")
            live = app.live
            await wait_for(pilot, lambda: live.progress is not None and live.progress.rescued > 0, 10)
            live.stop()
            await wait_for(pilot, lambda: not live.running, 10)

    run(go())
    (rec,) = [s.record for s in app.store.list()]
    assert rec.source.path == "sim:healthy" and rec.source.kind == "virtual"
    assert rec.source.model == "Station virtual drive (healthy)" and rec.state == "stopped"
    assert rec.smart.state == "off"
