"""Getting a source back after it failed: reopening it, or the `recover` hook (a power cycle).

A reopen (`dup2` under the same fd) clears a drive's error state for most kernels; a drive
that hangs or vanishes needs more, which only the caller can give: `recover(reason)`, e.g.
station.jobs.power.PowerRecovery, cycles its relay and reattaches it.  Without a hook, a source
that cannot be reopened ends the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from station.core.events import Event, Notice, PowerCycled, SourceReopened
from station.media.base import Source
from station.rescue.outcome import Outcome, Stop
from station.rescue.reader import CallCancelled, CallHung, call_bounded


class RecoveryFailed(Exception):
    """Raised by a `recover` hook that could not bring the source back; the message says why."""


@dataclass
class Recovery:
    """Reopens the source and power-cycles it through the hook, counting the cycles."""

    source: Source
    hook: Callable[[str], str] | None
    reopen_on_error: bool  # reopen after every read error, not only after hangs
    emit: Callable[[Event], None]
    t: Callable[[], float]
    timeout: Callable[[], float]  # the read timeout as it stands: a reopen gets as long as a read
    cancel: threading.Event  # and stops as promptly on a cancel (Ctrl-C)
    power_cycles: int = 0

    def reopen(self, reason: str) -> bool:
        """Reopen the source; power-cycle it if it cannot be.  True when it took a power cycle.

        The reopen runs off the engine's thread, bounded like a read: the open of a drive that
        is still hung can block in the kernel, where no signal reaches it.
        """
        timeout = self.timeout()
        try:
            call_bounded(self.source.reopen, timeout, self.cancel, "reopen")
        except CallCancelled:
            raise Stop(Outcome.STOPPED, "interrupted") from None
        except (CallHung, OSError) as e:
            why = (
                f"source not responding: reopening it took more than {timeout:g} s"
                if isinstance(e, CallHung)
                else f"source vanished: cannot reopen it ({e.strerror})"
            )
            if self.hook is None:
                raise Stop(Outcome.FAILED, why) from None
            self.power_cycle(why)
            return True
        self.emit(SourceReopened(self.t(), reason))
        return False

    def power_cycle(self, reason: str) -> None:
        """Bring a source that stopped answering back through the hook, or stop the run."""
        assert self.hook is not None
        self.emit(Notice(self.t(), f"{reason}: power-cycling the source"))
        try:
            detail = self.hook(reason)
        except RecoveryFailed as e:
            raise Stop(Outcome.FAILED, f"source not responding: {e}") from None
        self.power_cycles += 1
        self.emit(PowerCycled(self.t(), reason, self.power_cycles, detail))
