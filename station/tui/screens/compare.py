"""Sessions side by side: method, time, speed, rescued, errors, and their speed curves overlaid.

Each session has a colour and a marker (1, 2, 3...) on its curve, in the legend and in the table,
so the curves are told apart without colour.  Sessions of different sources (drives, images) are
said to be so: their figures compare drives as much as methods.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label

from station.core.session import Session
from station.core.units import fmt_bytes, fmt_duration, fmt_percent, fmt_rate
from station.tui.markup import plain
from station.tui.widgets.speed_chart import COLOURS, MARKERS, Curve, SpeedChart
from station.views.live import SessionFigures, session_figures
from station.views.sessions import method_text


class CompareScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, sessions: list[Session]) -> None:
        super().__init__()
        self.sessions = sessions
        self.figures: list[SessionFigures] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(f"Comparing {len(self.sessions)} sessions", classes="section")
        sources = source_names(self.sessions)
        if len(sources) > 1:
            said = "; ".join(sources)
            yield Label(
                f"These sessions read different sources ({said}): the figures compare the drives as well"
                " as the methods.",
                id="compare-sources",
                classes="detail warning",
                markup=False,
            )
        yield DataTable(id="compare", cursor_type="row", zebra_stripes=True)
        yield Label("Speed over time (each session from its own start)", classes="section")
        yield SpeedChart(id="compare-chart", legend=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (
            ("curve", " "), ("id", "session"), ("method", "method"), ("state", "state"), ("time", "time"),
            ("speed", "average speed"), ("rescued", "rescued"), ("bad", "bad"), ("errors", "read errors"),
        ):  # fmt: skip
            table.add_column(label, key=key)
        self.load()

    @work(thread=True, exclusive=True, group="compare")
    def load(self) -> None:
        figures = [session_figures(s) for s in self.sessions]  # reads every event log: off the UI thread
        self.app.call_from_thread(self._show, figures)

    def _show(self, figures: list[SessionFigures]) -> None:
        self.figures = figures
        table = self.query_one(DataTable)
        curves = []
        for i, (f, s) in enumerate(zip(figures, self.sessions, strict=True)):
            colour, marker = COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]
            curves.append(Curve(f.series, f.id, colour, marker))
            table.add_row(
                plain(f"{marker} ━━", colour), f.id, plain(method_text(s.record)), plain(f.state),
                fmt_duration(f.elapsed), fmt_rate(f.average_rate),
                f"{fmt_bytes(f.rescued)} ({fmt_percent(f.rescued, f.size)})",
                fmt_bytes(f.bad), str(f.read_errors), key=f.id,
            )  # fmt: skip
        self.query_one(SpeedChart).set_curves(curves)


def source_names(sessions: list[Session]) -> list[str]:
    """The distinct sources of the sessions, in words (a drive by its serial, else its path)."""
    names: dict[tuple, str] = {}
    for session in sessions:
        src = session.record.source
        key = ("serial", src.serial) if src.serial else ("path", src.path, src.size)
        names.setdefault(key, " ".join(x for x in (src.model or src.path, src.serial) if x) or "?")
    return list(names.values())
