"""A rescue map as cells: the worst status of each equal stretch of bytes, and the statuses' names.

Every picture of a map is drawn from here: `station map`'s block map and the workstation's
sector map (station.views), and the report's map (station.report), which sits below the views
and so cannot take it from them.  Pure functions over a RescueMap, no drawing.
"""

from __future__ import annotations

from station.rescue.rescuemap import RescueMap, Status

# Worst first: a cell showing any byte of an earlier status shows that status.
SEVERITY: tuple[Status, ...] = (
    Status.BAD_SECTOR,
    Status.NON_SCRAPED,
    Status.NON_TRIMMED,
    Status.NON_TRIED,
    Status.FINISHED,
)

# The order ddrescuelog -t lists the statuses in, and the order of the legend.
REPORT_ORDER = (Status.NON_TRIED, Status.FINISHED, Status.NON_TRIMMED, Status.NON_SCRAPED, Status.BAD_SECTOR)
# Areas the engine found slow (readable, slowly: station.rescue.knowledge), drawn over a rescued or
# non-tried cell in every view: their name and their solid colour (the sector map, the report).
SLOW_LABEL = "slow"
SLOW_SOLID = "#c040c0"

LEGEND_ORDER = (Status.FINISHED, Status.NON_TRIED, Status.NON_TRIMMED, Status.NON_SCRAPED, Status.BAD_SECTOR)
LABEL: dict[Status, str] = {
    Status.NON_TRIED: "non-tried",
    Status.FINISHED: "rescued",
    Status.NON_TRIMMED: "non-trimmed",
    Status.NON_SCRAPED: "non-scraped",
    Status.BAD_SECTOR: "bad-sector",
}


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
    is the one place where cells are aggregated: the CLI's block map, the TUI's sector map and
    the report's picture all draw from it.  Statuses are laid on worst first, one block at a
    time, and each search resumes after the last cell it marked: at most cells + 1 lookups per
    status, and one for a status held by a single large block, so a live view can afford it
    several times a second.
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


def slow_cells(
    size: int, cells: int, slow: list[tuple[int, int]], lo: int = 0, hi: int | None = None
) -> list[bool]:
    """Whether each of `cells` equal cells over [lo, hi) holds any byte of the sorted, disjoint
    `slow` ranges (engine knowledge drawn over the statuses: station.rescue.knowledge)."""
    hi = size if hi is None else min(hi, size)
    lo = max(0, min(lo, hi))
    span = hi - lo
    out = [False] * cells
    used = min(cells, span)
    if used <= 0:
        return out
    for a, b in slow:
        a, b = max(a, lo), min(b, hi)
        if b <= a:
            continue
        first = ((a - lo + 1) * used - 1) // span
        last = ((b - lo) * used - 1) // span
        for i in range(first, last + 1):
            out[i] = True
    return out
