"""A restore running (or over): one row per target — progress, rate, state — and each one's check.

Drawn from the LiveJob the app keeps up to date (its TargetBoard folds the job's TargetsProgress
and TargetState events) four times a second; once the job is over, the verification results come
from the session record (what each target holds, compared with the image's hash).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import DataTable, Footer, Header, Static

from station.core.record import TargetResult
from station.core.units import fmt_bytes, fmt_percent, fmt_rate
from station.tui.markup import plain, safe
from station.tui.runner import LiveJob
from station.tui.screens.base import StationScreen
from station.tui.screens.live import LAUNCH_DELAY, REFRESH, ask_stop, state_markup
from station.tui.widgets.event_log import EventLog
from station.views.targets import TargetRow

_COLUMNS = (("target", "target"), ("state", "state"), ("done", "done"), ("rate", "rate"))


def row_cells(r: TargetRow) -> tuple:
    colour = "red" if r.bad else "green" if r.state == "verified" else ""
    done = f"{fmt_bytes(r.done)} of {fmt_bytes(r.total)} ({fmt_percent(r.done, r.total)})"
    return plain(r.target), plain(r.state, colour), done, fmt_rate(r.rate)


def result_line(t: TargetResult) -> Content:
    """One target's end, in words: its state and what its check found (data never read as markup)."""
    c = t.check
    who = " ".join(x for x in (t.model, t.serial) if x)
    head = f"{t.path}" + (f" ({who})" if who else "") + f": {t.state}" + (f", {t.error}" if t.error else "")
    if c is None or c.state == "skipped":
        return Content(head + (f"; not checked ({c.detail})" if c and c.detail else ""))
    if c.state == "ok":
        said = f"{c.algorithm} {c.actual} = the image's ({c.expected_from})"
        return safe("$head; [green]verified[/]: $said", head=head, said=said)
    if c.state == "mismatch":
        where = ", ".join(f"{a}-{b}" for a, b in (c.bad_ranges or [])[:3])
        said = f"{c.algorithm} {c.actual} ≠ {c.expected}" + (f" at bytes {where}" if where else "")
        return safe("$head; [bold red]MISMATCH[/]: $said", head=head, said=said)
    return safe("$head; [red]$state[/]: $detail", head=head, state=c.state, detail=c.detail or "")


class DeployScreen(StationScreen):
    """One restore, live: a row per target, then their checks."""

    BINDINGS = [
        Binding("x", "stop", "Stop"),
        Binding("p,space", "pause_resume", "Pause/Resume"),
        Binding("escape", "app.devices", "Devices"),
    ]

    def __init__(self, live: LiveJob) -> None:
        super().__init__()
        self.live = live
        self._logged = 0
        self._results_shown = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="job-title")
        yield Static("", id="deploy-progress", classes="detail")
        yield DataTable(id="deploy-targets", cursor_type="row", zebra_stripes=True)
        yield Static("", id="deploy-results", classes="detail")
        yield EventLog(id="deploy-log")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#deploy-targets", DataTable)
        for key, label in _COLUMNS:
            table.add_column(label, key=key)
        self.set_interval(REFRESH, self.refresh_view)
        self.refresh_view()
        self.set_timer(LAUNCH_DELAY, lambda: self.station.launch(self.live))

    def refresh_view(self) -> None:
        live = self.live
        self.query_one("#job-title", Static).update(
            state_markup(live) + safe("  [b]$title[/b]", title=live.title)
        )
        p = live.progress
        if p is not None:
            self.query_one("#deploy-progress", Static).update(
                Content(
                    f"{p.phase}: {fmt_bytes(p.pos)} of {fmt_bytes(p.size)} ({fmt_percent(p.pos, p.size)}), "
                    f"{fmt_rate(p.current_rate)}"
                )
            )
        table = self.query_one("#deploy-targets", DataTable)
        for r in live.targets.ordered():
            cells = row_cells(r)
            if r.target not in table.rows:
                table.add_row(*cells, key=r.target)
            else:
                for (key, _), value in zip(_COLUMNS, cells, strict=True):
                    table.update_cell(r.target, key, value)
        self.query_one(EventLog).write_lines(live.lines_since(self._logged))
        self._logged = live.log_count
        if live.done.is_set() and not self._results_shown:
            self._results_shown = True
            self.query_one("#deploy-results", Static).update(self.results())

    def results(self) -> Content:
        session = self.live.job.session
        targets = session.record.targets if session is not None else None
        if not targets:
            return (
                safe("[red]the job ended before any target was written[/]") if self.live.error else Content()
            )
        return Content("\n").join(result_line(t) for t in targets)

    def action_stop(self) -> None:
        ask_stop(self.app, self.live)

    def action_pause_resume(self) -> None:
        live = self.live
        if not live.running:
            self.notify("the job is over", severity="warning")
        elif live.control.paused:
            live.resume()
        else:
            live.pause()
