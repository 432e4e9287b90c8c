"""Help (? or F1): the keys of the screen that was showing, what each does, and the app's own.

Drawn from the screen's active bindings, so it lists what the footer would (and the keys the
footer hides: the sector map's cursor, Whole map), never a second list to keep in step.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, Static

from station.tui.markup import safe

GROUPS = ("This screen", "Anywhere", "In lists and fields")


def help_lines(screen: Screen, key_display) -> list[list[Content]]:
    """The enabled keys of `screen`, one `key  what it does` line each, in GROUPS: the screen's
    own (and its widgets' of Station's, the sector map's), the app's, and Textual's own
    (moving in a list, between fields)."""
    from textual.app import App

    groups: list[list[Content]] = [[], [], []]
    seen: set[str] = set()
    active: dict[str, ActiveBinding] = screen.active_bindings
    for active_binding in active.values():
        b = active_binding.binding
        if not active_binding.enabled or not b.description or b.action in seen:
            continue
        seen.add(b.action)
        key = b.key_display or key_display(b)
        line = safe("[b]$key[/]  $what", key=f"{key:>10}", what=b.description)
        node = active_binding.node
        group = 1 if isinstance(node, App) else 0 if _ours(type(node), b.action) else 2
        groups[group].append(line)
    return groups


def _ours(cls: type, action: str) -> bool:
    """Whether Station (not Textual, for every screen or list) gave the class this key."""
    for klass in cls.__mro__:
        for b in klass.__dict__.get("BINDINGS", ()):
            if isinstance(b, Binding) and b.action == action:
                return klass.__module__.startswith("station.")
    return False


class HelpScreen(ModalScreen[None]):
    """The keys of `screen` (the one under this dialog) and of the app; any of ?/F1/Escape closes it."""

    BINDINGS = [Binding("escape,f1,question_mark,q", "close", "Close")]

    def __init__(self, screen: Screen, title: str, about: str) -> None:
        super().__init__(classes="dialog-screen")
        self.under, self.title_text, self.about = screen, title, about

    def compose(self) -> ComposeResult:
        groups = help_lines(self.under, self.app.get_key_display)
        with Vertical(classes="dialog wide help"):
            yield Label(f"Help: {self.title_text}", classes="question", markup=False)
            if self.about:
                yield Label(self.about, classes="detail-line", markup=False)
            with VerticalScroll():
                for title, lines in zip(GROUPS, groups, strict=True):
                    if lines:
                        yield Label(title, classes="section")
                        yield Static(Content("\n").join(lines))
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
