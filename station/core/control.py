"""How views and monitors steer a running job: stop it, pause it with a reason, change options.

Several parties may hold a job paused at once (the technician, a SMART threshold); it goes on
only when every one of them has let go.  Option changes wait for the next phase or pass,
where the engine applies them, because a change in the middle of a pass would leave that
pass half under one rule and half under another.  A priority request ("rescue these first")
asks the engine to end its run at its next safe point, so that the job reads those ranges first
and then goes on where it was (station.jobs.stages).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

# Options that may change while a job runs (the rest shape the map and stay fixed).
CHANGEABLE = frozenset(
    {
        "retry_passes",
        "no_trim",
        "no_scrape",
        "no_sweep",
        "min_read_rate",
        "max_read_errors",
        "max_bad_areas",
        "timeout",
        "read_timeout",
        "save_interval",
        "skip_size",
        "max_skip_size",
        "heads",
        "head_first",
        "head_last",
        "head_skip",
    }
)


class RunControl:
    """Thread-safe stop, pause and option requests for one run."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.cancel = cancel or threading.Event()
        self._cond = threading.Condition()
        self._holds: dict[str, str] = {}  # who -> why
        self._options: dict[str, Any] = {}
        self._priority: list[tuple[int, int]] = []  # byte ranges asked for first, not yet taken

    # stop
    def stop(self) -> None:
        """Ask the run to stop (it saves its map and ends as 'stopped')."""
        self.cancel.set()
        with self._cond:
            self._cond.notify_all()

    @property
    def stopping(self) -> bool:
        return self.cancel.is_set()

    # pause
    def pause(self, who: str, reason: str) -> None:
        """Hold the run after its current read; `who` lets go with resume(who)."""
        with self._cond:
            self._holds[who] = reason
            self._cond.notify_all()

    def resume(self, who: str) -> None:
        with self._cond:
            self._holds.pop(who, None)
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        with self._cond:
            return bool(self._holds)

    def reasons(self) -> list[str]:
        with self._cond:
            return list(self._holds.values())

    def holders(self) -> list[str]:
        """Who holds the run now (e.g. "technician", "smart")."""
        with self._cond:
            return list(self._holds)

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while held and not stopping; True once free to go on (False on timeout)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._holds or self.cancel.is_set(), timeout)

    # options
    def set_options(self, **changes: Any) -> None:
        """Request option changes for the next phase or pass; unknown names raise ValueError."""
        unknown = set(changes) - CHANGEABLE
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} while a job runs")
        with self._cond:
            self._options.update(changes)

    def take_options(self) -> dict[str, Any]:
        """The pending option changes, once (the engine calls this between passes)."""
        with self._cond:
            out, self._options = self._options, {}
            return out

    # priority
    def prioritize(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Ask for these byte ranges [lo, hi) to be read next: the engine ends its run after its
        current read (its map saved, its place kept) and the job reads them as a stage of their own."""
        with self._cond:
            self._priority.extend((int(lo), int(hi)) for lo, hi in ranges if hi > lo)
            self._cond.notify_all()

    @property
    def yielding(self) -> bool:
        """Whether ranges were asked for first and not yet taken (the engine checks after each read)."""
        return bool(self._priority)

    def take_priority(self) -> list[tuple[int, int]]:
        """The ranges asked for first, once (the job takes them before reading them)."""
        with self._cond:
            out, self._priority = self._priority, []
            return out
