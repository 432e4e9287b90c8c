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
    console = Console()
    console.print(summary_text(m))
    width = a.width or max(console.width - 2, 16)
    for line in block_map(m, width, a.rows):
        console.print(line)
    for line in legend(-(-m.size // (width * a.rows)), width=max(console.width - 1, 40)):
        console.print(line)
    return 0
