"""The live progress panel of `station image` (rich, no Textual)."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from station.core.events import ImageStats, Progress, TaskProgress
from station.core.units import fmt_bytes, fmt_duration, fmt_percent, fmt_rate
from station.views.images import image_line


def task_lines(task: TaskProgress) -> list:
    """A step that is not a rescue (hashing, sealing, verifying, converting), with its bar."""
    done, total = task.done, task.total
    said = f"{task.task}: {fmt_bytes(done)} of {fmt_bytes(total)} ({fmt_percent(done, total)})"
    return [Text(said), ProgressBar(total=max(task.total, 1), completed=task.done, width=None)]


def progress_panel(
    p: Progress | None,
    title: str,
    notes: list[str],
    image: ImageStats | None = None,
    task: TaskProgress | None = None,
    paused: list[str] | None = None,
) -> Panel:
    """Counters as ddrescue shows them, plus a bar of the rescued fraction; the image's
    compression and hashing under them, and a step after the rescue (sealing) with its own bar.

    `paused`: the reasons the job is held (a hot drive, pending sectors), None while it runs;
    the pause is said in the title and the current rate, and the times leave it out.
    """
    heading = Text(title)  # a path from the command line: never read as markup
    if paused is not None:
        heading.append(" — ").append("PAUSED", style="bold yellow").append(
            ": " + ", ".join(paused) if paused else ""
        )
    if p is None:
        parts: list = task_lines(task) if task is not None else [Text("starting…")]
        return Panel(Group(*parts, *[Text(n, style="yellow") for n in notes[-3:]]), title=heading)
    rate = Text("paused", style="bold yellow") if paused is not None else fmt_rate(p.current_rate)
    t = Table.grid(padding=(0, 2))
    for _ in range(6):
        t.add_column()
    t.add_row(
        "rescued", Text(f"{fmt_bytes(p.rescued)} ({fmt_percent(p.rescued, p.size)})", style="green"),
        "non-tried", fmt_bytes(p.non_tried),
        "phase", f"{p.phase} pass {p.pass_}",
    )  # fmt: skip
    t.add_row(
        "bad", Text(fmt_bytes(p.bad), style="red" if p.bad else ""),
        "non-trimmed", fmt_bytes(p.non_trimmed),
        "position", f"{fmt_bytes(p.pos)} ({p.pos:#x})",
    )  # fmt: skip
    t.add_row(
        "read errors", Text(str(p.read_errors), style="red" if p.read_errors else ""),
        "non-scraped", fmt_bytes(p.non_scraped),
        "bad areas", str(p.bad_areas),
    )  # fmt: skip
    t.add_row(
        "current rate", rate,
        "average rate", fmt_rate(p.average_rate),
        "elapsed", fmt_duration(p.elapsed),
    )  # fmt: skip
    t.add_row(
        "remaining", fmt_duration(p.remaining),
        "last good read", "never" if p.since_last_good is None else f"{fmt_duration(p.since_last_good)} ago",
        "size", fmt_bytes(p.size),
    )  # fmt: skip
    bar = ProgressBar(total=max(p.size, 1), completed=p.rescued, width=None)
    parts = [t, bar]
    if image is not None:
        parts.append(Text(image_line(image), style="cyan"))
    if task is not None:
        parts += task_lines(task)
    parts += [Text(n, style="yellow") for n in notes[-3:]]
    return Panel(Group(*parts), title=heading)
