"""A folder to put something in (extracted files): typed, checked, answered with its path."""

from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


def folder_problem(path: str) -> str | None:
    """Why files cannot be put in `path` (None: they can): it must be new, or an empty folder."""
    if not path:
        return "type a folder"
    if os.path.isdir(path):
        return None if not os.listdir(path) else f"{path} is not empty: choose a new folder"
    if os.path.exists(path):
        return f"{path} is not a folder"
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.access(parent, os.W_OK):
        return f"{parent} cannot be written"
    return None


class FolderScreen(ModalScreen[str | None]):
    """Ask for a new (or empty) folder; escape answers None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, default: str) -> None:
        super().__init__(classes="dialog-screen")
        self.question, self.default = question, default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text(self.question), classes="question")
            yield Input(self.default, id="folder")
            yield Static("", id="folder-problem", classes="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = os.path.expanduser(event.value.strip())
        problem = folder_problem(path)
        if problem is not None:
            self.query_one("#folder-problem", Static).update(Text(problem))
            return
        self.dismiss(os.path.abspath(path))

    def action_cancel(self) -> None:
        self.dismiss(None)
