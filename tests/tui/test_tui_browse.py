"""The browse screen: an image's partitions and tree, what is not rescued in red, extraction of the
selection, "rescue these first" on a running session, and the ways in (images screen, live screen)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fsimages import MiB, content, ext_truth, have, make_disk, make_ext, make_fat
from textual.widgets import Input, Static
from tuikit import run, text_of, wait_for

from station.core.session import SessionStore
from station.rescue.mapfile import MapfileError, read_mapfile, write_mapfile
from station.rescue.options import RescueOptions
from station.rescue.rescuemap import RescueMap, Status
from station.tui.screens.browse import BrowseScreen
from station.tui.screens.folder import FolderScreen
from station.tui.widgets.file_tree import FileTree

FILES = {"/a.txt": 100, "/big.bin": 300_000, "/docs/report.bin": 70_000, "/docs/deep/x.bin": 30_000}


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    if not have("sfdisk", "mkfs.ext4", "debugfs", "mkfs.vfat", "mcopy"):
        pytest.skip("needs sfdisk, e2fsprogs, dosfstools, mtools")
    d = tmp_path_factory.mktemp("browsedisk")
    make_ext(d / "p1.img", 16 * MiB, FILES)
    make_fat(d / "p2.img", 16 * MiB, FILES, bits=16)
    image = d / "disk.img"
    starts = make_disk(
        image, 40 * MiB, "mbr", [(16 * MiB, d / "p1.img", "83"), (16 * MiB, d / "p2.img", "6")]
    )
    report = [
        (lo + starts[0], hi + starts[0]) for lo, hi in ext_truth(d / "p1.img", "/docs/report.bin", 1024)
    ]
    return image, report


def damaged_copy(disk, tmp_path: Path) -> tuple[Path, Path]:
    """The disk as an image whose map lost the first 4 KiB of p1's /docs/report.bin."""
    image, report = disk
    img = tmp_path / "disk.img"
    img.write_bytes(image.read_bytes())
    m = RescueMap(img.stat().st_size, Status.FINISHED)
    m.set_status(report[0][0], 4096, Status.BAD_SECTOR)
    write_mapfile(str(img) + ".map", m)
    return img, Path(str(img) + ".map")


async def open_browse(pilot, app, image: Path, map_path: Path | None) -> BrowseScreen:
    screen = BrowseScreen(str(image), str(map_path) if map_path else None)
    app.push_screen(screen)
    await wait_for(pilot, lambda: screen.loads >= 1, 20, "the listing")
    return screen


def test_browse_shows_the_tree_with_what_is_hit_and_extracts_the_selection(make_app, disk, tmp_path) -> None:
    img, mapfile = damaged_copy(disk, tmp_path)
    app = make_app()
    out = tmp_path / "out"

    async def go():
        async with app.run_test(size=(160, 45)) as pilot:
            screen = await open_browse(pilot, app, img, mapfile)
            tree = screen.query_one(FileTree)
            roots = [c.data for c in tree.root.children]
            assert roots == ["/$PartitionTable", "/p1", "/p2"]
            assert "ext4" in str(tree.root.children[1].label) and "fat16" in str(tree.root.children[2].label)
            assert "4096 B of 42 MB not rescued" in text_of(screen.query_one("#browse-state", Static))
            tree.open_path("/p1/docs/report.bin")
            await wait_for(pilot, lambda: tree.current == "/p1/docs/report.bin", 5, "the cursor on the file")
            label = str(tree.cursor_node.label)
            assert "report.bin" in label and "4096 B not rescued" in label
            assert "4096 B not rescued inside" in str(tree._by_path["/p1/docs"].label)  # the folder too
            assert "not rescued inside" not in str(tree._by_path["/p2"].label)
            detail = text_of(screen.query_one("#browse-detail", Static))
            assert "/p1/docs/report.bin" in detail and "4096 B not rescued" in detail

            await pilot.press("space")  # mark it, and p2's big.bin
            tree.open_path("/p2/big.bin")
            await wait_for(pilot, lambda: tree.current == "/p2/big.bin", 5, "the cursor on big.bin")
            await pilot.press("space")
            assert tree.marked == {"/p1/docs/report.bin", "/p2/big.bin"}
            assert "2 marked" in text_of(screen.query_one("#browse-state", Static))
            await pilot.press("h")  # only what is hit: big.bin of p2 goes away, the marks stay
            await pilot.pause()
            assert "/p2/big.bin" not in tree._by_path and "/p1" in tree._by_path

            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, FolderScreen), 5, "the folder dialog")
            (tmp_path / "full").mkdir()
            (tmp_path / "full" / "x").write_text("x")
            app.screen.query_one("#folder", Input).value = str(tmp_path / "full")
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, FolderScreen)  # not empty: refused, asked again
            assert "not empty" in text_of(app.screen.query_one("#folder-problem", Static))
            app.screen.query_one("#folder", Input).value = str(out)
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.extracted is not None, 20, "the extraction")
            done = screen.extracted
            assert done.files == 2 and done.incomplete == [("/p1/docs/report.bin", 4096)] and not done.errors
            got = (out / "p1" / "docs" / "report.bin").read_bytes()
            want = content("/docs/report.bin", 70_000)
            assert got[4096:] == want[4096:] and got[:4096] == bytes(4096)
            assert (out / "p2" / "big.bin").read_bytes() == content("/big.bin", 300_000)
            assert "incomplete: /p1/docs/report.bin" in text_of(screen.query_one("#browse-notes", Static))

            await pilot.press("f")  # a finished session's image: the ranges go to the record
            await wait_for(pilot, lambda: screen.requested is not None, 10, "the request")
            assert "when it is resumed" in screen.requested

    run(go())


def test_browse_a_damaged_image_says_so_and_does_not_crash(make_app, tmp_path) -> None:
    img = tmp_path / "junk.img"
    img.write_bytes(b"\xff" * (2 * MiB))
    app = make_app()

    async def go():
        async with app.run_test(size=(140, 40)) as pilot:
            screen = await open_browse(pilot, app, img, None)
            tops = screen.query_one(FileTree).root.children
            assert [c.data for c in tops] == ["/"] and "no filesystem recognised" in str(tops[0].label)
            assert "no filesystem recognised" in text_of(screen.query_one("#browse-notes", Static))
            await pilot.press("f")
            await pilot.pause()
            assert any("no mapfile" in str(n.message) for n in app._notifications)

    run(go())


def test_images_screen_opens_the_browser(make_app, disk, tmp_path) -> None:
    from catalogkit import add_session

    from station.tui.screens.images import ImagesScreen

    img, _ = damaged_copy(disk, tmp_path)
    app = make_app()
    add_session(app.store, str(img), started=1_750_000_000.0, size=img.stat().st_size)

    async def go():
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("f5")
            await wait_for(pilot, lambda: isinstance(app.screen, ImagesScreen) and app.screen.loaded, 10)
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen), 5, "the browser")
            await wait_for(pilot, lambda: app.screen.loads >= 1, 20, "the listing")
            assert [c.data for c in app.screen.query_one(FileTree).root.children] == [
                "/$PartitionTable",
                "/p1",
                "/p2",
            ]

    run(go())


# -- live: a running rescue of a slow virtual drive holding a disk --------------------------------------


@pytest.fixture(scope="module")
def far_disk(tmp_path_factory):
    """32 MiB, one ext4 partition of forty 600 kB files: the last one's data far from the metadata."""
    if not have("sfdisk", "mkfs.ext4", "debugfs"):
        pytest.skip("needs sfdisk and e2fsprogs")
    d = tmp_path_factory.mktemp("fardisk")
    files = {f"/data/f{i:02d}.bin": 600_000 for i in range(40)}
    make_ext(d / "p1.img", 30 * MiB, files, block_size=4096)
    image = d / "disk.img"
    (start,) = make_disk(image, 32 * MiB, "mbr", [(30 * MiB, d / "p1.img", "83")])
    far = [(lo + start, hi + start) for lo, hi in ext_truth(d / "p1.img", "/data/f39.bin", 4096)]
    assert far[0][0] > 20 * MiB
    (d / "model.toml").write_text(f'name = "far"\ncontent = "{image}"\n')
    return d / "model.toml", far


def test_rescue_these_first_on_a_running_session(make_app, far_disk, tmp_path) -> None:
    from station.jobs.imaging import prepare
    from station.sim.drive import SimDrive
    from station.sim.model import load_model
    from station.sim.source import SimSource
    from station.tui.screens.live import LiveScreen

    model, far = far_disk
    app = make_app()
    dest = tmp_path / "live.img"
    drive = SimDrive(load_model(str(model)), time_scale=60.0)  # about 25 s for the whole disk
    job = prepare(
        "sim:far", str(dest), source=SimSource(drive, path="sim:far"), command=["station", "image"],
        store=SessionStore(app.store.root), options=RescueOptions(save_interval=0.3),
    )  # fmt: skip

    def rescued() -> int:
        try:
            return read_mapfile(job.map_path).bytes_in(Status.FINISHED)
        except MapfileError:  # not written yet
            return 0

    def far_done(m: RescueMap) -> bool:
        return all(b.status == Status.FINISHED for lo, hi in far for b in m.blocks(lo, hi))

    async def go():
        async with app.run_test(size=(160, 45)) as pilot:
            live = app.start_job(job, "far disk")
            await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen) and live.launched, 10, "the job")
            await wait_for(pilot, lambda: rescued() > 3 * MiB, 20, "the metadata")
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen), 5, "the browser")
            screen = app.screen
            await wait_for(pilot, lambda: screen.loads >= 1, 20, "the listing")
            assert "rescue running" in text_of(screen.query_one("#browse-state", Static))
            while "/p1/data/f39.bin" not in screen.listing.nodes:  # read again until the folder is in
                await pilot.press("r")
                loads = screen.loads
                await wait_for(pilot, lambda n=loads: screen.loads > n, 20, "a new listing")
            tree = screen.query_one(FileTree)
            tree.open_path("/p1/data/f39.bin")
            await wait_for(pilot, lambda: tree.current == "/p1/data/f39.bin", 5, "the cursor on it")
            assert "not rescued" in str(tree.cursor_node.label)
            await pilot.press("space", "f")
            await wait_for(pilot, lambda: screen.requested is not None, 10, "the request")
            assert "running session reads them next" in screen.requested
            await wait_for(pilot, lambda: far_done(read_mapfile(job.map_path)), 30, "the file read first")
            m = read_mapfile(job.map_path)
            before = (far[0][0] - 4 * MiB, far[0][0] - 2 * MiB)
            assert all(b.status == Status.NON_TRIED for b in m.blocks(*before))  # the copy is not there yet
            assert any("stage: the ranges asked for first" in line for line in live.log)
            live.stop()
            await wait_for(pilot, lambda: not live.running, 20, "the stop")
            assert live.result is not None and live.result.outcome == "stopped"
        time.sleep(0)

    run(go())


def test_a_followed_session_opens_its_image_in_the_browser(make_app, disk, tmp_path) -> None:
    from catalogkit import add_session

    from station.tui.screens.follow import FollowScreen

    img, _ = damaged_copy(disk, tmp_path)
    app = make_app()
    session = add_session(app.store, str(img), started=1_750_000_000.0, size=img.stat().st_size)

    async def go():
        async with app.run_test(size=(160, 40)) as pilot:
            app.push_screen(FollowScreen(app.store.get(session.id)))
            await pilot.pause()
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen), 5, "the browser")
            await wait_for(pilot, lambda: app.screen.loads >= 1, 20, "the listing")
            assert str(img) in text_of(app.screen.query_one("#browse-title", Static))
            assert "4096 B of 42 MB not rescued" in text_of(app.screen.query_one("#browse-state", Static))

    run(go())
