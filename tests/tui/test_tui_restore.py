"""The restore/deploy screen: a finished session's image onto ticked drives, typed confirmation, live rows.

Targets are real block devices (loop devices over files in tmp_path), so these need root; the
rules of the form (which images, which drives, the typed word) are also tested without Textual.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static
from tuikit import SYSTEM, run, text_of, wait_for

from station.core.identity import SourceIdentity
from station.core.record import SessionRecord, SessionResult
from station.core.session import SessionStore
from station.jobs.drives import Drive, block_drives
from station.tui.restore_form import RestoreForm, history_images, restore_plan
from station.tui.screens.deploy import DeployScreen
from station.tui.screens.dialogs import TypedConfirmScreen
from station.tui.screens.restore import RestoreScreen

MiB = 1 << 20
SIZE = 6 * MiB


def finished_session(store: SessionStore, image: Path, state: str = "finished") -> None:
    record = SessionRecord(
        destinations=[str(image)],
        source=SourceIdentity(path="/dev/sdq", kind="block", size=SIZE, model="WDC WD5000", serial="WX1"),
    )
    s = store.create(record)
    s.finish(state, "done", SessionResult(rescued=SIZE, size=SIZE))


@pytest.fixture
def image(tmp_path: Path) -> Path:
    p = tmp_path / "images" / "WX1.img"
    p.parent.mkdir()
    p.write_bytes(random.Random(5).randbytes(SIZE))
    return p


def test_only_finished_images_still_there_are_offered_and_protected_drives_refused(
    tmp_path: Path, image: Path
) -> None:
    store = SessionStore(tmp_path / "store")
    finished_session(store, image)
    finished_session(store, tmp_path / "gone.img")
    finished_session(store, image.with_name("stopped.img"), state="stopped")
    [choice] = history_images(store)
    assert choice.path == str(image) and choice.source == "WDC WD5000 WX1" and choice.rescued == SIZE
    free = Drive(path="/dev/sdz", kind="block", size=SIZE, name="sdz")
    with pytest.raises(ValueError, match="pick an image"):
        restore_plan(RestoreForm(targets=("/dev/sdz",)), [free])
    with pytest.raises(ValueError, match="tick at least one"):
        restore_plan(RestoreForm(image=str(image)), [free])
    with pytest.raises(ValueError, match="holds the running system"):
        restore_plan(RestoreForm(image=str(image), targets=(SYSTEM.path,)), [SYSTEM])
    other = Drive(path="/dev/sdy", kind="block", size=SIZE, name="sdy")
    plan = restore_plan(
        RestoreForm(image=str(image), targets=("/dev/sdz", "/dev/sdy"), fill="marker"), [free, other]
    )
    assert plan.word == "sdz sdy" and plan.settings.force and plan.settings.fill == "marker"
    assert plan.command[:3] == ["station", "restore", str(image)] and "--fill=marker" in plan.command


@pytest.fixture
def loop_targets(tmp_path: Path) -> Iterator[list[str]]:
    devs = []
    try:
        for i in range(2):
            backing = tmp_path / f"target{i}.bin"
            backing.write_bytes(b"\x5a" * (SIZE + MiB))
            attach = ["losetup", "--find", "--show", str(backing)]
            dev = subprocess.run(attach, capture_output=True, text=True, check=True).stdout.strip()
            devs.append(dev)
        yield devs
    finally:
        for dev in devs:
            subprocess.run(["losetup", "--detach", dev], capture_output=True, check=False)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("losetup") is None, reason="loop devices need root")
def test_deploy_to_two_drives_behind_their_typed_names(
    make_app, image: Path, loop_targets: list[str]
) -> None:
    drives = [SYSTEM] + [d for d in block_drives() if d.path in loop_targets]
    assert len(drives) == 3 and all(d.can_be_target for d in drives[1:])
    app = make_app(drives)
    finished_session(app.services.store, image)

    async def go():
        async with app.run_test(size=(150, 50)) as pilot:
            await pilot.press("f6")
            await wait_for(pilot, lambda: isinstance(app.screen, RestoreScreen), 5, "the restore screen")
            screen = app.screen
            assert screen.query_one("#restore-images", DataTable).row_count == 1
            screen.query_one("#restore-targets", DataTable).focus()
            await pilot.press("space")  # the system disk: refused, not ticked
            await pilot.pause()
            assert screen.ticked == []
            for _ in drives[1:]:
                await pilot.press("down", "space")
            assert screen.ticked == loop_targets
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirmScreen), 10, "the confirmation")
            dialog = app.screen
            names = " ".join(Path(d).name for d in loop_targets)
            warning = " ".join(text_of(w) for w in dialog.query(Static))
            assert all(d in warning for d in loop_targets), warning
            dialog.query_one(Input).value = Path(loop_targets[0]).name  # one name is not every name
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, TypedConfirmScreen) and app.live is None
            dialog.query_one(Input).value = names
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DeployScreen), 10, "the deploy screen")
            await wait_for(
                pilot, lambda: app.live is not None and app.live.done.is_set(), 60, "the job's end"
            )
            await pilot.pause(0.5)
            deploy = app.screen
            assert isinstance(deploy, DeployScreen)
            deploy.refresh_view()
            rows = deploy.query_one("#deploy-targets", DataTable)
            states = [str(rows.get_cell(d, "state")) for d in loop_targets]
            results = text_of(deploy.query_one("#deploy-results", Static))
            return app.live.result, states, results

    result, states, results = run(go())
    assert result.outcome == "finished", result.reason
    assert all("verified" in s for s in states), states
    assert results.count("verified: sha256") == 2, results
    want = image.read_bytes()
    for dev in loop_targets:
        with open(dev, "rb") as f:
            assert f.read(SIZE) == want


def test_restore_from_the_images_screen_picks_that_image(make_app, image: Path, tmp_path: Path) -> None:
    from station.tui.screens.images import ImagesScreen

    app = make_app([SYSTEM])
    older = image.with_name("older.img")
    older.write_bytes(b"x" * SIZE)
    finished_session(app.services.store, older)
    finished_session(app.services.store, image)

    async def go():
        async with app.run_test(size=(150, 50)) as pilot:
            await pilot.press("f5")
            await wait_for(
                pilot, lambda: isinstance(app.screen, ImagesScreen) and app.screen.loaded, 15, "images"
            )
            images = app.screen
            table = images.query_one("#images", DataTable)
            table.move_cursor(row=[i.path for i in images.images].index(str(older)))
            await pilot.press("t")
            await wait_for(pilot, lambda: isinstance(app.screen, RestoreScreen), 5, "the restore screen")
            await pilot.pause()
            return app.screen.form().image

    assert run(go()) == str(older)
