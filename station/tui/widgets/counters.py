"""The counters panel: ddrescue's numbers for a running or followed session."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from station.events import Progress
from station.units import fmt_bytes, fmt_duration, fmt_percent, fmt_rate


def counters_table(p: Progress | None, state: str = "", since_last_good: float | None = None) -> Table:
    """Two columns of label and value; `since_last_good` overrides the event's (it ticks between events)."""
    t = Table.grid(padding=(0, 1))
    t.add_column(style="dim", justify="right")
    t.add_column()
    if p is None:
        t.add_row("state", state or "starting")
        return t
    slg = p.since_last_good if since_last_good is None else since_last_good
    t.add_row("state", Text(state, style="bold yellow" if state in ("paused", "stopping") else "bold"))
    t.add_row("phase", f"{p.phase}, pass {p.pass_}")
    t.add_row("rescued", Text(f"{fmt_bytes(p.rescued)} ({fmt_percent(p.rescued, p.size)})", style="green"))
    t.add_row("non-tried", fmt_bytes(p.non_tried))
    t.add_row("non-trimmed", Text(fmt_bytes(p.non_trimmed), style="yellow" if p.non_trimmed else ""))
    t.add_row("non-scraped", Text(fmt_bytes(p.non_scraped), style="blue" if p.non_scraped else ""))
    t.add_row("bad", Text(fmt_bytes(p.bad), style="bold red" if p.bad else ""))
    t.add_row("bad areas", str(p.bad_areas))
    t.add_row("read errors", Text(str(p.read_errors), style="red" if p.read_errors else ""))
    t.add_row("position", f"{fmt_bytes(p.pos)} ({p.pos:#x})")
    t.add_row("rate", fmt_rate(p.current_rate))
    t.add_row("average rate", fmt_rate(p.average_rate))
    t.add_row("elapsed", fmt_duration(p.elapsed))
    t.add_row("remaining", fmt_duration(p.remaining))
    t.add_row("last good read", "never" if slg is None else f"{fmt_duration(slg)} ago")
    t.add_row("size", fmt_bytes(p.size))
    return t


class Counters(Static):
    """The counters of the latest Progress."""

    DEFAULT_CSS = """
    Counters { width: 40; height: auto; }
    """

    def show(self, p: Progress | None, state: str, since_last_good: float | None = None) -> None:
        self.update(counters_table(p, state, since_last_good))
