"""Dialogs at a real terminal's width: their key words never cut, the options dialog showing the
values in force, and a footer of their own keys over the keys of the screen under them."""

from __future__ import annotations

from pathlib import Path

from tuikit import run, screen_text, virtual_drive, wait_for

from station.jobs.imaging import prepare
from station.rescue.options import RescueOptions
from station.tui.runner import LiveJob
from station.tui.screens.dialogs import ConfirmScreen, OptionsScreen, TypedConfirmScreen
from station.tui.screens.live import LiveScreen

LONG = "/tmp/pytest-of-root/pytest-12/test_overwriting_a_drive0/a-rather-long-backing-file-name/target.bin"


def test_the_typed_confirmation_says_what_is_overwritten_whole(make_app) -> None:
    app = make_app([virtual_drive()])

    async def go() -> str:
        async with app.run_test(size=(160, 45)) as pilot:
            app.push_screen(
                TypedConfirmScreen(
                    "/dev/loop0 will be overwritten: everything on it is lost",
                    "loop0",
                    detail=f"loop device over {LONG}, 9437 kB",
                )
            )
            await pilot.pause(0.2)
            return screen_text(app)

    text = run(go())
    assert "/dev/loop0 will be overwritten: everything on it is lost" in text, text
    assert "target.bin" in text and "9437 kB" in text, text  # the detail wraps, it is not cut
    assert "Type loop0 and press Enter" in text


def test_the_options_dialog_shows_every_label_and_the_values_in_force(make_app) -> None:
    app = make_app([virtual_drive()])
    options = RescueOptions(retry_passes=2, max_read_errors=50, timeout=30.0, read_timeout=7.5)

    async def go() -> str:
        async with app.run_test(size=(160, 45)) as pilot:
            app.push_screen(OptionsScreen(options))
            await pilot.pause(0.2)
            return screen_text(app)

    lines = run(go()).splitlines()

    def row(label: str) -> str:
        return next((line for line in lines if label in line), f"no line with {label!r}")

    assert " 2 " in row("retry passes (-1: until no bad sector is left)")
    assert " 50 " in row("stop after this many read errors")
    assert " 30 " in row("stop after seconds without a good read")
    assert " 7.5 " in row("read timeout, seconds")
    assert "skip trimming" in row("skip scraping") and "skip sweeping" in row("skip scraping")


def test_the_stop_dialog_hides_the_live_screens_keys(make_app, tmp_path: Path) -> None:
    drive = virtual_drive()
    app = make_app([drive])

    def footer() -> str:
        lines = screen_text(app).splitlines()  # none before the screen is first drawn
        return lines[-1] if lines else ""

    async def go() -> tuple[str, str]:
        async with app.run_test(size=(160, 45)) as pilot:
            image = tmp_path / "x.img"
            job = prepare("scripted", str(image), source=drive.opener(), command=["station"], store=app.store)
            app.show_job(LiveJob(job, "Scripted test drive → x.img", "scripted"))  # shown, never run
            await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), 5)
            await wait_for(pilot, lambda: "Pause/Resume" in footer(), 5, "its footer")
            before = footer()
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5)
            await wait_for(pilot, lambda: "No" in footer(), 5, "the dialog's footer")
            after = footer()
            job.discard()
            return before, after

    before, after = run(go())
    assert "Pause/Resume" in before
    assert "Pause/Resume" not in after and "Zoom" not in after and "No" in after, after
