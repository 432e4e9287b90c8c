"""A session started on an image the station already began says what it goes on from."""

from __future__ import annotations

from pathlib import Path

from tuikit import run, start_on, virtual_drive, wait_for

from station.tui.widgets.event_log import EventLog


def test_the_live_log_says_what_a_rerun_resumes_from(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive()])
    image = tmp_path / "disk.img"

    async def go() -> str:
        async with app.run_test(size=(160, 45)) as pilot:
            await start_on(pilot, app, 0, image)
            await wait_for(pilot, lambda: app.live.done.is_set(), 20, "the first run's end")
            await pilot.press("escape")
            await start_on(pilot, app, 0, image)
            log = app.screen.query_one(EventLog)
            await wait_for(
                pilot, lambda: any("resuming:" in line for line in log.lines), 10, "the resume line"
            )
            await wait_for(pilot, lambda: app.live.done.is_set(), 20, "the second run's end")
            return "\n".join(log.lines)

    text = run(go())
    assert "resuming: 8322 kB of 8389 kB rescued, 67 kB bad" in text, text
