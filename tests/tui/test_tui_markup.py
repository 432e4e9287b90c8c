"""Text from data is shown as it is on every screen: brackets in paths, models, errors and reasons
are never read as Textual markup (issue 10: `(want: current_pos current_status )`, its
`[current_pass]` eaten)."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Input, Static
from tuikit import run, screen_text, virtual_drive, wait_for

from station.jobs.drives import Drive
from station.tui.screens.new_session import NewSessionScreen
from station.tui.screens.sessions import SessionsScreen

HOSTILE = "[b]model[/b] [$x] [/] \\\\"


def _hostile_drive() -> Drive:
    d = virtual_drive()
    return Drive(
        path=d.path, kind="virtual", size=d.size, model=HOSTILE, serial="SER[1]", name=d.name,
        description="a drive [red]with brackets[/]", opener=d.opener,
    )  # fmt: skip


def test_a_refusal_with_brackets_is_shown_whole(make_app, tmp_path: Path) -> None:
    image = tmp_path / "x[1].img"
    Path(f"{image}.map").write_text("# a damaged map\n0x0 ? 1 junk\n0x0 0x1000 +\n")
    app = make_app([_hostile_drive()])

    async def go() -> str:
        async with app.run_test(size=(160, 40)) as pilot:
            text = screen_text(app)
            assert HOSTILE in text and "SER[1]" in text, text  # the drive list and its detail
            assert "a drive [red]with brackets[/]" in text
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen), 5)
            text = screen_text(app)
            assert HOSTILE in text and "a drive [red]with brackets[/]" in text, text
            app.screen.query_one("#image-path", Input).value = str(image)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: str(app.screen.query_one("#error", Static).content), 5)
            return screen_text(app)

    text = run(go())
    assert "current_status [current_pass]" in text or "[current_pass]" in text, text
    assert "x[1].img.map" in text, text


def test_sessions_with_brackets_in_their_paths(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive()])
    d = app.store.root / "20250615-120000-aaaaaa"
    d.mkdir(parents=True)
    record = {
        "id": d.name, "state": "finished", "pid": 1, "host": "bench", "method": "engine",
        "started": 1_750_000_000.0, "ended": 1_750_000_040.0,
        "source": {"path": "/dev/sd[b]", "model": "[bold]Disk[/bold]", "size": 1 << 20},
        "dest": "/srv/[case 12]/x.img", "mapfile": "/srv/[case 12]/x.img.map", "options": {},
        "command": ["station"], "resumed": False, "reason": "rescue finished [$x]",
        "result": {"rescued": 1 << 20, "size": 1 << 20, "bad": 0, "read_errors": 0},
    }  # fmt: skip
    (d / "session.json").write_text(json.dumps(record))
    (d / "events.jsonl").write_text("")

    async def go() -> str:
        async with app.run_test(size=(160, 30)) as pilot:
            await pilot.press("f3")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), 5)
            await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 1, 5)
            await pilot.pause(0.2)
            return screen_text(app)

    text = run(go())
    assert "[bold]Disk[/bold]" in text and "/srv/[case 12]/x.img" in text, text
