"""The workstation's head map: offered once the engine learned a head pattern, heads x zones."""

from __future__ import annotations

from pathlib import Path

from headdrives import dead_head_model
from tuikit import run, save_and_read, start_on, text_of, wait_for

from station.jobs.drives import Drive
from station.sim.drive import SimDrive
from station.sim.model import parse_model
from station.sim.source import SimSource
from station.tui.screens.heads import HeadsScreen
from station.tui.widgets.head_map import HeadMap

DEAD_HEAD = dead_head_model("16Mi")


def dead_head_drive(time_scale: float = 0.0) -> Drive:
    """The drive; with `time_scale`, its reads take that many real seconds per simulated one."""
    model = parse_model(DEAD_HEAD)
    return Drive(
        path="sim:small-dead-head", kind="virtual", size=model.size, model="Station virtual drive",
        serial=model.serial, name="small-dead-head", description="head 2 dead",
        opener=lambda: SimSource(SimDrive(model, time_scale=time_scale), path="sim:small-dead-head"),
    )  # fmt: skip


def test_the_head_map_shows_the_dead_head_in_every_zone(make_app, tmp_path: Path) -> None:
    app = make_app([dead_head_drive()])

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await start_on(pilot, app, 0, tmp_path / "h.img")
            live = app.live
            await wait_for(pilot, lambda: app.screen.check_action("heads", ()) is True, 60, "a head pattern")
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, HeadsScreen), 5, "the head map")
            await wait_for(pilot, lambda: live.heads.latest is not None and live.heads.latest.layout, 20)
            await pilot.pause(1.2)
            text = text_of(app.screen.query_one(HeadMap))
            assert "heads: 4" in text
            rows = {line.split()[1]: line for line in text.splitlines() if line.startswith("head ")}
            assert "X" in rows["2"] and "X" not in rows["0"] + rows["1"] + rows["3"]
            await pilot.press("plus")  # the technician's count
            await pilot.pause(1.2)
            assert live.heads.heads == 5
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HeadsScreen) and not live.heads.wanted
            live.stop()
            await wait_for(pilot, lambda: not live.running, 30, "the job's end")

    run(go())


def test_the_options_dialog_leaves_a_head_for_last_and_the_engine_stages_it(make_app, tmp_path: Path) -> None:
    from textual.widgets import Input

    from station.tui.screens.dialogs import OptionsScreen

    app = make_app([dead_head_drive(time_scale=0.03)])  # copying pass 1: about 4 s

    async def go():
        async with app.run_test(size=(140, 50)) as pilot:
            await start_on(pilot, app, 0, tmp_path / "h.img")
            live = app.live
            await pilot.press("o")
            await pilot.pause()
            assert isinstance(app.screen, OptionsScreen)
            field = app.screen.query_one("#opt-head_last", Input)
            field.value = "two"
            assert "heads last" in await save_and_read(pilot, app, "#opt-error")
            app.screen.query_one("#opt-head_first", Input).value = "2"
            field.value = "2"
            assert "not two of them" in await save_and_read(pilot, app, "#opt-error")
            app.screen.query_one("#opt-head_first", Input).value = ""
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert not isinstance(app.screen, OptionsScreen) and live.options.head_last == [2]
            staged = lambda: any("imaging head 2 last" in line for line in live.log)  # noqa: E731
            await wait_for(pilot, staged, 60, "head 2's stage")
            said = [line for line in live.log if "imaging" in line or "options changed" in line]
            assert any("options changed: head last [2]" in line for line in said), said
            assert "imaging the other heads" in "\n".join(said), said
            live.stop()
            await wait_for(pilot, lambda: not live.running, 30, "the job's end")

    run(go())


def test_a_followed_session_shows_the_head_map_it_kept(make_app, tmp_path: Path) -> None:
    from textual.widgets import DataTable

    from station.tui.screens.follow import FollowScreen

    app = make_app([dead_head_drive()])

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await start_on(pilot, app, 0, tmp_path / "h.img")
            await wait_for(pilot, lambda: app.live.done.is_set(), 120, "the job's end")
            await pilot.press("f3")
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 1, 5)
            follow = FollowScreen(app.screen.rows[app.screen.order[0]].session)
            app.push_screen(follow)
            await wait_for(pilot, lambda: follow.check_action("heads", ()) is True, 10, "the kept knowledge")
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, HeadsScreen), 5, "the head map")
            await wait_for(pilot, lambda: "heads: 4" in text_of(app.screen.query_one(HeadMap)), 5)
            text = text_of(app.screen.query_one(HeadMap))
            rows = {line.split()[1]: line for line in text.splitlines() if line.startswith("head ")}
            assert "X" in rows["2"] and "X" not in rows["0"] + rows["1"] + rows["3"]
            await pilot.press("plus")  # the technician's count, from the kept patterns too
            await wait_for(pilot, lambda: "heads: 5" in text_of(app.screen.query_one(HeadMap)), 5)
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is follow and not follow.heads.wanted

    run(go())
