"""A drive as the destination: a real block device (a loop device), behind a typed confirmation."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from textual.widgets import Input, RadioButton, Select, Static
from tuikit import SIZE, run, screen_text, virtual_drive, wait_for

from station.jobs.drives import block_drives
from station.rescue.mapfile import read_mapfile
from station.rescue.rescuemap import Status
from station.sim.scripted import expected_bytes
from station.tui.screens.dialogs import TypedConfirmScreen
from station.tui.screens.live import LiveScreen
from station.tui.screens.new_session import NewSessionScreen

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root"),
    pytest.mark.skipif(shutil.which("losetup") is None, reason="losetup (util-linux) is not installed"),
    pytest.mark.skipif(not os.path.exists("/dev/loop-control"), reason="no loop driver"),
]


@pytest.fixture
def loop_target(tmp_path: Path):
    backing = tmp_path / "target.bin"
    with open(backing, "wb") as f:
        f.truncate(SIZE + (1 << 20))
    dev = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=True
    )
    path = dev.stdout.strip()
    try:
        yield path
    finally:
        subprocess.run(["losetup", "--detach", path], capture_output=True, check=False)


def test_overwriting_a_drive_needs_its_name_typed(make_app, loop_target: str, tmp_path: Path) -> None:
    target = next(d for d in block_drives() if d.path == loop_target)
    assert target.can_be_target, target.protected
    app = make_app([virtual_drive(), target])

    async def go():
        async with app.run_test(size=(140, 50)) as pilot:
            await pilot.press("enter")  # the virtual drive, first row
            await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen), 5)
            form = app.screen
            form.query_one("#kind-drive", RadioButton).value = True
            await pilot.pause()
            form.query_one("#target", Select).value = loop_target
            await pilot.press("ctrl+s")
            await wait_for(
                pilot, lambda: isinstance(app.screen, TypedConfirmScreen), 5, "the typed confirmation"
            )
            dialog = app.screen
            await pilot.pause(0.2)
            said = screen_text(app)  # the key words first, the rest wrapped, never cut
            assert f"{loop_target} will be overwritten" in said and "target.bin" in said, said
            dialog.query_one(Input).value = "yes"
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, TypedConfirmScreen) and app.live is None
            assert "nothing was written" in str(dialog.query_one("#mismatch", Static).content)
            with open(loop_target, "rb") as f:
                assert f.read(1 << 20).count(0) == 1 << 20, "the drive was written before the confirmation"
            dialog.query_one(Input).value = Path(loop_target).name
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), 5, "the live screen")
            await wait_for(pilot, lambda: app.live.done.is_set(), 20, "the job's end")
            assert app.live.result.outcome == "finished"
            return app.live.job.map_path

    map_path = run(go())
    assert Path(map_path).parent == tmp_path / "images" and not map_path.startswith("/dev/")
    m = read_mapfile(map_path)
    with open(loop_target, "rb") as f:
        for b in m:
            if b.status == Status.FINISHED:
                assert os.pread(f.fileno(), b.size, b.pos) == expected_bytes(b.pos, b.size)
