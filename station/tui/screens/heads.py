"""The head map of the job on the live screen (h): heads x zones, refreshed while it runs.

The map and what the engine learned are only read in the engine's thread (station.views.live's
HeadProbe, at most every two seconds while this screen is open), or here once the job is paused
or over.  `+`/`-` correct the head count the patterns suggest, as a technician who knows the
drive would.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label

from station.tui.markup import safe
from station.tui.runner import LiveJob
from station.tui.widgets.head_map import HeadMap

REFRESH = 1.0


class HeadsScreen(ModalScreen[None]):
    """The head map of one live job."""

    BINDINGS = [
        Binding("escape,h", "close", "Close"),
        Binding("plus,equals_sign", "heads(1)", "More heads", key_display="+"),
        Binding("minus", "heads(-1)", "Fewer heads", key_display="-"),
    ]

    def __init__(self, live: LiveJob) -> None:
        super().__init__(classes="dialog-screen")
        self.live = live
        self.count: int | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide"):
            yield Label(safe("Head map: $title", title=self.live.title), classes="question")
            yield HeadMap(id="heads")
            yield Label("[dim]h/esc: close   +/-: the drive's head count[/]")

    def on_mount(self) -> None:
        self.live.heads.want(True, self.count)
        self.set_interval(REFRESH, self.refresh_map)
        self.refresh_map()

    def refresh_map(self) -> None:
        live = self.live
        if live.done.is_set() or live.state == "paused":
            live.heads.take()  # the engine is not changing the map now
        self.query_one(HeadMap).show(live.heads.latest)

    def action_heads(self, step: int) -> None:
        snap = self.live.heads.latest
        now = self.count or (snap.layout.heads if snap is not None and snap.layout is not None else 4)
        self.count = min(32, max(2, now + step))
        self.live.heads.want(True, self.count)
        self.notify(f"{self.count} heads")
        self.refresh_map()

    def action_close(self) -> None:
        self.live.heads.want(False)
        self.dismiss(None)
