"""What every command module shares: the parser class and the one-line failure."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from station.core.exits import EXIT_BAD_INPUT


class Parser(argparse.ArgumentParser):
    """argparse with exit status 2 and a one-line error, as every refusal here."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"station: {message}\n")


def fail(message: str) -> int:
    """Print `station: message` on stderr; the exit status of bad input."""
    print(f"station: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def json_out(doc: Any) -> int:
    """Print `doc` as every command's --json does (one indented document); exit status 0."""
    print(json.dumps(doc, indent=2))
    return 0
