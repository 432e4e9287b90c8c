"""One writer, seen from the workstation: a session already writing an image (a `station image` in
another terminal) is named in the form before anything starts, and the store shows one writer."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from textual.widgets import Input, Static
from tuikit import run, text_of

from station.core.session import SessionStore
from station.tui.screens.new_session import NewSessionScreen


def running(store: SessionStore) -> list[str]:
    return [s.id for s in store.list() if s.state == "running"]


def test_the_form_names_the_session_writing_the_image(make_app, tmp_path: Path) -> None:
    image = tmp_path / "demo.img"
    store = SessionStore(tmp_path / "xdg-data" / "station" / "sessions")
    first = subprocess.Popen(
        [sys.executable, "-m", "station.cli", "image", "-q", "demo", str(image)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not running(store):
            assert time.monotonic() < deadline and first.poll() is None, first.stderr
            time.sleep(0.05)
        (sid,) = running(store)
        app = make_app(store=store)
        before = sorted(tmp_path.rglob("*.map*"))

        async def go():
            async with app.run_test(size=(140, 44)) as pilot:
                await pilot.press("enter")
                await pilot.pause()
                assert isinstance(app.screen, NewSessionScreen)
                app.screen.query_one("#image-path", Input).value = str(image)
                await pilot.press("ctrl+s")
                await pilot.pause()
                assert isinstance(app.screen, NewSessionScreen) and app.live is None
                error = " ".join(text_of(app.screen.query_one("#error", Static)).split())
                assert error.startswith(f"refusing: {image}"), error  # the image or its map
                assert f"is being written by session {sid} (pid {first.pid}" in error, error

        run(go())
        assert running(store) == [sid]  # `station sessions` shows one writer
        assert sorted(tmp_path.rglob("*.map*")) == before
        assert first.poll() is None
    finally:
        first.kill()
        first.wait(10)
        first.stderr.close()
