"""Helpers for the workstation's tests: virtual drives, fixed drive lists, waiting on the app."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

from station.health.badge import HealthBadge
from station.jobs.drives import Drive
from station.sim.scripted import Fault, ScriptedSource

MiB = 1 << 20
SIZE = 8 * MiB
FAULTS = [
    Fault(1 * MiB, 1 * MiB + 64 * 1024, "bad"),
    Fault(5 * MiB + 512, 5 * MiB + 2048, "bad"),
]
BAD_BYTES = 64 * 1024 + 1536


def scripted(
    size: int = SIZE, *, pace: float = 0.0, clock=None, path: str = "scripted", sim_rate: float = 0.0
) -> ScriptedSource:
    """A small failing drive; with `pace` > 0 its reads really take time (pace seconds per 8 MiB).

    With a FakeClock and `sim_rate`, reads only charge simulated time (deterministic rates).
    """
    return ScriptedSource(
        size,
        FAULTS,
        clock=clock,
        rate=8 * MiB / pace if pace else sim_rate,
        error_cost=0.001 if pace or sim_rate else 0.0,
        real_sleep=1.0 if pace else 0.0,
        path=path,
        model="Scripted test drive",
        serial="TEST-0001",
    )


def virtual_drive(
    name: str = "scripted", *, size: int = SIZE, pace: float = 0.0, clock=None, sim_rate: float = 0.0
) -> Drive:
    return Drive(
        path=name,
        kind="virtual",
        size=size,
        model="Scripted test drive",
        serial="TEST-0001",
        name=name,
        description="a test drive with two bad areas",
        opener=lambda: scripted(size, pace=pace, clock=clock, path=name, sim_rate=sim_rate),
    )


SYSTEM = Drive(
    path="/dev/sda", kind="block", size=512 * 10**9, model="Samsung SSD 870", serial="S5SYSTEM", name="sda",
    rotational=False, system=True, protected=("holds the running system", "/dev/sda1 is mounted at /"),
)  # fmt: skip
SPARE = Drive(
    path="/dev/sdz", kind="block", size=1000 * 10**9, model="WDC WD10EZEX", serial="WD-SPARE", name="sdz",
    removable=True, rotational=True,
)  # fmt: skip


def warning_health(d: Drive) -> HealthBadge | None:
    if d.serial == "WD-SPARE":
        return HealthBadge("WARNING", ("197 current pending sectors: 8",))
    return HealthBadge("GOOD", ())


async def wait_for(pilot, cond: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Let the app run until cond() holds (fails the test after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await pilot.pause(0.05)


async def start_on(pilot, app, row: int, image: Path) -> None:
    """From the devices screen: pick a row, fill in the image path, start."""
    from textual.widgets import Input

    from station.tui.screens.live import LiveScreen

    for _ in range(row):
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()
    app.screen.query_one("#image-path", Input).value = str(image)
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), 5, "the live screen")


def run(coro):
    """Tests are plain functions: each runs its own event loop."""
    return asyncio.run(coro)


def text_of(widget) -> str:
    """What a Static shows, as plain text."""
    from rich.console import Console
    from rich.text import Text

    content = widget.content
    console = Console(width=200, record=True, color_system=None, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(Text.from_markup(content) if isinstance(content, str) else content)
    return console.export_text()


async def save_and_read(pilot, app, where: str) -> str:
    """Save a form (ctrl+s) and what its line `where` (a Static's id) then says: a refusal."""
    await pilot.press("ctrl+s")
    await pilot.pause()
    return text_of(app.screen.query_one(where))


def screen_text(app) -> str:
    """What the screen on top shows, as lines of plain text (a modal dialog without what is under it)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)
