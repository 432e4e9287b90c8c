"""The event log of a live or followed session: its latest lines, newest last.

A Static of fixed size rather than a scrolling log: a scrolling widget lays the screen out
again whenever its content grows, and that work competes with the engine for the CPU several
times a second.  The whole log stays in the session's events.jsonl (and the follow screen).
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import Static


class EventLog(Static):
    """The last lines written, as many as fit."""

    DEFAULT_CSS = """
    EventLog { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None, keep: int = 200) -> None:
        super().__init__("", id=id, classes=classes)
        self.lines: deque[str] = deque(maxlen=keep)

    def write_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        self.lines.extend(lines)
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        height = max(self.content_size.height, 1)
        text = Text("\n".join(list(self.lines)[-height:]), no_wrap=True, overflow="ellipsis")
        self.update(text, layout=False)
