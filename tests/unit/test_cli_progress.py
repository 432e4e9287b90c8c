"""`station image`'s progress panel: a pause said plainly, a title from data kept as typed."""

from __future__ import annotations

from rich.console import Console

from station.cli.progress import progress_panel
from station.core.events import Progress


def _text(panel) -> str:
    console = Console(width=140, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(panel)
    return console.export_text()


P = Progress(
    5.0, "copying", 1, 4096, 10**6, 5 * 10**5, 5 * 10**5, 0, 0, 0, 0, 0, 123456.0, 1e5, 5.0, 0.1, 5.0
)


def test_a_paused_job_says_so_in_the_title_and_the_rate() -> None:
    running = _text(progress_panel(P, "sdb → x.img", []))
    assert "PAUSED" not in running and "123 kB/s" in running
    held = _text(progress_panel(P, "sdb → x.img", [], paused=["temperature 61 °C above 60 °C"]))
    assert "PAUSED: temperature 61 °C above 60 °C" in held
    assert "current rate  paused" in held and "123 kB/s" not in held


def test_the_title_is_never_read_as_markup() -> None:
    out = _text(progress_panel(P, "/srv/[case 12]/x.img [/]", []))
    assert "/srv/[case 12]/x.img [/]" in out
