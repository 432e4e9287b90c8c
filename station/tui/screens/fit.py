"""How a session's screen (live or followed) fits the terminal: classes set from its size.

The sector map and the speed chart take what the counters and the log leave, so on a narrower
terminal the counters (compact: every figure in 8 lines) and the log give up width first; on a
short one the chart and the map's legend give up rows, and on a tiny one the header goes, so
that nothing important (the state, the destination, the figures, the chart, the last events)
drops off the screen.  The widths and heights themselves are in station.tcss.
"""

from __future__ import annotations

NARROW = 120  # columns under which the side pane and the log narrow
SHORT = 36  # rows under which the counters are compact and the chart lower
TINY_WIDTH, TINY_HEIGHT = 72, 24  # under either: the header goes, everything at its smallest


def size_classes(width: int, height: int) -> dict[str, bool]:
    """The screen classes for a terminal of width x height."""
    tiny = width < TINY_WIDTH or height < TINY_HEIGHT
    return {"-narrow": width < NARROW, "-short": height < SHORT, "-tiny": tiny}


def compact_counters(width: int, height: int) -> bool:
    """The counters in 8 lines rather than 17."""
    return width < NARROW or height < SHORT


def elide(text: str, width: int) -> str:
    """`text` in at most `width` characters: its start and its end (a file name) kept, "…" between."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    keep = width - 1
    head = keep // 3
    return text[:head] + "…" + text[len(text) - (keep - head) :]


def fit_title(title: str, width: int) -> str:
    """A job's "SOURCE → DEST" in `width` characters: the destination kept whole as long as it can
    be (it is where the technician's data goes), the source shortened first."""
    if len(title) <= width or " → " not in title:
        return elide(title, width)
    source, dest = title.rsplit(" → ", 1)
    room = width - len(dest) - 3
    if room >= 4:
        return f"{source[: room - 1]}… → {dest}"
    return "→ " + elide(dest, width - 2)


def fit(screen) -> None:
    """Set a session screen's size classes and its counters' form (on mount and on every resize)."""
    from station.tui.widgets.counters import Counters

    width, height = screen.size.width, screen.size.height
    for name, on in size_classes(width, height).items():
        screen.set_class(on, name)
    for counters in screen.query(Counters):
        counters.set_compact(compact_counters(width, height))
