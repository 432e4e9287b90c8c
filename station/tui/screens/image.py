"""A finished session's image: its format, its hashes, where its segment hashes are, and verify.

Verify runs `station.jobs.verify` (the image against its recorded hashes) in a thread worker:
a session of its own in the station's store, its progress on a bar here, its finding (match, or
the byte ranges that differ) in words.  Closing the dialog while it runs stops it.
"""

from __future__ import annotations

import threading

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, Static

from station.core.events import Event, TaskProgress
from station.core.record import SessionRecord, Verification
from station.core.session import SessionStore
from station.media.base import Refused
from station.tui.markup import safe
from station.views.images import hash_lines


def verification_lines(v: Verification) -> list[Content]:
    """What a verification found, in a few lines (its problems are data: never markup)."""
    if v.outcome == "match":
        return [safe(f"[b green]match[/]: every recorded hash agrees ({v.checked} bytes read)")]
    lines = [safe("[b red]$outcome[/]", outcome=v.outcome.upper())]
    lines += [Content(f"  bytes {lo}-{hi} ({lo:#x}-{hi:#x})") for lo, hi in v.differing[:8]]
    lines += [Content(f"  {p}") for p in v.problems[:3]]
    return lines


class ImageScreen(ModalScreen[None]):
    """The image of one finished imaging session, with a Verify button (v)."""

    BINDINGS = [
        Binding("v", "verify", "Verify"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, record: SessionRecord, store: SessionStore) -> None:
        super().__init__(classes="dialog-screen")
        self.record, self.store = record, store
        self.stop = threading.Event()
        self.running = False

    def compose(self) -> ComposeResult:
        result = self.record.result
        lines = hash_lines(result) or ["this session recorded no hashes"]
        with Vertical(classes="dialog wide"):
            yield Label(f"Image of session {self.record.id}", classes="question", markup=False)
            yield Static("\n".join(lines), id="image-info", markup=False)
            yield ProgressBar(total=None, id="verify-progress", show_eta=False)
            yield Static("", id="verify-result")
            with Horizontal(classes="buttons"):
                yield Button("Verify (v)", variant="primary", id="verify", disabled=not self.can_verify())
                yield Button("Close (esc)", id="close")

    def can_verify(self) -> bool:
        result = self.record.result
        return bool(result and result.hashes and result.image and result.image.path)

    def on_mount(self) -> None:
        self.query_one("#verify-progress", ProgressBar).display = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "verify":
            self.action_verify()
        else:
            self.action_close()

    def action_close(self) -> None:
        self.stop.set()
        self.dismiss(None)

    def action_verify(self) -> None:
        if self.running or not self.can_verify():
            return
        self.running = True
        self.query_one("#verify", Button).disabled = True
        bar = self.query_one("#verify-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.query_one("#verify-result", Static).update("verifying…")
        self.verify()

    @work(thread=True, exclusive=True, group="verify")
    def verify(self) -> None:
        """The verification job, to its end or until the dialog closes (it then stops)."""
        from station.core.control import RunControl
        from station.jobs.verify import prepare_verify

        result = self.record.result
        assert result is not None and result.image is not None
        image = result.image
        raw = image.format == "raw"
        try:
            job = prepare_verify(
                image.path,
                self.record.mapfile if raw else None,
                hashes_path=image.segments if raw else None,
                command=["station", "verify", image.path],
                store=self.store,
            )
        except Refused as e:
            self.app.call_from_thread(self.finished, safe("[b red]cannot verify[/]: $e", e=e))
            return

        def emit(e: Event) -> None:
            if isinstance(e, TaskProgress):
                self.app.call_from_thread(self.progress, e.done, e.total)

        try:
            job.run(emit=emit, control=RunControl(self.stop))
        except Exception as e:  # shown, never a traceback on the screen
            self.app.call_from_thread(self.finished, safe("[b red]verification failed[/]: $e", e=e))
            return
        v = job.verification
        text = Content("\n").join(verification_lines(v)) if v is not None else Content("stopped")
        self.app.call_from_thread(self.finished, text)

    def progress(self, done: int, total: int) -> None:
        if self.is_mounted:
            self.query_one("#verify-progress", ProgressBar).update(total=max(total, 1), progress=done)

    def finished(self, text: Content) -> None:
        self.running = False
        if not self.is_mounted:
            return
        self.query_one("#verify-progress", ProgressBar).display = False
        self.query_one("#verify-result", Static).update(text)
        self.query_one("#verify", Button).disabled = not self.can_verify()
