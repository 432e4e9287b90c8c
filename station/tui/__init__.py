"""The workstation: a Textual app over the same jobs, sessions and events as the CLI.

Only this package imports Textual (tests/unit/test_tui_imports.py checks it), and `station`
imports it only when the workstation opens.
"""

from __future__ import annotations


def run(argv: list[str] | None = None) -> int:
    """Open the workstation; returns the exit status (0 after a normal quit)."""
    from station.tui.app import StationApp

    app = StationApp()
    app.run()
    return app.return_code or 0
