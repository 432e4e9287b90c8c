"""What a view needs of any job, whatever it does and whatever runs it.

The CLI's progress panel and the workstation run a `Job` in a worker thread, render the events
it emits, draw its map and find its session, and never ask which job it is.  Every job of
Station implements it through one lifecycle (station.jobs.lifecycle); the protocol is kept
apart so that a view, a test's fake or a job from elsewhere depends on no implementation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from station.core.control import RunControl
from station.core.events import Event

if TYPE_CHECKING:
    from station.core.session import Session
    from station.health.watch import SessionHealth
    from station.rescue.engine import RunResult
    from station.rescue.rescuemap import RescueMap


@runtime_checkable
class Job(Protocol):
    """A prepared job: checked, nothing written yet; `run` does it, once."""

    kind: ClassVar[str]  # station.core.record.JobKind: imaging (verify, restore, conversion to come)
    map_path: str  # the GNU ddrescue mapfile its progress is kept in
    rmap: RescueMap  # that map, live while the job runs (views snapshot it)
    session: Session | None  # its session, from the moment `run` records it
    watch: SessionHealth | None  # while it runs: its SMART watch (a view may acknowledge a hold)

    def run(
        self,
        emit: Callable[[Event], None] = ...,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = ...,
        control: RunControl | None = None,
    ) -> RunResult:
        """Do the job to its end in the calling thread, emitting events; Refused (one line) if
        it cannot start, with nothing left behind."""
        ...
