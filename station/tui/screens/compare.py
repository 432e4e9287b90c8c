"""Sessions side by side: method, time, speed, rescued, errors, and their speed curves overlaid."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label

from station.core.session import Session
from station.core.units import fmt_bytes, fmt_duration, fmt_percent, fmt_rate
from station.tui.markup import plain
from station.tui.widgets.speed_chart import COLOURS, Curve, SpeedChart
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
            colour = COLOURS[i % len(COLOURS)]
            curves.append(Curve(f.series, f.id, colour))
            table.add_row(
                plain("━━", colour), f.id, plain(method_text(s.record)), plain(f.state),
                fmt_duration(f.elapsed), fmt_rate(f.average_rate),
                f"{fmt_bytes(f.rescued)} ({fmt_percent(f.rescued, f.size)})",
                fmt_bytes(f.bad), str(f.read_errors), key=f.id,
            )  # fmt: skip
        self.query_one(SpeedChart).set_curves(curves)
