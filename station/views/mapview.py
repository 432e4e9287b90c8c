"""Text views of a rescue map for `station map MAPFILE`: a ddrescuelog-style summary and a block map.

Pure functions over a RescueMap (no Textual).  The block map asks the map's per-status indexes
"is there a block of status S in [lo, hi)?" for each cell, so drawing costs O(cells * log n) however
many fragments the map has, and never walks the bytes.
"""

from __future__ import annotations

from rich.text import Text

from station.core.units import fmt_bytes, format_percentage
from station.rescue.cells import (  # noqa: F401 (cell_bounds, worst_status: kept importable from here)
    LABEL,
    LEGEND_ORDER,
    REPORT_ORDER,
    SEVERITY,
    SLOW_LABEL,
    SLOW_SOLID,
    cell_bounds,
    cell_of,
    cell_statuses,
    slow_cells,
    worst_status,
)
from station.rescue.rescuemap import RescueMap, Status

# ddrescueview-like colours, and a character per status so the map still reads without colour.
STYLE: dict[Status, str] = {
    Status.FINISHED: "bold green",
    Status.NON_TRIED: "grey50",
    Status.NON_TRIMMED: "bold yellow",
    Status.NON_SCRAPED: "bold blue",
    Status.BAD_SECTOR: "bold red",
}
CELL_CHAR: dict[Status, str] = {
    Status.FINISHED: "+",
    Status.NON_TRIED: ".",
    Status.NON_TRIMMED: "*",
    Status.NON_SCRAPED: "/",
    Status.BAD_SECTOR: "-",
}
# Solid cells, as ddrescueview draws them: the colour alone carries the status (the workstation's
# default; the characters above are its colour-blind form and the CLI's, which may be piped).
# Hex, not names: the sector map (rich styles) and its legend (Textual markup) read names apart.
SOLID: dict[Status, str] = {
    Status.FINISHED: "#20b820",
    Status.NON_TRIED: "#5a5a5a",
    Status.NON_TRIMMED: "#e8d000",
    Status.NON_SCRAPED: "#3060e8",
    Status.BAD_SECTOR: "#e02020",
}
CURRENT_STYLE = "reverse"
EMPTY_CELL = " "
# Slow areas are engine knowledge, not a mapfile status (ddrescue must read our maps): drawn
# over rescued and non-tried cells that hold any of them, never over worse statuses.
SLOW_STYLE = "bold magenta"
SLOW_CHAR = "~"


def shown(status: Status, slow: bool) -> tuple[str, str]:
    """(character, style) of a cell: its status, or slow over a mild one."""
    if slow and status in (Status.FINISHED, Status.NON_TRIED):
        return SLOW_CHAR, SLOW_STYLE
    return CELL_CHAR[status], STYLE[status]


# -- summary -------------------------------------------------------------------------------------


def summary_text(m: RescueMap, binary: bool = False) -> str:
    """A `ddrescuelog -t`-like summary: position, phase and pass, domain, then bytes per status."""
    s = m.summary()

    def size(n: int) -> str:
        return f"{fmt_bytes(n, binary=binary, digits=6, truncate=True):>10}"

    lines = [
        f"   current pos: {size(m.current_pos)},  current status: {m.phase.label},  current pass: {m.pass_}",
        f"   domain size: {size(s.size)},  in {s.fragments:6d} area(s)",
        "",
    ]
    for status in REPORT_ORDER:
        lines.append(
            f"{LABEL[status]:>14}: {size(s.bytes[status])},  in {s.areas[status]:6d} area(s)"
            f"  ({format_percentage(s.bytes[status], s.size)})"
        )
    return "\n".join(lines) + "\n"


# -- block map -----------------------------------------------------------------------------------


def block_map(m: RescueMap, width: int, rows: int, slow: list[tuple[int, int]] | None = None) -> list[Text]:
    """Draw the map as `rows` lines of `width` cells; each cell shows the worst status it covers
    (or slow, over a rescued or non-tried cell holding a known slow area).

    The cell holding the current position keeps its character and is drawn in reverse video (an
    attribute, so it shows with NO_COLOR too).  A map smaller than the grid gets one cell per byte
    and blank cells after it.  See legend() for the lines explaining the characters.
    """
    if width < 1 or rows < 1:
        raise ValueError("width and rows must be >= 1")
    cells = width * rows
    statuses = cell_statuses(m, cells)
    slowness = slow_cells(m.size, cells, slow or [])
    current = cell_of(m.size, cells, m.current_pos)
    lines: list[Text] = []
    for r in range(rows):
        line = Text(no_wrap=True, overflow="crop")
        for c in range(width):
            i = r * width + c
            status = statuses[i]
            if status is None:
                line.append(EMPTY_CELL)
                continue
            char, style = shown(status, slowness[i])
            line.append(char, style=style + (f" {CURRENT_STYLE}" if i == current else ""))
        lines.append(line)
    return lines


def legend(bytes_per_cell: int | None = None, width: int | None = None, slow: bool = False) -> list[Text]:
    """The lines naming each cell's character and colour (slow too, when the map has slow areas),
    how the current position is drawn, and optionally how many bytes a cell covers; items never
    split, lines at most `width` wide.

    The current position is said in words ("reverse video"), not with a sample cell: a sample
    would repeat a status's character (`+` meant rescued and the position both).
    """
    items: list[Text] = []
    for status in LEGEND_ORDER:
        items.append(Text.assemble((CELL_CHAR[status], STYLE[status]), f" {LABEL[status]}"))
    if slow:
        items.append(Text.assemble((SLOW_CHAR, SLOW_STYLE), f" {SLOW_LABEL}"))
    items.append(Text.assemble(("reverse video", CURRENT_STYLE), ": current position"))
    if bytes_per_cell is not None:
        items.append(Text(f"1 cell = {fmt_bytes(bytes_per_cell, digits=6, truncate=True)}"))
    lines: list[Text] = []
    line = Text(no_wrap=True, overflow="ellipsis")
    for item in items:
        if line.plain and width is not None and len(line.plain) + 2 + len(item.plain) > width:
            lines.append(line)
            line = Text(no_wrap=True, overflow="ellipsis")
        if line.plain:
            line.append("  ")
        line.append_text(item)
    lines.append(line)
    return lines
