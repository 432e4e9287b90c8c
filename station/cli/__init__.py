"""The `station` command: one module per command group, each registering its subcommands.

Imports are lazy: building the parser imports argparse-level modules only, so `station image`
never imports Textual and a new command touches one module (and the list below).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from station.cli.common import Parser

# Each module has a light `register(subparsers)`; heavy imports stay inside its commands.
COMMAND_MODULES: list[str] = [
    "station.cli.image",
    "station.cli.images",
    "station.cli.maps",
    "station.cli.sessions",
    "station.cli.hardware",
    "station.cli.bench",
    "station.cli.health",
    "station.cli.sim",
    "station.cli.fs",
    "station.cli.catalog",
    "station.cli.report",
    "station.cli.restore",
]


def build_parser() -> Parser:
    from station import __version__

    p = Parser(prog="station", description="Station: a terminal imaging workstation for data recovery.")
    p.add_argument("--version", action="version", version=f"station {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; Ctrl-C before a command has its own handling ends it in one line."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("station: interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    func = getattr(a, "func", None)
    if func is None:  # no subcommand: the workstation (Textual is imported only here)
        if not sys.stdin.isatty() or not sys.stdout.isatty():
            parser.print_help()
            return 0
        from station.tui import run

        return run()
    try:
        status = func(a)
        sys.stdout.flush()  # here, not at exit, where a closed pipe could only print a traceback
        return status
    except BrokenPipeError:  # `station ... | head`: the reader left; say nothing more, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
