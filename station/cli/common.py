"""What every command module shares: the parser class and the one-line failure."""

from __future__ import annotations

import argparse
import sys

from station.core.exits import EXIT_BAD_INPUT


class Parser(argparse.ArgumentParser):
    """argparse with exit status 2 and a one-line error, as every refusal here."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"station: {message}\n")


def fail(message: str) -> int:
    """Print `station: message` on stderr; the exit status of bad input."""
    print(f"station: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT
