"""The sector map, drawn as ddrescueview and HDDSuperClone draw it.

Each cell is a run of bytes showing the worst status it holds (station.views.mapview.cell_statuses,
the same aggregation as `station map`), so a single bad sector in a cell of megabytes still
shows red.  Cells are solid blocks of colour, as in ddrescueview, so that bad areas stand out
at a glance; `g` switches to the characters of `station map` (`+ . * / -`, in colour), which
read without colour too.  The current position is a ◆ on its cell (glyphs: reverse video); a
cursor cell (moved with the arrow keys) is the centre of zooming in.  The widget draws what it
is given (a MapSnapshot); whoever owns the map takes the snapshot for `wanted()`.
"""

from __future__ import annotations

from itertools import groupby

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from station.core.units import fmt_bytes
from station.rescue.rescuemap import Status
from station.views.live import MapSnapshot, Zoom
from station.views.mapview import (
    CELL_CHAR,
    LABEL,
    LEGEND_ORDER,
    SLOW_CHAR,
    SLOW_LABEL,
    SLOW_SOLID,
    SLOW_STYLE,
    SOLID,
    STYLE,
    shown,
)

_STYLES = {s: Style.parse(v) for s, v in STYLE.items()}
_SOLID = {s: Style(bgcolor=v) for s, v in SOLID.items()}
_SLOW = Style.parse(SLOW_STYLE)
_SLOW_SOLID = Style(bgcolor=SLOW_SOLID)


def _look(status: Status, slow: bool, solid: bool) -> tuple[str, Style]:
    """A cell's character and style: its status, or slow over a rescued or non-tried one."""
    char, style = shown(status, slow)
    if style == SLOW_STYLE:
        return (" ", _SLOW_SOLID) if solid else (char, _SLOW)
    return (" ", _SOLID[status]) if solid else (char, _STYLES[status])


_CURRENT = Style(reverse=True)
_CURSOR = Style(bgcolor="grey30", underline=True)
_EMPTY = Style()
CURRENT_MARK = "◆"  # the current position on a solid cell
CURSOR_MARK = "▫"  # the cursor on a solid cell
_MARK_STYLE = Style(color="white", bold=True)
SHORT_LABEL = {**LABEL, Status.BAD_SECTOR: "bad"}  # the legend's words where the full ones do not fit


class SectorMap(Widget, can_focus=True):
    """A grid of cells over a region of the map, with zoom and a cursor."""

    DEFAULT_CSS = """
    SectorMap { height: 1fr; min-height: 4; }
    """

    BINDINGS = [
        Binding("plus,equals_sign", "zoom_in", "Zoom in", key_display="+"),
        Binding("minus", "zoom_out", "Zoom out", key_display="-"),
        Binding("0", "zoom_reset", "Whole map", show=False),
        Binding("g", "glyphs", "Glyphs/colour", show=False),
        Binding("left", "cursor(-1, 0)", "Cursor left", show=False),
        Binding("right", "cursor(1, 0)", "Cursor right", show=False),
        Binding("up", "cursor(0, -1)", "Cursor up", show=False),
        Binding("down", "cursor(0, 1)", "Cursor down", show=False),
    ]

    class ViewChanged(Message):
        """The region or the number of cells changed: a new snapshot is wanted."""

        def __init__(self, sector_map: SectorMap) -> None:
            super().__init__()
            self.sector_map = sector_map

    class StyleChanged(Message):
        """Glyphs were switched on or off (`glyphs`): the owner may keep the choice for later maps."""

        def __init__(self, sector_map: SectorMap, glyphs: bool) -> None:
            super().__init__()
            self.sector_map, self.glyphs = sector_map, glyphs

    def __init__(
        self, size: int = 0, *, glyphs: bool = False, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.glyphs = glyphs  # characters in colour (colour-blind, or a terminal without colours)
        self.zoom = Zoom(size)
        self.snapshot: MapSnapshot | None = None
        self.cursor: int | None = None
        self._strips: dict[tuple[int, int], Strip] = {}  # (y, width) -> line, for the snapshot shown

    # -- what to draw ----------------------------------------------------------------------

    @property
    def columns(self) -> int:
        return max(self.content_size.width, 0)

    @property
    def cells(self) -> int:
        return self.columns * max(self.content_size.height, 0)

    def wanted(self) -> tuple[int, int, int]:
        """(cells, lo, hi): the snapshot this widget would draw now."""
        return self.cells, self.zoom.lo, self.zoom.hi or 0

    def show(self, snapshot: MapSnapshot | None) -> None:
        """Draw this snapshot (nothing to do if it is the one already shown)."""
        if snapshot is self.snapshot:
            return
        if snapshot is not None and snapshot.size != self.zoom.size:
            self.zoom = Zoom(snapshot.size)
        self.snapshot = snapshot
        self._strips.clear()
        self.refresh()

    def on_resize(self) -> None:
        self.post_message(self.ViewChanged(self))

    def render_line(self, y: int) -> Strip:
        width = self.columns
        key = (y, width)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._line(y, width)
        return strip

    def _line(self, y: int, width: int) -> Strip:
        """One row of cells; runs of cells that look alike are one segment (cheap to compose)."""
        snap = self.snapshot
        if snap is None or width == 0:
            return Strip.blank(width)
        start = y * width
        row = list(snap.cells[start : start + width])
        row += [None] * (width - len(row))
        marked = {}  # cells drawn apart from their runs: the current position and the cursor
        if snap.current is not None and start <= snap.current < start + width:
            marked[snap.current - start] = _CURRENT
        if self.has_focus and self.cursor is not None and start <= self.cursor < start + width:
            marked[self.cursor - start] = marked.get(self.cursor - start, Style()) + _CURSOR
        looks = [(s, snap.is_slow(start + i)) for i, s in enumerate(row)]
        segments: list[Segment] = []
        x = 0
        solid = not self.glyphs
        for (status, slow), run in groupby(looks):
            n = len(list(run))
            char, style = (" ", _EMPTY) if status is None else _look(status, slow, solid)
            inside = sorted(k for k in marked if x <= k < x + n)
            pos = x
            for k in inside:
                if k > pos:
                    segments.append(Segment(char * (k - pos), style))
                if solid:  # a mark drawn on the cell's colour, which it must not hide
                    mark = CURRENT_MARK if snap.current == start + k else CURSOR_MARK
                    segments.append(Segment(mark, style + _MARK_STYLE))
                else:
                    segments.append(Segment(char, style + marked[k]))
                pos = k + 1
            if x + n > pos:
                segments.append(Segment(char * (x + n - pos), style))
            x += n
        return Strip(segments, width)

    def on_focus(self) -> None:
        self._strips.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._strips.clear()
        self.refresh()

    # -- describing it -------------------------------------------------------------------------

    def caption(self) -> str:
        """One line: the region shown, bytes per cell, and the cursor cell if any."""
        snap = self.snapshot
        if snap is None:
            return "no map yet"
        where = (
            "whole drive"
            if (snap.lo, snap.hi) == (0, snap.size)
            else (f"{fmt_bytes(snap.lo)} – {fmt_bytes(snap.hi)} of {fmt_bytes(snap.size)}")
        )
        text = f"{where}, 1 cell = {fmt_bytes(snap.bytes_per_cell)}"
        if self.cursor is not None and self.cursor < len(snap.cells) and snap.cells[self.cursor] is not None:
            lo, hi = snap.cell_range(self.cursor)
            status = snap.cells[self.cursor]
            text += f"; cursor {lo:#x}–{hi:#x}: {LABEL[status]}" if status else ""
        return text

    def legend(self, width: int = 0, slow: bool = False) -> list[str]:
        """The legend as lines of markup, each at most `width` wide (0: one line, whatever its
        width): every status's colour (or character), slow (with `slow`: known slow areas over
        rescued or non-tried cells) and the current position, in full words where they fit, in
        short ones or over two lines where they do not."""
        marks = [
            f"[{STYLE[s]}]{CELL_CHAR[s]}[/]" if self.glyphs else f"[on {SOLID[s]}]  [/]" for s in LEGEND_ORDER
        ]
        mark_width = 1 if self.glyphs else 2
        position = ("[reverse] [/]", 1) if self.glyphs else (CURRENT_MARK, 1)
        hint = "[dim](g: " + ("colours" if self.glyphs else "glyphs") + ")[/]"
        slow_mark = f"[{SLOW_STYLE}]{SLOW_CHAR}[/]" if self.glyphs else f"[on {SLOW_SOLID}]  [/]"
        tries = [(LABEL, "  ", True), (LABEL, "  ", False), (SHORT_LABEL, " ", False)]
        for labels, sep, with_hint in tries:
            items = [
                (f"{m} {labels[s]}", mark_width + 1 + len(labels[s]))
                for m, s in zip(marks, LEGEND_ORDER, strict=True)
            ]
            if slow:
                items.append((f"{slow_mark} {SLOW_LABEL}", mark_width + 1 + len(SLOW_LABEL)))
            items.append((f"{position[0]} position", position[1] + 9))
            if with_hint:
                items.append((hint, 14 if not self.glyphs else 15))
            if not width or sum(n for _, n in items) + len(sep) * (len(items) - 1) <= width:
                return [sep.join(text for text, _ in items)]
        lines: list[str] = []
        line: list[str] = []
        used = 0
        for text, n in items:  # the short labels over two lines
            if line and used + 1 + n > width:
                lines.append(" ".join(line))
                line, used = [], 0
            used += n + (1 if line else 0)
            line.append(text)
        return [*lines, " ".join(line)]

    # -- keys ---------------------------------------------------------------------------------------

    def _focus_pos(self) -> int:
        snap = self.snapshot
        if snap is None:
            return 0
        if self.cursor is not None and self.cursor < len(snap.cells):
            lo, hi = snap.cell_range(self.cursor)
            return (lo + hi) // 2
        return (snap.lo + snap.hi) // 2

    def action_glyphs(self) -> None:
        """Characters in colour, or solid colour: the colour-blind choice, and back."""
        self.glyphs = not self.glyphs
        self._strips.clear()
        self.refresh()
        self.post_message(self.StyleChanged(self, self.glyphs))

    def action_zoom_in(self) -> None:
        if self.zoom.size == 0:
            return
        self.zoom.zoom_in(self._focus_pos())
        self.cursor = None
        self.post_message(self.ViewChanged(self))

    def action_zoom_out(self) -> None:
        self.zoom.zoom_out()
        self.cursor = None
        self.post_message(self.ViewChanged(self))

    def action_zoom_reset(self) -> None:
        self.zoom.reset()
        self.cursor = None
        self.post_message(self.ViewChanged(self))

    def action_cursor(self, dx: int, dy: int) -> None:
        cells, width = self.cells, self.columns
        if not cells or not width:
            return
        if self.cursor is None:
            snap = self.snapshot
            self.cursor = snap.current if snap and snap.current is not None else 0
        else:
            self.cursor = min(max(self.cursor + dx + dy * width, 0), cells - 1)
        self._strips.clear()
        self.refresh()
        self.post_message(self.ViewChanged(self))


def status_cells(snapshot: MapSnapshot, status: Status) -> int:
    """How many cells show a status (tests and captions)."""
    return sum(1 for s in snapshot.cells if s == status)
