"""The run control (station.core.control) as the engine obeys it.

Views and monitors steer a running job from other threads: stop, pause (with reasons), change
options, ask for ranges first.  The engine looks at that only at safe points: after every read
(a pause waits there, with the map saved first; a stop, a limit or a priority request ends the
run) and between passes (option changes).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from station.core.control import RunControl
from station.core.events import Notice, Paused, Resumed
from station.rescue.outcome import Outcome, Stop

if TYPE_CHECKING:
    from station.rescue.state import RunState

HOLD_POLL = 0.25  # seconds between looks at the control while paused
# The reason of a run ended for a priority request: its map is saved with its phase and place,
# and the job (station.jobs.stages) reads the ranges asked for, then runs the engine again.
YIELDED = "yielded to ranges asked for first"


class Steering:
    """Pauses, stops, limits and option changes for one run."""

    def __init__(self, state: RunState, control: RunControl) -> None:
        self.state = state
        self.control = control
        self.cancel = control.cancel

    def checkpoint(self) -> float:
        """After a read: wait out a pause, then stop if cancelled or past a limit.  Returns now."""
        if self.control.paused and not self.cancel.is_set():
            self.hold()
        now = self.state.clock()
        if self.cancel.is_set():
            raise Stop(Outcome.STOPPED, "interrupted")
        if self.control.yielding:
            raise Stop(Outcome.STOPPED, YIELDED)
        self._check_limits(now)
        return now

    def _check_limits(self, now: float) -> None:
        """ddrescue's --max-read-errors, --max-bad-areas and --timeout (since the last good read)."""
        o = self.state.opts
        if o.max_read_errors is not None and self.state.recorder.read_errors > o.max_read_errors:
            raise Stop(Outcome.STOPPED, f"more than {o.max_read_errors} read errors")
        if o.max_bad_areas is not None and self.state.map.bad_areas() > o.max_bad_areas:
            raise Stop(Outcome.STOPPED, f"more than {o.max_bad_areas} bad areas")
        if o.timeout is not None and self.state.meter.since_last_good(now) > o.timeout:
            raise Stop(Outcome.STOPPED, f"no good read for {o.timeout:g} s")

    def hold(self) -> None:
        """Wait while paused: the map is saved first, and paused time is no running time (the
        elapsed time, the rates and "since the last good read" leave it out)."""
        state = self.state
        state.meter.pause()
        state.saver.save()
        state.emit(Paused(state.t(), self.control.reasons()))
        state.progress(force=True)
        while not self.control.wait_while_paused(HOLD_POLL):
            pass
        state.meter.resume()
        if self.cancel.is_set():
            raise Stop(Outcome.STOPPED, "interrupted")
        state.emit(Resumed(state.t()))

    def apply_option_changes(self) -> None:
        """Options changed while running take effect here, between phases and passes."""
        changes = self.control.take_options()
        if not changes:
            return
        state = self.state
        new = dataclasses.replace(state.opts, **changes)
        try:
            new.validate()
        except ValueError as e:
            state.emit(Notice(state.t(), f"option change refused: {e}"))
            return
        state.set_options(new, changed=set(changes))
        said = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(changes.items()))
        state.emit(Notice(state.t(), f"options changed: {said}"))
