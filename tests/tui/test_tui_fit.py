"""A session's screen on smaller terminals, as the issue tried them: at 90x30 the sector map and
the speed chart keep their share; at 60x20 nothing important drops off (the destination in the
title, every counter, the chart, the last events)."""

from __future__ import annotations

from pathlib import Path

from tuikit import run, screen_text, start_on, virtual_drive, wait_for

from station.tui.widgets.counters import Counters
from station.tui.widgets.event_log import EventLog
from station.tui.widgets.sector_map import SectorMap
from station.tui.widgets.speed_chart import SpeedChart


def finished_job(make_app, tmp_path: Path, size: tuple[int, int], name: str):
    app = make_app([virtual_drive()])

    async def go():
        async with app.run_test(size=size) as pilot:
            await start_on(pilot, app, 0, tmp_path / name)
            await wait_for(pilot, lambda: app.live.done.is_set(), 20, "the job's end")
            await pilot.pause(0.5)
            screen = app.screen
            regions = {w: screen.query_one(w).region for w in (SectorMap, SpeedChart, EventLog, Counters)}
            return screen_text(app), regions, screen.query_one(Counters).compact

    return run(go())


def test_at_90_columns_the_map_and_the_chart_keep_their_share(make_app, tmp_path: Path) -> None:
    text, regions, compact = finished_job(make_app, tmp_path, (90, 30), "a-rather-long-image-name.img")
    assert regions[SectorMap].width >= 50, regions  # was 44: the counters kept their 42 columns
    assert regions[SpeedChart].width >= 40, regions  # was 26: the log kept its 60
    assert compact and "rescued" in text and "read ok" in text, text


def test_at_60x20_nothing_important_drops_off(make_app, tmp_path: Path) -> None:
    text, regions, compact = finished_job(make_app, tmp_path, (60, 20), "disk.img")
    title = " ".join(text.splitlines()[1:3])
    assert "/disk.img" in title and "FINISHED" in title, text  # the destination whole, the source cut
    assert regions[SpeedChart].width >= 24 and regions[SpeedChart].height >= 5, regions  # was 2 columns wide
    assert regions[EventLog].width >= 24 and regions[SectorMap].height >= 4, regions
    assert compact
