"""The sector map in solid colour, as ddrescueview draws it (colour carries the status, so bad
areas stand out at a glance); g switches to the characters of `station map` for colour-blind eyes."""

from __future__ import annotations

from pathlib import Path

from rich.color import Color
from tuikit import run, screen_text, start_on, virtual_drive, wait_for

from station.rescue.rescuemap import Status
from station.tui.widgets.sector_map import CURRENT_MARK, SectorMap
from station.views.mapview import SOLID

RED = Color.parse(SOLID[Status.BAD_SECTOR])


def row_cells(smap: SectorMap, y: int) -> list[tuple[str, Color | None]]:
    """(character, background) of every cell of a row, as drawn."""
    out = []
    for seg in smap.render_line(y):
        for ch in seg.text:
            out.append((ch, seg.style.bgcolor if seg.style else None))
    return out


def test_solid_cells_and_glyphs_on_g(make_app, tmp_path: Path) -> None:
    app = make_app([virtual_drive()])

    async def go() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            await start_on(pilot, app, 0, tmp_path / "disk.img")
            await wait_for(pilot, lambda: app.live.done.is_set(), 20, "the job's end")
            await pilot.pause(0.5)
            smap = app.screen.query_one(SectorMap)
            rows = [row_cells(smap, y) for y in range(smap.content_size.height)]
            cells = [c for row in rows for c in row]
            assert {ch for ch, _ in cells} <= {" ", CURRENT_MARK}  # colour alone, no characters
            assert any(bg == RED for _, bg in cells)  # the bad areas, in red
            assert "(g: glyphs)" in screen_text(app)
            smap.focus()
            await pilot.press("g")
            await pilot.pause(0.2)
            text = "".join(ch for y in range(smap.content_size.height) for ch, _ in row_cells(smap, y))
            assert "+" in text and "-" in text and app.map_glyphs  # the characters of `station map`
            assert "(g: colours)" in screen_text(app)
            await pilot.press("g")
            await pilot.pause(0.2)
            assert not smap.glyphs and not app.map_glyphs

    run(go())
