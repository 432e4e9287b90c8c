"""The live session: sector map, speed chart, counters, SMART, event log; pause, resume, stop, options.

The screen redraws four times a second from the LiveJob the app keeps up to date (and at once
on pauses, phases and the end), whatever the engine is doing: a hung read still ticks the
"last good read" counter.
"""

from __future__ import annotations

import dataclasses

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Footer, Header, Static

from station.core.record import SmartRecord, SmartSnapshot
from station.tui.markup import safe
from station.tui.runner import LiveJob
from station.tui.screens.base import StationScreen
from station.tui.screens.fit import elide, fit, fit_title
from station.tui.widgets.counters import Counters
from station.tui.widgets.event_log import EventLog
from station.tui.widgets.sector_map import SectorMap
from station.tui.widgets.speed_chart import Curve, SpeedChart
from station.views.images import panel_lines
from station.views.live import shows_heads

REFRESH = 0.25  # seconds: the screen updates at least 4 times a second
LAUNCH_DELAY = 0.2  # seconds between showing a new job's screen and starting its engine


def ask_stop(app: App, live: LiveJob) -> None:
    """Stop a running job after a confirmation (its map is saved as it stops)."""
    from station.tui.screens.dialogs import ConfirmScreen

    if not live.running or live.state == "stopping":
        return

    def answered(yes: bool | None) -> None:
        if yes:
            live.stop()
            app.notify("stopping: the map is saved, rerun the same session to resume")

    app.push_screen(
        ConfirmScreen("Stop this job? Its map is saved; it can be resumed.", yes="Stop", no="Go on"), answered
    )


def smart_markup(live: LiveJob) -> Content:
    """The session's SMART: its baseline verdict and reasons, then the latest poll's counters."""
    rec = live.smart or SmartRecord()
    if rec.state != "on":
        return safe("[dim]SMART: off for this session ($why)[/]", why=rec.why_off or "not asked for")
    colour = {"GOOD": "green", "WARNING": "yellow", "FAILING": "bold red"}
    before = rec.before or SmartSnapshot()
    verdict = before.verdict
    lines = [safe(f"SMART before: [{colour.get(verdict, 'dim')}]$v[/]", v=verdict)]
    lines += [safe("  • $r", r=r) for r in before.reasons[:3]]
    polled = live.smart_last
    if polled is None:
        limits = rec.limits or {}
        lines.append(safe(f"[dim]polls every {limits.get('interval', 0):g} s[/]"))
    else:
        a = polled.attributes
        shown = ", ".join(
            f"{label} {a[key]}"
            for key, label in (("temperature_c", "°C"), ("pending_sectors", "pending"),
                               ("reallocated_sectors", "reallocated"))
            if a.get(key) is not None
        )  # fmt: skip
        lines.append(
            safe(f"now: [{colour.get(polled.verdict, 'dim')}]$v[/] $shown ($n polls)",
                 v=polled.verdict, shown=shown, n=live.smart_polls)
        )  # fmt: skip
    return Content("\n").join(lines)


def outcome_text(live: LiveJob, width: int = 0) -> Content:
    """How the job ended, in words, and where its image and map are (the first thing read after);
    a path longer than two lines of `width` keeps its start and its file name."""

    def where(path: str) -> str:
        return elide(path, 2 * width - 7) if width > 12 else path

    if live.running:
        return Content()
    colour = {"finished": "bold green", "stopped": "bold yellow"}.get(live.state, "bold red")
    reason = live.result.reason if live.result is not None else (str(live.error) if live.error else "")
    lines = [
        safe(
            f"[{colour}]$state[/]" + (": $reason" if reason else ""), state=live.state.upper(), reason=reason
        )
    ]
    session = live.job.session
    record = session.record if session is not None else None
    if record is not None:
        lines += [safe("[dim]image[/] $path", path=where(d)) for d in record.destinations]
        if record.mapfile:
            lines.append(safe("[dim]map[/]   $path", path=where(record.mapfile)))
    if live.state == "stopped":
        lines.append(safe("[dim]the map is saved: the same session again resumes it[/]"))
    return Content("\n").join(lines)


def state_markup(live: LiveJob) -> Content:
    colour = {
        "running": "green", "paused": "yellow", "stopping": "yellow", "finished": "bold green",
        "stopped": "yellow", "failed": "bold red", "starting": "dim",
    }.get(live.state, "")  # fmt: skip
    text = safe(f"[{colour}]$state[/]" if colour else "$state", state=live.state.upper())
    if live.state == "paused":
        reasons = live.control.reasons()
        if reasons:
            text += Content(f" ({', '.join(reasons)})")
    return text


class LiveScreen(StationScreen):
    """One job, live."""

    HELP_TITLE = "Live session"

    AUTO_FOCUS = "SectorMap"

    BINDINGS = [
        Binding("p,space", "pause_resume", "Pause/Resume"),
        Binding("x", "stop", "Stop"),
        Binding("o", "options", "Options"),
        Binding("v", "image", "Hashes & verify"),
        Binding("h", "heads", "Head map"),
        Binding("b", "browse", "Browse files", show=False),  # also "Browse files" in ctrl+p
        Binding("escape", "app.devices", "Devices"),
    ]

    def __init__(self, live: LiveJob) -> None:
        super().__init__()
        self.live = live
        self._logged = 0
        self._smart_text = Content()
        self._shown: dict[str, object] = {}  # what each part last drew

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            with Vertical(id="map-pane"):
                yield Static("", id="job-title")
                yield SectorMap(self.live.job.rmap.size, glyphs=self.station.map_glyphs, id="map")
                yield Static("", id="map-caption")
            with Vertical(id="side"):
                yield Static("", id="outcome")
                yield Counters(id="counters")
                yield Static("", id="smart")
        with Horizontal(id="bottom"):
            yield SpeedChart(id="chart")
            yield EventLog(id="log")
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        fit(self)

    def on_mount(self) -> None:
        fit(self)
        self.set_interval(REFRESH, self._tick)
        self._smart()
        self.refresh_view()
        # The engine starts once the screen is drawn and its footer composed: laying a new screen
        # out is the costliest thing the UI does, and it need not compete with the first reads.
        self.set_timer(LAUNCH_DELAY, lambda: self.station.launch(self.live))

    # -- SMART readings ---------------------------------------------------------------------------

    def _smart(self) -> None:
        """What the session itself reads of SMART (station.health.watch): no second smartctl here."""
        live = self.live
        drive = live.drive
        if drive is None:
            drive = next((d for d in self.services.scan() if d.path == live.source_path), None)
            live.drive = drive
        if drive is not None and drive.kind == "imager":
            self._smart_text = safe("[dim]SMART: not read by the station (the drive is on the imager)[/]")
        elif drive is None or drive.kind != "block":
            self._smart_text = safe("[dim]SMART: none (virtual drive)[/]")
        elif live.smart is None:
            self._smart_text = Content("SMART: reading…")
        else:
            self._smart_text = smart_markup(live)

    # -- drawing --------------------------------------------------------------------------------------

    def _tick(self) -> None:
        # Every tick, whatever the engine does: progress arrives about as often, and drawing on
        # the clock rather than on each message keeps the UI's share of the CPU steady and small
        # (a burst of phase changes is one redraw), while a hung read still ticks its counters.
        self.refresh_view()

    def refresh_view(self) -> None:
        """Bring every part up to date; parts whose content did not change are not redrawn.

        The engine shares the CPU (and Python's GIL) with this thread: a frame that redraws
        nothing new costs it nothing (see docs/architecture.md, "Performance").
        """
        live = self.live
        maps = self.query(SectorMap)
        if not maps:  # the app is closing: the screen's parts are gone (a job ending meanwhile)
            return
        smap = maps.first()
        cells, lo, hi = smap.wanted()
        live.probe.want(cells, lo, hi)
        snap = live.snapshot
        if snap is None or len(snap.cells) != cells or (snap.lo, snap.hi) != (lo, hi):
            live.refresh_snapshot()  # only takes one where the engine cannot be changing the map
        smap.show(live.snapshot)
        state = state_markup(live)
        box = self.query_one("#job-title", Static).content_size
        room = box.width - len(state.plain) - 2
        if box.height >= 2 and len(live.title) > room and " → " in live.title:  # tiny: the destination below
            source, dest = live.title.rsplit(" → ", 1)
            cut = source if len(source) <= room else source[: max(room - 1, 1)] + "…"
            title = f"{cut}\n→ {fit_title(dest, max(box.width - 2, 4))}"
        else:
            title = fit_title(live.title, max(room, 8))
        self._set("#job-title", state + safe("  [b]$title[/b]", title=title))
        if live.drive is not None and live.drive.kind == "block":
            self._smart()
        slow = live.snapshot is not None and any(live.snapshot.slow)
        legend = smap.legend(self.query_one("#map-caption", Static).content_size.width, slow=slow)
        caption = "\n".join(legend) if len(legend) > 1 else f"{legend[0]}\n$caption"  # the legend first
        self._set("#map-caption", safe(caption, caption=smap.caption()))
        slg = live.since_last_good()
        counters = (live.progress, live.state, None if slg is None else round(slg))
        if counters != self._shown.get("counters"):
            self._shown["counters"] = counters
            self.query_one(Counters).show(live.progress, live.state, slg)
        learned = self.check_action("heads", ())
        if self._shown.get("over") != (not live.running, learned):
            over_before = self._shown.get("over", (None,))[0]
            self._shown["over"] = (not live.running, learned)
            self.refresh_bindings()  # `v` (hashes and verify) once the job is over, `h` once learned
            if over_before != (not live.running):
                outcome = self.query_one("#outcome", Static)
                outcome.update(outcome_text(live, self.query_one("#side").content_size.width))
                outcome.display = not live.running  # over: laid out once, the job no longer competes
        image = self._image_text()  # under SMART, in the same part: nothing shown until there is something
        self._set("#smart", self._smart_text + (Content("\n\n") + image if image else Content()))
        series = live.series
        chart = (len(series.times), series.last_t, len(series.errors))
        if chart != self._shown.get("chart"):
            self._shown["chart"] = chart
            self.query_one(SpeedChart).set_curves([Curve(series, "this job")])
        total = live.log_count
        if total > self._logged:
            self.query_one(EventLog).write_lines(list(live.log)[-min(total - self._logged, len(live.log)) :])
            self._logged = total

    def _image_text(self) -> Content:
        """Compression and hashing while imaging; the hashes (v: all of them, and verify) after."""
        live = self.live
        session = live.job.session
        result = session.record.result if session is not None and not live.running else None
        lines = [Content(line) for line in panel_lines(live.image, live.task, result)]
        if result is not None and result.image is not None:
            lines.append(safe("[dim]v: hashes and verify[/]"))
        return Content("\n").join(lines)

    def _set(self, selector: str, markup: Content) -> None:
        """Update a one-line Static if its text changed (no layout: their sizes are fixed)."""
        if self._shown.get(selector) != markup:
            self._shown[selector] = markup
            self.query_one(selector, Static).update(markup, layout=False)

    def on_sector_map_view_changed(self, event: SectorMap.ViewChanged) -> None:
        self.refresh_view()

    def on_sector_map_style_changed(self, event: SectorMap.StyleChanged) -> None:
        self.station.map_glyphs = event.glyphs  # the next map (another session, a followed one) too
        self.refresh_view()

    # -- steering -------------------------------------------------------------------------------------

    def action_pause_resume(self) -> None:
        live = self.live
        if not live.running:
            self.notify("the job is over", severity="warning")
        elif live.control.paused:
            held = live.resume()
            if held:
                self.notify("still held: " + "; ".join(held), severity="warning", timeout=8, markup=False)
            else:
                self.notify("resuming")
        else:
            live.pause()
            self.notify("pausing after the current read; the map is saved")
        self.refresh_view()

    def action_stop(self) -> None:
        ask_stop(self.app, self.live)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`v` is offered once the job is over and left an image."""
        if action == "image":
            session = self.live.job.session
            result = session.record.result if session is not None else None
            return not self.live.running and result is not None and result.image is not None
        if action == "heads":  # offered once the engine has learned something a head map shows
            knowledge = getattr(self.live.job, "knowledge", None)
            return shows_heads(knowledge() if knowledge is not None else None)
        return True

    def action_browse(self) -> None:
        """The image's files, live while the rescue runs (the map as last saved)."""
        from station.jobs.imaging import ImageJob
        from station.tui.screens.browse import BrowseScreen

        job = self.live.job
        if not isinstance(job, ImageJob):
            self.notify("the image is on the imager's target: nothing here to browse", severity="warning")
            return
        live = self.live
        title = f"{live.title}: files"
        self.app.push_screen(BrowseScreen(job.dest, job.map_path, running=lambda: live.running, title=title))

    def action_image(self) -> None:
        from station.tui.screens.image import ImageScreen

        session = self.live.job.session
        if self.live.running or session is None or session.record.result is None:
            return
        self.app.push_screen(ImageScreen(session.record, self.services.store))

    def action_heads(self) -> None:
        from station.tui.screens.heads import HeadsScreen

        live = self.live

        def still() -> bool:  # the engine is not changing the map now: the screen may take it
            return live.done.is_set() or live.state == "paused"

        self.app.push_screen(HeadsScreen(live.title, live.heads, still))

    def action_options(self) -> None:
        from station.tui.screens.dialogs import OptionsScreen

        live = self.live
        if not live.running:
            self.notify("the job is over", severity="warning")
            return
        options = live.options
        if options is None:
            self.notify("a hardware imager runs its own strategy: no options to change", severity="warning")
            return

        def chosen(changes: dict | None) -> None:
            if not changes:
                return
            try:
                live.control.set_options(**changes)
            except ValueError as e:
                self.notify(str(e), severity="error", markup=False)
                return
            live.options = dataclasses.replace(options, **changes)
            said = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(changes.items()))
            self.notify(f"from the next pass: {said}", markup=False)

        self.app.push_screen(OptionsScreen(options), chosen)
