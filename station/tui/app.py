"""StationApp: the workstation.  `station` with no arguments opens it.

Screens: devices (the default), new session, live session, sessions, comparison.  One imaging
job runs at a time, in a thread worker (see runner.py); the live screen is installed for it
and stays reachable (F4) while the technician looks at other screens.
"""

from __future__ import annotations

import gc
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Unpack

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from station.core.events import Finished, Paused, Resumed
from station.core.record import JobKind
from station.core.session import SessionStore
from station.jobs.drives import Attached, Drive
from station.jobs.imaging import ImageJob
from station.tui.runner import JobEnded, JobEvents, JobProgress, LiveJob
from station.tui.services import ServiceChoices, Services

if TYPE_CHECKING:
    from station.jobs.handoff import HandoffJob

JOB_SWITCH_INTERVAL = 0.0005  # seconds: Python's thread switch interval while a job runs


class StationApp(App[int]):
    """The imaging workstation.

    Everything it lists or reads comes through its `services` (station/tui/services.py): given
    whole, or made from the providers given by name (`ServiceChoices`: `scan`, `health`,
    `attached`, `smart`...), so tests (and other stations) give their own.
    """

    CSS_PATH = "station.tcss"
    TITLE = "Station"
    SUB_TITLE = "imaging workstation"

    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f2", "devices", "Devices"),
        Binding("f3", "sessions", "Sessions"),
        Binding("f4", "live", "Live job"),
        Binding("f5", "images", "Images"),
        Binding("f1,question_mark", "help", "Help", key_display="?/F1", show=False),
        Binding("f6", "restore", "Restore", show=False),  # in the palette; the footer stays as it was
    ]

    def __init__(self, *, services: Services | None = None, **given: Unpack[ServiceChoices]) -> None:
        super().__init__()
        self.services = services or Services.create(**given)
        self.live: LiveJob | None = None
        self._switch_interval = sys.getswitchinterval()
        self.quitting = False
        self.map_glyphs = False  # sector maps in solid colour (False) or characters (g switches)

    # Shortcuts to the services, by the names tests and scripts driving the app have always used.
    @property
    def store(self) -> SessionStore:
        return self.services.store

    @property
    def devices(self) -> list[Attached]:
        return self.services.devices

    @property
    def ports(self) -> list[str]:
        return self.services.ports

    def busy_ports(self) -> set[str]:
        """Imager ports held by this app's running hand-off (a rescan cannot probe them)."""
        live = self.live
        spec = getattr(live.job, "spec", None) if live is not None and live.running else None
        return {spec} if spec else set()

    def get_default_screen(self) -> Screen:
        from station.tui.screens.devices import DevicesScreen

        return DevicesScreen()

    # -- jobs ------------------------------------------------------------------------------------

    def start_job(
        self, job: ImageJob | HandoffJob, title: str, source_path: str = "", drive: Drive | None = None
    ) -> LiveJob:
        """Show a prepared job's live screen; its engine (or the imager's mirror) starts in a thread
        worker once the screen is up."""
        live = LiveJob(job, title, source_path, clock=self.services.clock, drive=drive)
        live.launch_when_shown = True
        self.show_job(live)
        return live

    def launch(self, live: LiveJob) -> None:
        """Start the engine's worker (the live screen calls this after its first layout)."""
        if not live.launch_when_shown or live.launched:
            return
        live.launched = True
        # Python's cyclic GC stops every thread while it walks the heap, and a full collection
        # of the UI's tens of thousands of objects takes tens of milliseconds: collect now and
        # keep what exists out of later collections until the job ends (unfrozen then, so
        # nothing leaks).
        gc.collect()
        gc.freeze()
        # The engine's threads take Python's GIL back after every read; the UI thread holding it
        # for a whole switch interval (5 ms) each time would idle them.  A shorter interval while
        # a job runs lets them back in sooner.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(JOB_SWITCH_INTERVAL)
        self.run_worker(
            lambda: live.run(self.post_message),
            thread=True,
            name="engine",
            group="engine",
            exit_on_error=False,
        )

    def show_job(self, live: LiveJob) -> None:
        """Make `live` the current job and show its live screen (start_job also runs it): a
        restore's has a row per target (DeployScreen), a rescue's its sector map (LiveScreen)."""
        from station.tui.screens.deploy import DeployScreen
        from station.tui.screens.live import LiveScreen

        if self.live is not None and self.live.running:
            raise RuntimeError("a job is already running")
        self.live = live
        self._reset_stack()
        if self.is_screen_installed("live"):
            self.uninstall_screen("live")
        restore = live.job.kind == JobKind.RESTORE
        self.install_screen(DeployScreen(live) if restore else LiveScreen(live), name="live")
        self.push_screen("live")

    def on_job_progress(self, m: JobProgress) -> None:
        m.job.on_progress(m)  # drawn at the live screen's next tick (4 a second)

    def on_job_events(self, m: JobEvents) -> None:
        m.job.on_events(m)
        if any(isinstance(e, Paused | Resumed | Finished) for e in m.events):
            self._refresh_live()  # the job's state changed: show it now, not at the next tick

    def on_job_ended(self, m: JobEnded) -> None:
        gc.unfreeze()
        sys.setswitchinterval(self._switch_interval)
        m.job.on_ended()
        self._refresh_live()
        if self.quitting:
            self.exit(0)
        elif m.job.error is not None:
            self.notify(f"the job failed: {m.job.error}", severity="error", timeout=10, markup=False)
        elif m.job.result is not None:
            r = m.job.result
            self.notify(f"{r.outcome}: {r.reason}", title="job over", timeout=8, markup=False)

    def _refresh_live(self) -> None:
        """Redraw the live screen now if it is showing."""
        from station.tui.screens.deploy import DeployScreen
        from station.tui.screens.live import LiveScreen

        if self.is_screen_installed("live"):
            screen = self.get_screen("live")
            # not while another screen replaced it
            shown = isinstance(screen, LiveScreen | DeployScreen) and screen.is_mounted
            if shown and screen in self.screen_stack:
                screen.refresh_view()

    # -- navigation ------------------------------------------------------------------------------

    def _reset_stack(self) -> None:
        """Back to the devices screen (the bottom of the stack)."""
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_devices(self) -> None:
        self._reset_stack()

    def action_sessions(self) -> None:
        from station.tui.screens.sessions import SessionsScreen

        if isinstance(self.screen, SessionsScreen):
            return
        self._reset_stack()
        self.push_screen(SessionsScreen())

    def action_images(self, serial: str | None = None) -> None:
        """The catalog's images (of one drive, when a serial is given: its history)."""
        from station.tui.screens.images import ImagesScreen

        self._reset_stack()
        self.push_screen(ImagesScreen(serial))

    def action_live(self) -> None:
        if not self.is_screen_installed("live"):
            self.notify("no job has run yet: pick a drive and press Enter", severity="warning")
            return
        if self.screen is self.get_screen("live"):
            return
        self._reset_stack()
        self.push_screen("live")

    def action_help(self) -> None:
        """The keys of the screen showing now, and the app's (? or F1; also in the palette)."""
        from station.tui.screens.help import HelpScreen

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        doc = (type(screen).__doc__ or "").strip().split("\n")[0]
        name = (
            getattr(screen, "HELP_TITLE", "")
            or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(screen).__name__.removesuffix("Screen")).capitalize()
        )
        self.push_screen(HelpScreen(screen, name, doc))

    def action_browse_live(self) -> None:
        """The live (or last) job's image, browsed: from its live screen."""
        from station.tui.screens.live import LiveScreen

        self.action_live()
        screen = self.get_screen("live") if self.is_screen_installed("live") else None
        if isinstance(screen, LiveScreen):
            screen.action_browse()

    def action_restore(self) -> None:
        """Restore or deploy an image of a finished session onto drives."""
        from station.tui.screens.restore import RestoreScreen

        if self.live is not None and self.live.running:
            self.notify("a job is running: one job at a time", severity="warning")
            return
        self._reset_stack()
        self.push_screen(RestoreScreen())

    def action_attach(self) -> None:
        """Name a port for the drivers to probe (from the devices screen, where it is listed)."""
        from station.tui.screens.devices import DevicesScreen

        self._reset_stack()
        screen = self.screen
        if isinstance(screen, DevicesScreen):
            screen.action_attach()

    def action_new_demo_session(self) -> None:
        from station.tui.screens.new_session import NewSessionScreen

        demo = next((d for d in self.services.scan() if d.path == "demo"), None)
        if demo is not None:
            self._reset_stack()
            self.push_screen(NewSessionScreen(demo))

    # -- quitting -------------------------------------------------------------------------------

    def on_unmount(self) -> None:
        """However the app ends, a job still running is stopped: its map is saved, its thread ends."""
        live = self.live
        if live is not None and live.running:
            live.stop()

    async def action_quit(self) -> None:
        """Quit; a running job is stopped first (after a confirmation) so that its map is saved."""
        from station.tui.screens.dialogs import ConfirmScreen

        live = self.live
        if live is None or not live.running:
            self.exit(0)
            return
        if self.quitting:
            return

        def answered(yes: bool | None) -> None:
            if yes and live.running:
                self.quitting = True
                live.stop()
                self.notify("stopping the job and saving its map…", timeout=30)
            elif yes:
                self.exit(0)

        self.push_screen(
            ConfirmScreen(
                "A job is running. Stop it, save its map and quit?",
                yes="Stop and quit",
                no="Keep imaging",
            ),
            answered,
        )

    # -- the command palette ------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "The keys of this screen and what they do (? or F1)", self.action_help)
        yield SystemCommand("Devices", "List drives, imagers and relays (F2)", self.action_devices)
        yield SystemCommand(
            "Attach device at port",
            "Probe a port discovery cannot list (a pty, an unlisted adapter) for an imager or relay",
            self.action_attach,
        )
        yield SystemCommand(
            "Sessions", "History of imaging sessions, live and past (F3)", self.action_sessions
        )
        yield SystemCommand("Images", "The catalog: find, label, report, verify (F5)", self.action_images)
        yield SystemCommand(
            "Demo session", "Image the built-in demo failing drive", self.action_new_demo_session
        )
        yield SystemCommand(
            "Restore / deploy", "Write an image of a finished session onto drives, verified (F6)",
            self.action_restore,
        )  # fmt: skip
        if self.is_screen_installed("live"):
            yield SystemCommand("Live session", "The running or last job (F4)", self.action_live)
            yield SystemCommand(
                "Browse files", "The live job's image: its files, what is not rescued (b on the live screen)",
                self.action_browse_live,
            )  # fmt: skip
        live = self.live
        if live is not None and live.running:
            if live.paused:
                yield SystemCommand("Resume job", "Let the paused job go on", live.resume)
            else:
                yield SystemCommand("Pause job", "Hold the job after its current read", live.pause)
            yield SystemCommand("Stop job", "Stop the job (asks first); the map is saved", self._ask_stop)

    def _ask_stop(self) -> None:
        from station.tui.screens.live import ask_stop

        if self.live is not None:
            ask_stop(self, self.live)
