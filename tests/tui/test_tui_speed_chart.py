"""The speed chart's caption items apart and values on its axes; the comparison's curves told
apart by markers, not colour alone, and sessions of different sources said to be so."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable
from tuikit import run, screen_text, start_on, virtual_drive, wait_for

from station.core.events import Progress
from station.core.units import fmt_rate
from station.tui.widgets.speed_chart import SpeedChart


def test_the_chart_caption_items_apart_and_axis_values(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive()])

    async def go() -> tuple[str, float, float]:
        async with app.run_test(size=(160, 45)) as pilot:
            await start_on(pilot, app, 0, tmp_path / "disk.img")
            await wait_for(pilot, lambda: app.live.done.is_set(), 20, "the job's end")
            await pilot.pause(0.5)
            chart = app.screen.query_one(SpeedChart)
            series = chart.curves[0].series
            region = chart.content_region
            lines = screen_text(app).splitlines()[region.y : region.y + region.height]
            return "\n".join(line[region.x : region.right] for line in lines), series.peak, series.last_t

    text, peak, _ = run(go())
    caption = text.splitlines()[0]
    assert " · avg " in caption and " · peak " in caption and " · errors " in caption, caption
    assert fmt_rate(peak) in text.splitlines()[1], text  # the top of the rate axis
    assert text.splitlines()[-3].strip().startswith("0 "), text  # its bottom
    assert text.splitlines()[-1].strip().startswith("0s"), text  # the time axis


def _session(store, n: int, serial: str, rate: float) -> str:
    d = store.root / f"20250615-1{n}0000-aaaaaa"
    d.mkdir(parents=True)
    size = 8 << 20
    record = {
        "id": d.name, "state": "finished", "pid": 1, "host": "bench", "method": "engine",
        "started": 1_750_000_000.0 + n, "ended": 1_750_000_040.0 + n,
        "source": {"path": "/dev/sdb", "model": "WDC WD10EZEX", "serial": serial, "size": size},
        "dest": f"/srv/run{n}.img", "mapfile": f"/srv/run{n}.img.map", "options": {}, "command": ["station"],
        "resumed": False, "reason": "rescue finished", "result": {"rescued": size, "size": size, "bad": 0},
    }  # fmt: skip
    (d / "session.json").write_text(json.dumps(record))
    lines = [
        Progress(float(i), "copying", 1, 0, size, size * i // 40, 0, 0, 0, 0, 0, 0, rate * (1 + i % 3), rate,
                 float(i), 0.0, None).to_dict()
        for i in range(1, 41)
    ]  # fmt: skip
    (d / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return d.name


def compare(make_app, serials: tuple[str, str]) -> tuple[str, list[str], str]:
    """The comparison's screen text, its curves' markers, and the lines its curves are drawn on."""
    app = make_app()
    for n, serial in enumerate(serials, 1):
        _session(app.store, n, serial, 1e5 * n)

    async def go():
        async with app.run_test(size=(150, 40)) as pilot:
            await pilot.press("f3")
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 2, 5)
            await pilot.press("space", "down", "space", "c")
            await wait_for(pilot, lambda: len(getattr(app.screen, "figures", [])) == 2, 5)
            await pilot.pause(0.3)
            text = screen_text(app)
            chart = app.screen.query_one(SpeedChart)
            r = chart.content_region
            plotted = "\n".join(line[r.x : r.right] for line in text.splitlines()[r.y + 1 : r.bottom - 2])
            return text, sorted(c.marker for c in chart.curves), plotted

    return run(go())


def test_compared_curves_have_markers_and_different_sources_are_said(make_app) -> None:
    text, markers, plotted = compare(make_app, ("WD-AAA", "WD-BBB"))
    assert markers == ["1", "2"]
    curves = "".join(line.split(" ", 1)[-1].lstrip() for line in plotted.splitlines())  # no axis labels
    assert "1" in curves and "2" in curves, plotted  # on the curves themselves, not only in colour
    assert "These sessions read different sources (WDC WD10EZEX WD-BBB; WDC WD10EZEX WD-AAA)" in text, text


def test_sessions_of_one_drive_are_not_called_different(make_app) -> None:
    text, _, _ = compare(make_app, ("WD-AAA", "WD-AAA"))
    assert "different sources" not in text
