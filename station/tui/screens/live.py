"""The live session: sector map, speed chart, counters, SMART, event log; pause, resume, stop, options.

The screen redraws four times a second from the LiveJob the app keeps up to date (and at once
on pauses, phases and the end), whatever the engine is doing: a hung read still ticks the
"last good read" counter.
"""

from __future__ import annotations

import dataclasses

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Log, Static

from station.media.drives import Drive, HealthBadge
from station.tui.runner import LiveJob
from station.tui.widgets.counters import Counters
from station.tui.widgets.sector_map import SectorMap
from station.tui.widgets.speed_chart import Curve, SpeedChart

REFRESH = 0.25  # seconds: the screen updates at least 4 times a second


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


def state_markup(live: LiveJob) -> str:
    colour = {
        "running": "green", "paused": "yellow", "stopping": "yellow", "finished": "bold green",
        "stopped": "yellow", "failed": "bold red", "starting": "dim",
    }.get(live.state, "")  # fmt: skip
    text = f"[{colour}]{live.state.upper()}[/]"
    if live.state == "paused":
        reasons = live.control.reasons()
        if reasons:
            text += f" ({', '.join(reasons)})"
    return text


class LiveScreen(Screen):
    """One job, live."""

    BINDINGS = [
        Binding("p,space", "pause_resume", "Pause/Resume"),
        Binding("x", "stop", "Stop"),
        Binding("o", "options", "Options"),
        Binding("escape", "app.devices", "Devices"),
    ]

    def __init__(self, live: LiveJob) -> None:
        super().__init__()
        self.live = live
        self._logged = 0
        self._smart_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            with Vertical(id="map-pane"):
                yield Static("", id="job-title")
                yield SectorMap(self.live.job.rmap.size, id="map")
                yield Static("", id="map-caption")
            with Vertical(id="side"):
                yield Counters(id="counters")
                yield Static("", id="smart")
        with Horizontal(id="bottom"):
            yield SpeedChart(id="chart")
            yield Log(id="log", max_lines=1000, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(REFRESH, self._tick)
        self.query_one(SectorMap).focus()
        self._smart()
        self.refresh_view()

    # -- SMART readings ---------------------------------------------------------------------------

    def _smart(self) -> None:
        app = self.app
        drive = next((d for d in app.scan() if d.path == self.live.source_path), None)  # type: ignore[attr-defined]
        if drive is None or drive.kind != "block":
            self._smart_text = "[dim]SMART: none (virtual drive)[/]"
        elif app.health is None:  # type: ignore[attr-defined]
            self._smart_text = "[dim]SMART: not available on this station[/]"
        else:
            self._smart_text = "SMART: reading…"
            self._read_smart(drive)

    @work(thread=True, exclusive=True, group="smart")
    def _read_smart(self, drive: Drive) -> None:
        try:
            badge = self.app.health(drive)  # type: ignore[attr-defined]
        except Exception:
            badge = HealthBadge("UNKNOWN", ("SMART could not be read",))
        text = "SMART: no data" if badge is None else f"SMART: {badge.short}\n" + "\n".join(badge.reasons)
        self.app.call_from_thread(setattr, self, "_smart_text", text)

    # -- drawing --------------------------------------------------------------------------------------

    def _tick(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        live = self.live
        smap = self.query_one(SectorMap)
        cells, lo, hi = smap.wanted()
        live.probe.want(cells, lo, hi)
        snap = live.snapshot
        if snap is None or len(snap.cells) != cells or (snap.lo, snap.hi) != (lo, hi):
            live.refresh_snapshot()  # only takes one where the engine cannot be changing the map
        smap.show(live.snapshot)
        self.query_one("#job-title", Static).update(f"{state_markup(live)}  [b]{live.title}[/b]")
        legend = "  ".join(f"{mark} {label}" for mark, label in SectorMap.legend())
        self.query_one("#map-caption", Static).update(f"{smap.caption()}\n{legend}  [reverse] [/] position")
        self.query_one(Counters).show(live.progress, live.state, live.since_last_good())
        self.query_one("#smart", Static).update(self._smart_text)
        self.query_one(SpeedChart).set_curves([Curve(live.series, "this job")])
        log = self.query_one(Log)
        total = live.log_count
        new = list(live.log)[-(total - self._logged) :] if total > self._logged else []
        if new:
            log.write_lines(new)
        self._logged = total

    def on_sector_map_view_changed(self, event: SectorMap.ViewChanged) -> None:
        self.refresh_view()

    # -- steering -------------------------------------------------------------------------------------

    def action_pause_resume(self) -> None:
        live = self.live
        if not live.running:
            self.notify("the job is over", severity="warning")
        elif live.control.paused:
            live.resume()
            self.notify("resuming")
        else:
            live.pause()
            self.notify("pausing after the current read; the map is saved")
        self.refresh_view()

    def action_stop(self) -> None:
        ask_stop(self.app, self.live)

    def action_options(self) -> None:
        from station.tui.screens.dialogs import OptionsScreen

        live = self.live
        if not live.running:
            self.notify("the job is over", severity="warning")
            return

        def chosen(changes: dict | None) -> None:
            if not changes:
                return
            try:
                live.control.set_options(**changes)
            except ValueError as e:
                self.notify(str(e), severity="error")
                return
            live.options = dataclasses.replace(live.options, **changes)
            said = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(changes.items()))
            self.notify(f"from the next pass: {said}")

        self.app.push_screen(OptionsScreen(live.options), chosen)
