"""Sessions: the history from the session store, running ones followed live, and picking for comparison.

Sessions of other processes (`station image` in another terminal) are found by re-listing the
store and followed by tailing their events.jsonl, in a thread worker that sleeps on an event
between polls: the UI thread never reads a file here.
"""

from __future__ import annotations

import threading
import time

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Label, Static

from station.core.events import Progress
from station.core.session import Session
from station.core.units import fmt_bytes, fmt_duration, fmt_percent
from station.tui.markup import plain
from station.tui.screens.base import StationScreen
from station.tui.screens.fit import elide
from station.views.live import EventTail
from station.views.sessions import method_text

RELIST_EVERY = 2.0  # seconds between looks for new sessions


COLUMNS = (
    ("mark", " "),
    ("id", "session"),
    ("started", "started"),
    ("state", "state"),
    ("rescued", "rescued"),
    ("errors", "errors"),
    ("elapsed", "time"),
    ("method", "method"),
    ("source", "source"),
    ("dest", "destination"),
)  # fmt: skip  (the figures before the paths: a long path never pushes them off the screen)
FIGURES_WIDTH = 99  # the columns before the method, with their padding
PATH_WIDTH = 44  # a path longer than this keeps its start and its file name, "…" between


def short(text: str, width: int = PATH_WIDTH) -> str:
    """`text` in at most `width` characters: a path keeps its start and its end (a file name),
    words (a method, a model) their start."""
    if text.startswith("/") or len(text) <= width:
        return elide(text, width)
    return text[: max(width - 1, 0)] + "…"


def text_widths(screen_width: int) -> tuple[int, int, int]:
    """The widths of the method, source and destination columns on a screen this wide: what the
    figures leave, so that the table fits without scrolling sideways."""
    room = max(screen_width - FIGURES_WIDTH, 36)
    method, source = max(10, room // 4), max(10, room * 3 // 10)
    return method, source, max(room - method - source, 14)


class SessionRow:
    """What the table shows of one session; `progress` is the latest followed snapshot."""

    def __init__(self, session: Session, progress: Progress | None = None) -> None:
        self.session = session
        self.progress = progress

    def cells(self, marked: bool, widths: tuple[int, int, int] = (32, PATH_WIDTH, PATH_WIDTH)) -> tuple:
        s, r = self.session, self.session.record
        p = self.progress
        now = r.result_so_far(p)
        size, rescued, errors = now.size or 0, now.rescued, now.read_errors
        state = s.state
        colour = {"running": "green", "finished": "bold green", "interrupted": "red", "failed": "red"}.get(
            state, ""
        )
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started or 0))
        return (
            "●" if marked else " ",
            s.id,
            when,
            plain(state, colour),
            "-" if rescued is None else f"{fmt_bytes(rescued)} ({fmt_percent(rescued, size)})",
            "-" if errors is None else str(errors),
            fmt_duration(p.elapsed) if p else "-",
            plain(short(method_text(r), widths[0])),
            plain(short(r.source.model or r.source.path or "?", widths[1])),
            plain(short(r.dest or "?", widths[2])),
        )


class SessionsScreen(StationScreen):
    """All sessions, newest first."""

    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("r", "reload", "Reload"),
        Binding("escape", "app.devices", "Devices"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, SessionRow] = {}
        self.order: list[str] = []
        self.marked: set[str] = set()
        self.widths = text_widths(160)
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(
            "Sessions (running ones are followed live; space marks for comparison)", classes="section"
        )
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Static("reading the session store…", id="sessions-note", classes="detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        table.focus()
        self.follow()

    def on_unmount(self) -> None:
        self._stop.set()

    def on_resize(self) -> None:
        if self.rows and text_widths(self.size.width) != self.widths:
            rows, self.order = [self.rows[sid] for sid in self.order], []
            self._show(rows)  # every row again, its paths cut to the new widths

    # -- the follower (a thread worker) ----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="follow-sessions")
    def follow(self) -> None:
        """The records first (shown at once), then each one's latest counters from the end of its
        log (newest sessions first, shown as they come), then running sessions followed live."""
        store = self.services.store
        interval = self.services.follow_interval
        stop = self._stop
        tails: dict[str, EventTail] = {}
        latest: dict[str, Progress] = {}
        known: dict[str, Session] = {}

        def newest() -> list[str]:
            return sorted(known, key=lambda sid: (known[sid].record.started or 0, sid), reverse=True)

        def show() -> None:
            rows = [SessionRow(known[sid], latest.get(sid)) for sid in newest()]
            self.app.call_from_thread(self._show, rows)

        next_list = 0.0
        while not stop.is_set():
            now = time.monotonic()
            changed = False
            if now >= next_list:
                next_list = now + RELIST_EVERY
                for s in store.list():
                    old = known.get(s.id)
                    if old is None or old.record != s.record:
                        known[s.id] = s
                        changed = True
                if changed:
                    show()  # the records alone: a table at once, the figures follow
                    changed = False
            shown_at = time.monotonic()
            for sid in newest():
                if stop.is_set():
                    return
                s = known[sid]
                if sid not in tails:
                    tails[sid] = EventTail(s.dir / "events.jsonl")
                    p = tails[sid].skip_to_end()  # the last counters, not the whole history
                elif s.record.state == "running":
                    p = next((e for e in reversed(tails[sid].poll()) if isinstance(e, Progress)), None)
                else:
                    continue
                if p is not None:
                    latest[sid] = p
                    changed = True
                if changed and time.monotonic() - shown_at > 0.25:  # hundreds of logs: show as they come
                    show()
                    changed, shown_at = False, time.monotonic()
            if changed:
                show()
            stop.wait(interval)

    def _show(self, rows: list[SessionRow]) -> None:
        if not self.is_mounted:
            return
        table = self.query_one(DataTable)
        ids = [r.session.id for r in rows]
        self.rows = {r.session.id: r for r in rows}
        if ids != self.order:
            keep = (
                self.order[table.cursor_row]
                if self.order and 0 <= table.cursor_row < len(self.order)
                else None
            )
            table.clear(columns=True)  # the text columns' widths follow the screen's
            for key, label in COLUMNS:
                table.add_column(label, key=key)
            widths = self.widths = text_widths(self.size.width)
            for r in rows:
                table.add_row(*r.cells(r.session.id in self.marked, widths), key=r.session.id)
            self.order = ids
            if keep in ids:
                table.move_cursor(row=ids.index(keep))
        else:
            for r in rows:
                cells = r.cells(r.session.id in self.marked, self.widths)
                for (key, _), value in zip(COLUMNS, cells, strict=True):
                    table.update_cell(r.session.id, key, value)
        note = self.query_one("#sessions-note", Static)
        note.update("no sessions yet" if not rows else f"{len(rows)} sessions, {len(self.marked)} marked")

    # -- keys -----------------------------------------------------------------------------------------------

    def highlighted(self) -> SessionRow | None:
        table = self.query_one(DataTable)
        if not self.order or not 0 <= table.cursor_row < len(self.order):
            return None
        return self.rows.get(self.order[table.cursor_row])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        from station.tui.screens.follow import FollowScreen

        row = self.highlighted()
        if row is None:
            return
        live = self.station.live
        if live is not None and live.job.session is not None and live.job.session.id == row.session.id:
            self.station.action_live()  # this app's own job: its live screen
            return
        self.app.push_screen(FollowScreen(row.session))

    def action_mark(self) -> None:
        row = self.highlighted()
        if row is None:
            return
        sid = row.session.id
        self.marked.symmetric_difference_update({sid})
        self.query_one(DataTable).update_cell(sid, "mark", "●" if sid in self.marked else " ")
        self.query_one("#sessions-note", Static).update(
            f"{len(self.rows)} sessions, {len(self.marked)} marked"
        )

    def action_compare(self) -> None:
        from station.tui.screens.compare import CompareScreen

        ids = [sid for sid in self.order if sid in self.marked]
        if not ids:
            row = self.highlighted()
            ids = [row.session.id] if row else []
        if not ids:
            self.notify("no sessions to compare", severity="warning")
            return
        self.app.push_screen(CompareScreen([self.rows[sid].session for sid in ids]))

    def action_reload(self) -> None:
        self.order = []  # redraw every row at the next poll
        self._stop.set()
        self._stop = threading.Event()
        self.follow()
