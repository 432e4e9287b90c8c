"""`station map`: a mapfile's summary and its block map."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from station.cli.common import fail


def register(sub) -> None:
    mp = sub.add_parser("map", help="summarize a mapfile and draw it as a block map")
    mp.add_argument("mapfile")
    mp.add_argument("--width", type=_count(0, 10000), default=0, help="cells per row, 0: the terminal's [0]")
    mp.add_argument("--rows", type=_count(1, 10000), default=12, help="rows of the block map [12]")
    mp.add_argument(
        "--heads", nargs="?", const=0, type=_count(0, 32), default=None, metavar="N",
        help="the head map (heads x zones) from what the rescue learned; N: the drive's head count",
    )  # fmt: skip
    mp.set_defaults(func=cmd_map)


def _count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high (exit 2 naming the option otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not from {low} to {high}")
        return value

    parse.__name__ = "count"
    return parse


def cmd_map(a: argparse.Namespace) -> int:
    from rich.console import Console

    from station.rescue.knowledge import Knowledge
    from station.rescue.learnedfile import load_learned
    from station.rescue.mapfile import MapfileError, read_mapfile
    from station.views.mapview import block_map, legend, summary_text

    if not os.path.exists(a.mapfile):
        return fail(f"{a.mapfile}: no such mapfile")
    try:
        m = read_mapfile(a.mapfile)
    except MapfileError as e:
        return fail(str(e))
    if not m.size:  # no blocks: nothing to summarize or draw (ddrescuelog: "domain is empty")
        return fail(f"{a.mapfile}: an empty map (no blocks): nothing to show")
    learned, why = load_learned(a.mapfile)
    knowledge = Knowledge.from_kept(learned)
    slow = knowledge.slow.ranges if knowledge is not None else []
    console = Console()
    console.print(summary_text(m))
    if a.heads is not None:
        return _heads(console, m, knowledge, why, a.heads or None)
    width = a.width or max(console.width - 2, 16)
    for line in block_map(m, width, a.rows, slow):
        console.print(line)
    for line in legend(-(-m.size // (width * a.rows)), width=max(console.width - 1, 40), slow=bool(slow)):
        console.print(line)
    return 0


def _heads(console, m, knowledge, why: str, count: int | None) -> int:
    """The head map of a map whose rescue learned head patterns (exit 1 when it did not)."""
    from station.views.heads import head_legend, head_map_lines, head_table, layout_line, zone_lines
    from station.views.live import head_snapshot

    if knowledge is None:
        console.print(
            why or "no head map: nothing was kept of what the rescue learned (a map of another tool?)"
        )
        return 1
    snap = head_snapshot(m, knowledge, count)
    layout, cells = snap.layout, snap.cells
    if layout is None:
        console.print("no head map: the rescue found no bad or slow areas at a head's period")
        return 1
    console.print(layout_line(layout))
    for line in head_map_lines(layout, cells):
        console.print(line)
    console.print(head_legend())
    console.print()
    for line in zone_lines(layout) + [""] + head_table(cells):
        console.print(line, highlight=False)
    return 0
