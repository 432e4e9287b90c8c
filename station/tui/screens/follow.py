"""One session of the store, watched: live while another process runs it, else as it ended.

A thread worker tails its events.jsonl and re-reads its mapfile whenever the file changes
(the running process saves it every few seconds), with what the rescue learned as kept beside
it (the head map, h), then hands them to the UI thread.  The map object it hands over is never
changed again, so zooming reads it safely on the UI thread.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Footer, Header, Static

from station.core.events import Event, Progress
from station.core.session import Session
from station.rescue.knowledge import Knowledge
from station.rescue.learnedfile import load_learned
from station.rescue.mapfile import MapfileError, read_mapfile
from station.rescue.rescuemap import RescueMap
from station.tui.markup import safe
from station.tui.screens.base import StationScreen
from station.tui.screens.fit import fit
from station.tui.widgets.counters import Counters
from station.tui.widgets.event_log import EventLog
from station.tui.widgets.sector_map import SectorMap
from station.tui.widgets.speed_chart import Curve, SpeedChart
from station.views.events import describe
from station.views.images import panel_lines
from station.views.live import EventTail, KeptHeads, MapSnapshot, SpeedSeries, shows_heads


class FollowScreen(StationScreen):
    """A session of the store: map, counters, speed and log, following it while it runs."""

    HELP_TITLE = "Session"

    BINDINGS = [
        Binding("v", "image", "Hashes & verify"),
        Binding("b", "browse", "Browse files"),
        Binding("h", "heads", "Head map"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.series = SpeedSeries()
        self.progress: Progress | None = None
        self.map: RescueMap | None = None
        self.heads = KeptHeads()
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        r = self.session.record
        yield Header()
        with Horizontal(id="top"):
            with Vertical(id="map-pane"):
                name = r.source.model or r.source.path
                title = safe("[b]$name → $dest[/b]  session $id", name=name, dest=r.dest, id=self.session.id)
                yield Static(title, id="job-title")
                yield SectorMap(r.source.size or 0, glyphs=self.station.map_glyphs, id="map")
                yield Static("", id="map-caption")
            with Vertical(id="side"):
                yield Counters(id="counters")
                yield Static("", id="follow-state")
        with Horizontal(id="bottom"):
            yield SpeedChart(id="chart")
            yield EventLog(id="log")
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        fit(self)

    def on_mount(self) -> None:
        fit(self)
        self.query_one(SectorMap).focus()
        self.watch_session()

    def on_unmount(self) -> None:
        self._stop.set()

    @work(thread=True, exclusive=True, group="follow")
    def watch_session(self) -> None:
        interval = self.services.follow_interval
        tail = EventTail(self.session.dir / "events.jsonl")
        mapfile = self.session.record.mapfile
        map_stamp = None
        while not self._stop.is_set():
            events = tail.poll()
            rmap, knowledge = None, None
            try:
                st = os.stat(mapfile) if mapfile else None
            except OSError:
                st = None
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino) if st else None
            if stamp is not None and stamp != map_stamp:
                try:
                    rmap = read_mapfile(Path(mapfile))
                    map_stamp = stamp
                    knowledge = Knowledge.from_kept(load_learned(mapfile)[0])  # (kept with each save)
                except (MapfileError, OSError):
                    rmap = None  # caught mid-replace or damaged: try again next time
            try:
                session = self.services.store.get(self.session.id)
            except (OSError, ValueError):
                session = self.session
            if events or rmap is not None or session.record != self.session.record:
                self.app.call_from_thread(self._update, events, rmap, knowledge, session)
            if session.state != "running" and not events:
                break  # over: everything is shown
            self._stop.wait(interval)

    def _update(
        self, events: list[Event], rmap: RescueMap | None, knowledge: Knowledge | None, session: Session
    ) -> None:
        if not self.is_mounted:
            return
        self.session = session
        log = self.query_one(EventLog)
        lines = []
        for e in events:
            self.series.add(e)
            if isinstance(e, Progress):
                self.progress = e
            line = describe(e)
            if line:
                lines.append(line)
        if lines:
            log.write_lines(lines)
        if rmap is not None:
            self.map = rmap  # (the knowledge of the save before, while this save's is being written)
            self.heads.update(rmap, knowledge or self.heads.knowledge)
        self.redraw()

    def redraw(self) -> None:
        smap = self.query_one(SectorMap)
        if self.map is not None:
            cells, lo, hi = smap.wanted()
            smap.show(MapSnapshot.of(self.map, cells, lo, hi))
        saved = "map as last saved" if self.session.state == "running" else "final map"
        legend = smap.legend(self.query_one("#map-caption", Static).content_size.width)
        self.query_one("#map-caption", Static).update(
            safe(
                "\n".join(legend) if len(legend) > 1 else f"{legend[0]}\n$caption ({saved})",
                caption=smap.caption(),
            )
        )
        state = self.session.state
        self.query_one(Counters).show(self.progress, state)
        self.refresh_bindings()  # `v` once the session is over
        record = self.session.record
        res = record.reason
        image = panel_lines(None, None, record.result) if state != "running" else []
        where = [f"image {d}" for d in record.destinations] + (
            [f"map   {record.mapfile}"] if record.mapfile else []
        )
        self.query_one("#follow-state", Static).update(
            Content(
                f"state: {state}"
                + (f"\n{res}" if res else "")
                + f"\npid {record.pid}"
                + "".join(f"\n{line}" for line in [*where, *image])
            )
            + (safe("\n[dim]v: hashes and verify[/]") if self._has_image() else Content())
        )
        self.query_one(SpeedChart).set_curves([Curve(self.series, "session")])

    def on_sector_map_view_changed(self, event: SectorMap.ViewChanged) -> None:
        self.redraw()

    def on_sector_map_style_changed(self, event: SectorMap.StyleChanged) -> None:
        self.station.map_glyphs = event.glyphs
        self.redraw()

    def _has_image(self) -> bool:
        result = self.session.record.result
        return self.session.state != "running" and result is not None and result.image is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`v` is offered for a session over that left an image, `h` once the rescue kept
        something a head map shows."""
        if action == "heads":
            return shows_heads(self.heads.knowledge)
        return self._has_image() if action == "image" else True

    def action_heads(self) -> None:
        from station.tui.screens.heads import HeadsScreen

        if shows_heads(self.heads.knowledge):
            self.app.push_screen(HeadsScreen(f"session {self.session.id}", self.heads, lambda: True))

    def action_browse(self) -> None:
        """The session's image, its files; live (the map as last saved) while it runs."""
        from station.core.record import JobKind
        from station.tui.screens.browse import BrowseScreen, session_running

        r, sid = self.session.record, self.session.id
        if r.kind != JobKind.IMAGING or not r.dest or r.method != "engine":
            self.notify("this session wrote no image here to browse", severity="warning")
            return
        running = session_running(self.services.store, sid)
        self.app.push_screen(
            BrowseScreen(r.dest, r.mapfile, running=running, title=f"session {sid}: {r.dest}")
        )

    def action_image(self) -> None:
        from station.tui.screens.image import ImageScreen

        if self._has_image():
            self.app.push_screen(ImageScreen(self.session.record, self.services.store))
