"""The head map (h): heads x zones, refreshed while the job runs.

On the live screen the map and what the engine learned are only read in the engine's thread
(station.views.live's HeadProbe, at most every two seconds while this screen is open), or here
once the job is paused or over; on a followed session (another process's) from its map as last
saved and what it kept of what it learned (KeptHeads).  `+`/`-` correct the head count the
patterns suggest, as a technician who knows the drive would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label

from station.tui.markup import safe
from station.tui.widgets.head_map import HeadMap
from station.views.live import HeadSnapshot

REFRESH = 1.0


class HeadSource(Protocol):
    """Where a head map comes from: a live job's HeadProbe or a followed session's KeptHeads."""

    latest: HeadSnapshot | None

    def want(self, on: bool, heads: int | None = None) -> None: ...

    def take(self) -> HeadSnapshot | None: ...


class HeadsScreen(ModalScreen[None]):
    """The head map of one job."""

    BINDINGS = [
        Binding("escape,h", "close", "Close"),
        Binding("plus,equals_sign", "heads(1)", "More heads", key_display="+"),
        Binding("minus", "heads(-1)", "Fewer heads", key_display="-"),
    ]

    def __init__(self, title: str, heads: HeadSource, may_take: Callable[[], bool]) -> None:
        """`may_take()`: whether this screen may take a snapshot itself now (else the job's
        thread takes them)."""
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.heads = heads
        self.may_take = may_take
        self.count: int | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide"):
            yield Label(safe("Head map: $title", title=self.title_text), classes="question")
            yield HeadMap(id="heads")
            yield Label("[dim]h/esc: close   +/-: the drive's head count[/]")

    def on_mount(self) -> None:
        self.heads.want(True, self.count)
        self.set_interval(REFRESH, self.refresh_map)
        self.refresh_map()

    def refresh_map(self) -> None:
        if self.may_take():
            self.heads.take()
        self.query_one(HeadMap).show(self.heads.latest)

    def action_heads(self, step: int) -> None:
        snap = self.heads.latest
        now = self.count or (snap.layout.heads if snap is not None and snap.layout is not None else 4)
        self.count = min(32, max(2, now + step))
        self.heads.want(True, self.count)
        self.notify(f"{self.count} heads")
        self.refresh_map()

    def action_close(self) -> None:
        self.heads.want(False)
        self.dismiss(None)
