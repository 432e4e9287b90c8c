"""SVG snapshots of the main screens (fixed sizes, fixed data, a simulated clock).

Review a changed snapshot with `pytest tests/tui/test_tui_snapshots.py --snapshot-update` and look
at the SVGs under __snapshots__/ (or the report pytest-textual-snapshot writes on failure).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from textual.widgets import DataTable
from tuikit import SPARE, SYSTEM, virtual_drive, wait_for, warning_health

from station.core.events import Finished, Paused, PhaseStarted, Progress, ReadFailed
from station.core.session import SessionStore
from station.jobs.drives import demo_drives
from station.jobs.imaging import prepare
from station.rescue.rescuemap import Status
from station.tui.runner import JobEvents, JobProgress, LiveJob
from station.tui.widgets.sector_map import SectorMap

SIZE = 8 << 20
T0 = 1_750_000_000.0  # a fixed start time for hand-made session records


def test_devices_screen(snap_compare, make_app) -> None:
    app = make_app([SYSTEM, SPARE, *demo_drives()], health=warning_health)

    async def badges_loaded(pilot) -> None:
        table = pilot.app.screen.query_one("#drives", DataTable)
        await wait_for(pilot, lambda: table.row_count == 3, 5)
        await wait_for(pilot, lambda: "WARNING" in str(table.get_cell("/dev/sdz", "smart")), 5)
        await wait_for(pilot, lambda: not pilot.app.screen.searching, 5, "discovery of imagers and relays")

    assert snap_compare(app, terminal_size=(120, 30), run_before=badges_loaded)


def test_new_session_screen(snap_compare, make_app) -> None:
    app = make_app(demo_drives(), image_dir=Path("/srv/images"))
    assert snap_compare(app, terminal_size=(120, 40), press=["enter"])


def test_live_screen(snap_compare, make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The live screen fed a fixed story (an engine thread would make timings differ run to run)."""
    monkeypatch.chdir(tmp_path)  # the title shows the destination as given: keep it short and fixed
    drive = virtual_drive()
    app = make_app([drive])

    async def feed(pilot) -> None:
        job = prepare("scripted", "image.img", source=drive.opener(), command=["station"], store=app.store)
        live = LiveJob(job, "Scripted test drive → image.img", "scripted")
        app.show_job(live)
        await pilot.pause()
        live.probe.want(*app.screen.query_one(SectorMap).wanted())
        for e in story(job.rmap):
            if isinstance(e, Progress):
                with live._lock:
                    live._samples.append(e)
                app.post_message(JobProgress(live, e, live.probe.take()))
            else:
                app.post_message(JobEvents(live, [e]))
        live.pause()  # the story ends paused: "last good read" stops ticking, so the screen is fixed
        app.post_message(JobEvents(live, [Paused(12.0, live.control.reasons())]))
        await pilot.pause(0.6)  # a few redraws

    assert snap_compare(app, terminal_size=(130, 40), run_before=feed)


def story(m):
    """Twenty-four progress steps of a copying pass with two read errors, applied to the map m as they go."""
    yield PhaseStarted(0.0, "copying", 1, "forward")
    errors = 0
    for i in range(1, 25):
        pos = SIZE * i // 40
        m.set_status(SIZE * (i - 1) // 40, SIZE // 40, Status.FINISHED)
        if i in (6, 15):
            errors += 1
            m.set_status(pos - 65536, 65536, Status.NON_TRIMMED)
            yield ReadFailed(i * 0.5, pos - 65536, 65536, "Input/output error", "copying")
        m.current_pos = pos
        rate = 2e5 if i in (6, 15) else 2e6 * (1 + 0.3 * math.sin(i / 3))
        s = m.summary()
        yield Progress(
            i * 0.5, "copying", 1, pos, SIZE, s.rescued, s.bytes[Status.NON_TRIED],
            s.bytes[Status.NON_TRIMMED], 0, 0, errors, errors, rate, 1.8e6, i * 0.5, 0.0, 4.0,
        )  # fmt: skip


def _fixed_session(store: SessionStore, sid: str, n: int, rate: float, errors: int, **opts) -> None:
    d = store.root / sid
    d.mkdir(parents=True)
    record = {
        "id": sid, "state": "finished", "pid": 1, "host": "bench", "method": "engine",
        "started": T0 + n * 3600, "ended": T0 + n * 3600 + 40,
        "source": {"path": "demo", "model": "Station demo drive (simulated)", "size": SIZE},
        "dest": f"/srv/images/run{n}.img", "mapfile": f"/srv/images/run{n}.img.map",
        "options": {"retry_passes": 0, **opts}, "command": ["station", "image"], "resumed": False,
        "reason": "rescue finished",
        "result": {"rescued": SIZE - errors * 512, "size": SIZE, "bad": errors * 512, "read_errors": errors},
    }  # fmt: skip
    (d / "session.json").write_text(json.dumps(record))
    lines = []
    for i in range(1, 41):
        wobble = 1.0 + 0.25 * math.sin(i / (3 + n)) - (0.6 if 20 <= i < 24 + n else 0.0)
        p = Progress(float(i), "copying", 1, 0, SIZE, SIZE * i // 40, 0, 0, 0, 0, 0, errors * i // 40,
                     rate * wobble, rate, float(i), 0.0, None)  # fmt: skip
        lines.append(p.to_dict())
        if i % (13 - n) == 0:
            lines.append(ReadFailed(float(i), i * 4096, 512, "EIO", "copying").to_dict())
    lines.append(Finished(40.0, "finished", "rescue finished").to_dict())
    (d / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


@pytest.fixture
def fixed_sessions(make_app):
    app = make_app(demo_drives())
    _fixed_session(app.store, "20250615-120000-aaaaaa", 1, 2e5, 12)
    _fixed_session(app.store, "20250615-130000-bbbbbb", 2, 1.2e5, 4, reverse=True, no_scrape=True)
    return app


def test_sessions_screen(snap_compare, fixed_sessions) -> None:
    async def listed(pilot) -> None:
        await pilot.press("f3")
        table = pilot.app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, 5)

    assert snap_compare(fixed_sessions, terminal_size=(150, 20), run_before=listed)


def test_comparison_screen(snap_compare, fixed_sessions) -> None:
    async def compared(pilot) -> None:
        await pilot.press("f3")
        table = pilot.app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, 5)
        await pilot.press("space", "down", "space", "c")
        await wait_for(pilot, lambda: len(getattr(pilot.app.screen, "figures", [])) == 2, 5)

    assert snap_compare(fixed_sessions, terminal_size=(130, 36), run_before=compared)
