"""The counters panel: ddrescue's numbers for a running or followed session.

In full (17 lines, ddrescue's order) where the terminal has room; `compact` (8 lines, the same
figures two to a line) where it has not, so that a small terminal still shows every one.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from station.core.events import Progress
from station.core.units import fmt_bytes, fmt_duration, fmt_percent, fmt_rate


def counters_text(
    p: Progress | None, state: str = "", since_last_good: float | None = None, compact: bool = False
) -> Text:
    """Label and value, one counter a line; `since_last_good` overrides the event's (it ticks between events).

    Plain Text rather than a Table: the counters are redrawn several times a second while the
    engine works, and a Text costs a fraction of a table's layout.
    """
    rows: list[tuple[str, str, str]] = []  # label, value, style
    paused = state == "paused"
    if p is None:
        rows.append(("state", state or "starting", "bold"))
    elif compact:
        slg = p.since_last_good if since_last_good is None else since_last_good
        phase = "done" if p.phase == "finished" else f"{p.phase} {p.pass_}"
        pending = p.non_tried + p.non_trimmed + p.non_scraped
        rows += [
            ("state", f"{state} · {phase}", "bold yellow" if state in ("paused", "stopping") else "bold"),
            ("rescued", f"{fmt_bytes(p.rescued)} ({fmt_percent(p.rescued, p.size)})", "green"),
            ("to do", f"{fmt_bytes(pending)} of {fmt_bytes(p.size)}", ""),
            ("bad", f"{fmt_bytes(p.bad)}, {p.bad_areas} areas", "bold red" if p.bad else ""),
            ("errors", f"{p.read_errors} · at {fmt_bytes(p.pos)}", "red" if p.read_errors else ""),
            ("rate", "paused" if paused else f"{fmt_rate(p.current_rate)} avg {fmt_rate(p.average_rate)}",
             "bold yellow" if paused else ""),
            ("time", f"{fmt_duration(p.elapsed)}, {fmt_duration(p.remaining)} left", ""),
            ("read ok", "never" if slg is None else f"{fmt_duration(slg)} ago", ""),
        ]  # fmt: skip
    else:
        slg = p.since_last_good if since_last_good is None else since_last_good
        rows += [
            ("state", state, "bold yellow" if state in ("paused", "stopping") else "bold"),
            ("phase", "all phases done" if p.phase == "finished" else f"{p.phase}, pass {p.pass_}", ""),
            ("rescued", f"{fmt_bytes(p.rescued)} ({fmt_percent(p.rescued, p.size)})", "green"),
            ("non-tried", fmt_bytes(p.non_tried), ""),
            ("non-trimmed", fmt_bytes(p.non_trimmed), "yellow" if p.non_trimmed else ""),
            ("non-scraped", fmt_bytes(p.non_scraped), "blue" if p.non_scraped else ""),
            ("bad", fmt_bytes(p.bad), "bold red" if p.bad else ""),
            ("bad areas", str(p.bad_areas), ""),
            ("read errors", str(p.read_errors), "red" if p.read_errors else ""),
            ("position", f"{fmt_bytes(p.pos)} ({p.pos:#x})", ""),
            ("rate", "paused" if paused else fmt_rate(p.current_rate), "bold yellow" if paused else ""),
            ("average rate", fmt_rate(p.average_rate), ""),
            ("elapsed", fmt_duration(p.elapsed), ""),
            ("remaining", fmt_duration(p.remaining), ""),
            ("last good read", "never" if slg is None else f"{fmt_duration(slg)} ago", ""),
            ("size", fmt_bytes(p.size), ""),
        ]
    width = 7 if compact else 14
    text = Text(no_wrap=True, overflow="ellipsis")
    for n, (label, value, style) in enumerate(rows):
        if n:
            text.append("\n")
        text.append(f"{label:>{width}} ", style="dim")
        text.append(value, style=style)
    return text


class Counters(Static):
    """The counters of the latest Progress (`compact`: set by the screen for small terminals)."""

    DEFAULT_CSS = """
    Counters { width: 40; height: 17; text-wrap: nowrap; text-overflow: ellipsis; }
    Counters.-compact { width: 100%; height: 8; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self._last: tuple = (None, "", None)

    @property
    def compact(self) -> bool:
        return self.has_class("-compact")

    def set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.set_class(compact, "-compact")
            self.show(*self._last)

    def show(self, p: Progress | None, state: str, since_last_good: float | None = None) -> None:
        self._last = (p, state, since_last_good)
        self.update(counters_text(p, state, since_last_good, self.compact), layout=False)  # a fixed size
