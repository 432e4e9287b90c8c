"""Text views of a rescue map for `station map MAPFILE`: a ddrescuelog-style summary and a block map.

Pure functions over a RescueMap (no Textual).  The block map asks the map's per-status indexes
"is there a block of status S in [lo, hi)?" for each cell, so drawing costs O(cells * log n) however
many fragments the map has, and never walks the bytes.
"""

from __future__ import annotations

from rich.text import Text

from station.core.units import fmt_bytes, format_percentage
from station.rescue.rescuemap import RescueMap, Status

# Worst first: a cell showing any byte of an earlier status shows that status.
SEVERITY: tuple[Status, ...] = (
    Status.BAD_SECTOR,
    Status.NON_SCRAPED,
    Status.NON_TRIMMED,
    Status.NON_TRIED,
    Status.FINISHED,
)

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
# The order ddrescuelog -t lists the statuses in, and the order of the legend.
REPORT_ORDER = (Status.NON_TRIED, Status.FINISHED, Status.NON_TRIMMED, Status.NON_SCRAPED, Status.BAD_SECTOR)
LEGEND_ORDER = (Status.FINISHED, Status.NON_TRIED, Status.NON_TRIMMED, Status.NON_SCRAPED, Status.BAD_SECTOR)
LABEL: dict[Status, str] = {
    Status.NON_TRIED: "non-tried",
    Status.FINISHED: "rescued",
    Status.NON_TRIMMED: "non-trimmed",
    Status.NON_SCRAPED: "non-scraped",
    Status.BAD_SECTOR: "bad-sector",
}
CURRENT_STYLE = "reverse"
EMPTY_CELL = " "


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


def worst_status(m: RescueMap, lo: int, hi: int) -> Status | None:
    """The most severe status of any byte in [lo, hi), in O(log n); None for an empty range."""
    if hi <= lo:
        return None
    for status in SEVERITY:
        b = m.next_block(status, lo)
        if b is not None and b.pos < hi:
            return status
    return None


def cell_bounds(size: int, cells: int) -> list[int]:
    """Cell edges: cell i covers [edges[i], edges[i+1]); at most one cell per byte, extra cells empty."""
    used = min(cells, size)
    edges = [size * i // used for i in range(used + 1)] if used else [0]
    return edges + [size] * (cells - used)


def cell_of(size: int, cells: int, pos: int) -> int | None:
    """Index of the cell holding byte `pos`, or None if pos is outside [0, size)."""
    if not 0 <= pos < size:
        return None
    used = min(cells, size)
    return ((pos + 1) * used - 1) // size


def cell_statuses(m: RescueMap, cells: int, lo: int = 0, hi: int | None = None) -> list[Status | None]:
    """The worst status of each of `cells` equal cells over [lo, hi) (the whole map by default).

    A range smaller than the grid gets one cell per byte and None (empty) cells after it.  This
    is the one place where cells are aggregated: the CLI's block map and the TUI's sector map
    both draw from it.  Statuses are laid on worst first, one block at a time, and each search
    resumes after the last cell it marked: at most cells + 1 lookups per status, and one for a
    status held by a single large block, so a live view can afford it several times a second.
    """
    hi = m.size if hi is None else min(hi, m.size)
    lo = max(0, min(lo, hi))
    span = hi - lo
    out: list[Status | None] = [None] * cells
    used = min(cells, span)
    if used <= 0:
        return out
    todo = used
    for status in SEVERITY[:-1]:
        pos = lo
        while pos < hi and todo:
            b = m.next_block(status, pos)
            if b is None or b.pos >= hi:
                break
            first = ((b.pos - lo + 1) * used - 1) // span
            last = ((min(b.end, hi) - lo) * used - 1) // span
            for i in range(first, last + 1):
                if out[i] is None:
                    out[i] = status
                    todo -= 1
            pos = max(b.end, lo + span * (last + 1) // used)  # the start of the next cell
    if todo:  # every byte has a status: a cell with none of the worse ones is all the mildest
        mildest = SEVERITY[-1]
        out[:used] = [mildest if c is None else c for c in out[:used]]
    return out


def block_map(m: RescueMap, width: int, rows: int) -> list[Text]:
    """Draw the map as `rows` lines of `width` cells; each cell shows the worst status it covers.

    The cell holding the current position keeps its character and is drawn in reverse video (an
    attribute, so it shows with NO_COLOR too).  A map smaller than the grid gets one cell per byte
    and blank cells after it.  See legend() for the line explaining the characters.
    """
    if width < 1 or rows < 1:
        raise ValueError("width and rows must be >= 1")
    cells = width * rows
    statuses = cell_statuses(m, cells)
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
            style = STYLE[status] + (f" {CURRENT_STYLE}" if i == current else "")
            line.append(CELL_CHAR[status], style=style)
        lines.append(line)
    return lines


def legend(bytes_per_cell: int | None = None) -> Text:
    """One line naming each cell's character and colour, and optionally how many bytes a cell covers."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for status in LEGEND_ORDER:
        text.append(CELL_CHAR[status], style=STYLE[status])
        text.append(f" {LABEL[status]}  ")
    text.append(CELL_CHAR[Status.FINISHED], style=f"{STYLE[Status.FINISHED]} {CURRENT_STYLE}")
    text.append(" current position (reverse video)")
    if bytes_per_cell is not None:
        text.append(f"  (1 cell = {fmt_bytes(bytes_per_cell, digits=6, truncate=True)})")
    return text
