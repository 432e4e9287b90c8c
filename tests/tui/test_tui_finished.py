"""The end of a job, said plainly: FINISHED (or STOPPED and how to resume) and where the image
and its map are, on the live screen and on a finished session's screen."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable
from tuikit import run, screen_text, start_on, virtual_drive, wait_for

from station.tui.screens.follow import FollowScreen


def test_a_finished_job_says_so_and_where_its_image_and_map_are(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive()])
    image = tmp_path / "disk.img"

    async def go() -> tuple[str, str]:
        async with app.run_test(size=(160, 45)) as pilot:
            await start_on(pilot, app, 0, image)
            await wait_for(pilot, lambda: app.live.done.is_set(), 20, "the job's end")
            await pilot.pause(0.5)
            live = screen_text(app)
            await pilot.press("f3")
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 1, 5)
            app.push_screen(FollowScreen(app.screen.rows[app.screen.order[0]].session))
            await pilot.pause(0.5)
            return live, screen_text(app)

    live, followed = run(go())
    flat = live.replace("│", " ")
    assert "FINISHED: rescue finished" in flat, live
    assert "image" in flat and "disk.img" in flat and "map" in flat and "disk.img.map" in flat, live
    assert "finished, pass 1" not in flat and "all phases done" in flat, live
    assert "disk.img.map" in followed.replace("│", " "), followed
