"""Modal dialogs: a yes/no confirmation, a typed confirmation, option changes between passes.

Each says its key words first and wraps its text rather than cutting it (a confirmation that
never says "will be overwritten" is no confirmation), and has a footer of its own keys, which
covers the keys of the screen under it (they do nothing while a dialog is up).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Static

from station.rescue.option_values import HEAD_COUNT, HEADS
from station.rescue.options import RescueOptions
from station.tui.markup import safe


class ConfirmScreen(ModalScreen[bool]):
    """A question with two buttons; y/Enter on the first, n/Escape on the second."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="dialog-screen")
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="question", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button(f"{self.no} (n)", variant="primary", id="no")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TypedConfirmScreen(ModalScreen[bool]):
    """Overwriting a drive: the technician types its name (e.g. sdb) to go on.

    `warning` is the headline ("/dev/sdb will be overwritten"), `detail` what it is (its model,
    its size, a loop device's backing file), which may be long: it comes second and wraps.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, warning: str, word: str, detail: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.warning, self.word, self.detail = warning, word, detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.warning, classes="question danger", markup=False)
            if self.detail:
                yield Label(self.detail, classes="detail-line", markup=False)
            yield Label(
                safe(
                    "Type [b]$word[/b] and press Enter to overwrite it, or Escape to go back.", word=self.word
                )
            )
            yield Input(placeholder=self.word, id="typed")
            yield Static("", id="mismatch", classes="error")
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.word:
            self.dismiss(True)
        else:
            self.query_one("#mismatch", Static).update(
                safe("that is not $word: nothing was written", word=self.word)
            )

    def action_cancel(self) -> None:
        self.dismiss(False)


class PortScreen(ModalScreen[str | None]):
    """The port of a device discovery cannot list (a pty, an adapter pyserial does not show)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Attach a device at a port", classes="question")
            yield Label("Every driver is asked whether its device answers there: /dev/ttyUSB0, /dev/pts/3…")
            yield Input(placeholder="/dev/ttyUSB0", id="port")
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


# Options a running job may change (station.core.control.CHANGEABLE), as the dialog edits them.
_NUMBERS = (
    ("retry_passes", "retry passes (-1: until no bad sector is left)", int),
    ("max_read_errors", "stop after this many read errors", int),
    ("timeout", "stop after seconds without a good read", float),
    ("read_timeout", "read timeout, seconds", float),
)
_NEVER = ("max_read_errors", "timeout")  # empty: no limit
_SWITCHES = (("no_trim", "skip trimming"), ("no_scrape", "skip scraping"), ("no_sweep", "skip sweeping"))
# Imaging by head (station.rescue.headplan): head numbers as the head map (h) shows them.
_HEADS = (
    ("head_first", "heads first (e.g. 2 or 1,3)"),
    ("head_last", "heads last"),
    ("head_skip", "heads not read at all"),
    ("heads", "the drive's head count"),
)


def _heads_text(value: int | list[int] | None) -> str:
    if value is None:
        return ""
    return HEAD_COUNT.text(value) if isinstance(value, int) else HEADS.text(value)


class OptionsScreen(ModalScreen[dict[str, Any] | None]):
    """Change options of a running job; they apply at its next phase or pass."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "apply", "Apply")]

    def __init__(self, options: RescueOptions) -> None:
        super().__init__(classes="dialog-screen")
        self.options = options

    def compose(self) -> ComposeResult:
        o = self.options
        with Vertical(classes="dialog wide"):
            yield Label(
                "Options for the next pass (the current pass ends under the old ones)", classes="question"
            )
            with Grid(classes="form options"):
                for name, label, _ in _NUMBERS:
                    value = getattr(o, name)
                    yield Label(label)
                    yield Input(
                        "" if value is None else f"{value:g}",
                        placeholder="never" if name in _NEVER else "",
                        id=f"opt-{name}",
                        compact=True,
                    )
                for name, label in _HEADS:
                    yield Label(label)
                    yield Input(
                        _heads_text(getattr(o, name)),
                        placeholder="from the bands" if name == "heads" else "none",
                        id=f"opt-{name}",
                        compact=True,
                    )
            with Horizontal(classes="switches"):
                for name, label in _SWITCHES:
                    yield Checkbox(label, getattr(o, name), id=f"opt-{name}", compact=True)
            yield Static("", id="opt-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Apply (ctrl+s)", variant="primary", id="apply", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer()

    def changes(self) -> dict[str, Any]:
        """The values that differ from the job's; ValueError names a bad one."""
        out: dict[str, Any] = {}
        for name, label, kind in _NUMBERS:
            text = self.query_one(f"#opt-{name}", Input).value.strip()
            if not text and name in ("retry_passes", "read_timeout"):
                raise ValueError(f"{label}: a number is needed")
            try:
                value = kind(text) if text else None
            except ValueError:
                raise ValueError(f"{label}: {text!r} is not a number") from None
            if value is not None and value < 0 and name != "retry_passes":
                raise ValueError(f"{label}: must not be negative")
            if value != getattr(self.options, name):
                out[name] = value
        for name, _ in _SWITCHES:
            value = self.query_one(f"#opt-{name}", Checkbox).value
            if value != getattr(self.options, name):
                out[name] = value
        for name, label in _HEADS:
            text = self.query_one(f"#opt-{name}", Input).value.strip()
            kind = HEAD_COUNT if name == "heads" else HEADS
            try:
                value = kind.parse(text) if text else None
            except ValueError as e:
                raise ValueError(f"{label}: {e}") from None
            if value != getattr(self.options, name):
                out[name] = value
        try:
            dataclasses.replace(self.options, **out).validate()
        except ValueError as e:
            raise ValueError(str(e)) from None
        return out

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.dismiss(None)

    def action_apply(self) -> None:
        try:
            self.dismiss(self.changes())
        except ValueError as e:
            self.query_one("#opt-error", Static).update(Content(str(e)))

    def action_cancel(self) -> None:
        self.dismiss(None)
