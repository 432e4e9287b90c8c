"""How a rescue run ends, and the exception that ends it from wherever the reason is met."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from station.rescue.rescuemap import Summary


class Outcome(StrEnum):
    """The end of a run, as the session record and the exit status see it."""

    FINISHED = "finished"  # nothing left to try in the domain
    STOPPED = "stopped"  # ended early (a limit, a cancel, work left): the same command resumes
    FAILED = "failed"  # the source or the destination gave out


class Stop(Exception):
    """Ends the run: raised deep inside a phase (a read, a save, a limit), caught by the engine,
    so no phase has to pass 'stop now' back up through its loops."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


@dataclass(frozen=True)
class RunResult:
    """How a run ended: finished (nothing left to try), stopped (early, resumable) or failed."""

    outcome: str  # an Outcome; a hardware hand-off also ends "interrupted"
    reason: str
    summary: Summary
    read_errors: int

    @property
    def exit_status(self) -> int:
        return 0 if self.outcome == Outcome.FINISHED else 1
