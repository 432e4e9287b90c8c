"""The workstation and images: raw or compressed in the new-session form, the hashes of a finished
session, and verify from there (a verification session of its own)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from textual.widgets import Button, Input, Select, Static
from tuikit import BAD_BYTES, SIZE, run, text_of, wait_for

from station.core.record import JobKind
from station.images.formats import open_image
from station.images.zstreader import ZstImageReader
from station.rescue.rescuemap import Status
from station.sim.scripted import expected_bytes
from station.tui.screens.image import ImageScreen
from station.tui.screens.live import LiveScreen
from station.tui.screens.new_session import NewSessionScreen


async def _start(pilot, app, image: Path, image_format: str, hashes: str = "sha256") -> None:
    await pilot.press("enter")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, NewSessionScreen)
    screen.query_one("#image-path", Input).value = str(image.with_suffix(".img"))
    screen.query_one("#image-format", Select).value = image_format
    screen.query_one("#hashes", Select).value = hashes
    await pilot.pause()
    assert screen.query_one("#image-path", Input).value == str(image)  # .img <-> .zst follows the format
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), 5, "the live screen")


def test_a_compressed_session_is_sealed_and_records_its_hashes(make_app, tmp_path: Path) -> None:
    app = make_app()
    image = tmp_path / "scripted.zst"

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await _start(pilot, app, image, "zst", "sha256,md5")
            live = app.live
            await wait_for(pilot, lambda: not live.running and live.state == "finished", 20, "the job's end")
            await pilot.pause(0.3)
            assert live.image is not None and live.image.format == "zst" and live.image.written > 0
            side = text_of(app.screen.query_one("#smart", Static))
            assert "sha256 " in side and "md5 " in side and "v: hashes and verify" in side

    run(go())
    (rec,) = [s.record for s in app.store.list()]
    assert rec.state == "finished" and "--format" not in rec.command and "--hash" in rec.command
    res = rec.result
    assert res.image.format == "zst" and res.image.sealed and set(res.hashes) == {"sha256", "md5"}
    with ZstImageReader(str(image)) as r:
        assert r.sealed and r.metadata["hashes"] == res.hashes
        assert r.metadata["extra"]["session"] == rec.id
        m = r.rescue_map
        assert m.bytes_in(Status.BAD_SECTOR) == BAD_BYTES
    with open_image(str(image)) as r:
        whole = r.read(0, r.size)
    assert hashlib.sha256(whole).hexdigest() == res.hashes["sha256"]
    for b in m:
        if b.status == Status.FINISHED:
            assert whole[b.pos : b.end] == expected_bytes(b.pos, b.size)
    assert len(whole) == SIZE


def test_a_finished_session_shows_its_hashes_and_verifies(make_app, tmp_path: Path) -> None:
    app = make_app()
    image = tmp_path / "scripted.img"

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await _start(pilot, app, image, "raw")
            live = app.live
            await wait_for(pilot, lambda: not live.running and live.state == "finished", 20, "the job's end")
            await pilot.pause(0.3)
            await pilot.press("v")
            await wait_for(pilot, lambda: isinstance(app.screen, ImageScreen), 5, "the image dialog")
            dialog = app.screen
            info = text_of(dialog.query_one("#image-info", Static))
            sha = live.job.session.record.result.hashes["sha256"]
            assert f"sha256 {sha}" in info and "scripted.img.hashes.json" in info
            await pilot.press("v")
            await wait_for(pilot, lambda: not dialog.running, 20, "the verification")
            assert "match" in text_of(dialog.query_one("#verify-result", Static))
            assert not dialog.query_one("#verify", Button).disabled  # it may run again
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), 5, "back to the live screen")

    run(go())
    kinds = sorted(s.record.kind for s in app.store.list())
    assert kinds == [JobKind.IMAGING, JobKind.VERIFICATION]
    (v,) = [s.record for s in app.store.list() if s.record.kind == JobKind.VERIFICATION]
    assert v.state == "finished" and v.result.verification.outcome == "match"
    assert v.result.verification.image == str(image)
