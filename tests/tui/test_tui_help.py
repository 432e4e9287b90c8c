"""? and F1: the keys of the screen showing, what each does, and the app's own."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input
from tuikit import run, screen_text, start_on, virtual_drive, wait_for

from station.tui.screens.devices import DevicesScreen
from station.tui.screens.help import HelpScreen
from station.tui.screens.new_session import NewSessionScreen


def test_help_lists_the_keys_of_the_screen_showing(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive()])

    async def go() -> tuple[str, str, str]:
        async with app.run_test(size=(120, 50)) as pilot:
            await pilot.press("f1")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), 5, "help from F1")
            await pilot.pause(0.2)
            devices = screen_text(app)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, DevicesScreen), 5)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen), 5)
            field = app.screen.query_one("#image-path", Input)
            field.value = ""
            await pilot.press("question_mark")  # typed into the field, not a call for help
            assert field.value == "?" and isinstance(app.screen, NewSessionScreen)
            await pilot.press("escape")
            await pilot.press("escape")
            await start_on(pilot, app, 0, tmp_path / "x.img")
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), 5, "help from ?")
            await pilot.pause(0.2)
            live = screen_text(app)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), 5, "? closes it")
            return devices, live, screen_text(app)

    devices, live, after = run(go())
    assert "Help: Devices" in devices and "New session" in devices and "Rescan" in devices, devices
    assert "Anywhere" in devices and "Sessions" in devices and "Quit" in devices
    assert "Help: Live session" in live and "Pause/Resume" in live and "Zoom in" in live, live
    assert "Whole map" in live  # a key the footer does not show
    assert "Help:" not in after
