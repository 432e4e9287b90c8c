"""The phased rescue: good data first, then ever finer work on what failed.

    copying pass 1   forward (or reverse), growing reads over healthy data, bad areas crossed
                     whole (by their learned length, or a skip that doubles) and read back to
                     their far edge
    copying pass 2   the other direction, into non-tried blocks from their rescued side
    trimming         failed blocks read sector by sector from their edges next to rescued data
    sweeping         islands of good data first, then whatever is still non-tried, no skipping
    trimming         again, for blocks the sweep found (all edges now)
    scraping         non-scraped blocks sector by sector
    retrying         N passes over bad sectors, alternating direction

`Engine` only orchestrates, as GNU ddrescue's `Rescuebook::do_rescue` does: the map
(station.rescue.rescuemap) holds state, the domain (station.rescue.domain) says where to read,
each phase is a module of station.rescue.phases working on a shared RunState
(station.rescue.state), the reader does the I/O with timeouts, and the caller's `save_map`
writes the mapfile.  Every decision depends on read results and the injected clock only, so
scripted sources give deterministic runs.  Rule: bytes are written to the sink before the map
calls them finished, and the map is only saved after the sink is synced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from station.core.control import RunControl
from station.core.events import Event, Finished, Notice
from station.core.units import fmt_bytes
from station.media.base import Sink, Source
from station.rescue.areas import AreaTracker
from station.rescue.domain import Domain
from station.rescue.headplan import Restage, head_choice, layout_of, stages
from station.rescue.knowledge import Knowledge
from station.rescue.options import RescueOptions
from station.rescue.outcome import Outcome, RunResult, Stop
from station.rescue.phases.copy_pass1 import copy_pass1
from station.rescue.phases.copy_pass2 import copy_pass2
from station.rescue.phases.retry import retry_passes
from station.rescue.phases.scrape import scrape_pass
from station.rescue.phases.slow import slow_pass
from station.rescue.phases.sweep import sweep_pass
from station.rescue.phases.trim import presumed_to_trim, trim_pass
from station.rescue.reader import StreamReader
from station.rescue.recorder import device_failure
from station.rescue.recovery import RecoveryFailed
from station.rescue.rescuemap import Phase, RescueMap, Status
from station.rescue.state import RunState, View

__all__ = ["PLAN", "Engine", "RecoveryFailed", "RunResult", "device_failure"]

# The plan: (phase, pass), and the part of the domain each reads (RunState.view): after copying
# pass 1 the fast phases leave slow areas and areas presumed bad alone; copying pass 3 reads the
# slow areas.  A resumed map restarts at its recorded step.
PLAN: list[tuple[Phase, int]] = [
    (Phase.COPYING, 1),
    (Phase.COPYING, 2),
    (Phase.TRIMMING, 1),
    (Phase.SWEEPING, 1),
    (Phase.COPYING, 3),
    (Phase.TRIMMING, 2),
    (Phase.SCRAPING, 1),
]
VIEWS: dict[tuple[Phase, int], View] = {
    (Phase.COPYING, 1): View.ALL,
    (Phase.COPYING, 2): View.FAST,
    (Phase.TRIMMING, 1): View.FAST,
    (Phase.SWEEPING, 1): View.FAST,
    (Phase.COPYING, 3): View.SLOW,
    (Phase.TRIMMING, 2): View.ALL,
    (Phase.SCRAPING, 1): View.ALL,
}


class Engine:
    """Runs the phased rescue of `source` into `sink`, updating `rmap`."""

    def __init__(
        self,
        source: Source,
        sink: Sink,
        rmap: RescueMap,
        options: RescueOptions | None = None,
        *,
        emit: Callable[[Event], None] = lambda e: None,
        save_map: Callable[[RescueMap], None] | None = None,
        map_path: str = "",
        clock: Callable[[], float] = time.monotonic,
        cancel: threading.Event | None = None,
        control: RunControl | None = None,
        recover: Callable[[str], str] | None = None,
        learned: Mapping[str, Any] | None = None,
        say_learned: bool = True,
    ) -> None:
        """`recover(reason)`, if given, is called when the source stops answering (a hung read)
        or vanishes: it brings the source back (power cycle, find, reopen) and returns a line
        saying how, or raises RecoveryFailed; the run then goes on where it was.  `learned` is what
        an earlier run on this map learned (Knowledge.to_dict(), kept by
        station.rescue.learnedfile); the run starts from it and adds to it (`knowledge`)."""
        opts = options or RescueOptions()
        opts.validate()
        self.control = control or RunControl(cancel)
        self.state = RunState(
            source, sink, rmap, opts, emit=emit, save_map=save_map, map_path=map_path,
            clock=clock, control=self.control, recover=recover,
        )  # fmt: skip
        self._whole: Domain | None = None  # the domain before any head was skipped (_run_all)
        self._resumed = self._take_over(learned)
        if not say_learned:  # (the same job's earlier stage learned it: nothing to say)
            self._resumed = ""

    # -- the run -------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Rescue until finished, stopped or failed; always leaves a saved, consistent map."""
        state = self.state
        state.start()
        assert state.reader is not None
        try:
            if self._resumed:
                state.emit(Notice(state.t(), self._resumed))
            state.progress(force=True)
            self._run_all(*self._resume_point())
            retry_passes(state)
            if state.domain.pending():
                outcome, reason = Outcome.STOPPED, "work left that this run could not do"
            else:
                outcome, reason = Outcome.FINISHED, "rescue finished" + self._skipped_words()
        except Stop as s:
            outcome, reason = s.outcome, s.reason
        finally:
            state.reader.close()
        return self._finish(outcome, reason)

    def _skipped_words(self) -> str:
        """What --skip-head left unread, said with "rescue finished" so that nobody takes the
        image for whole ("" when nothing was skipped)."""
        heads = self.state.opts.head_skip
        if not heads or self._whole is None:
            return ""
        left = sum(
            b.size for lo, hi in self._whole.ranges for b in self.state.map.blocks(lo, hi)
            if b.status == Status.NON_TRIED
        )  # fmt: skip
        if not left:
            return ""
        which = ", ".join(map(str, heads))
        return f", but for head {which}, not read (--skip-head): {fmt_bytes(left)} left non-tried"

    def _take_over(self, learned: Mapping[str, Any] | None) -> str:
        """Start from what an earlier run learned; the line that says so (or why not)."""
        if not learned:
            return ""
        k = self.state.knowledge
        try:
            k.load(learned)
        except (ValueError, KeyError, TypeError) as e:
            self.state.knowledge = Knowledge(self.state.sector, self.state.cluster, self.state.max_skip)
            return f"what the last run learned cannot be used ({e}): learning afresh"
        return f"resuming with what the last run learned: {k.describe()}"

    @property
    def knowledge(self) -> Knowledge:
        """What the run learned (and an earlier one, if given): what to keep with the session."""
        return self.state.knowledge

    def _resume_point(self) -> tuple[int, int | None]:
        """Where in the plan a map resumes: (step, position), or (0, None) for a fresh one."""
        m = self.state.map
        if m.phase == Phase.FINISHED:
            return len(PLAN), None
        if m.bytes_in(Status.NON_TRIED) == m.size:  # nothing done yet: its position means nothing
            return 0, None  # (pos 0 ends a reverse pass)
        ours = m.phase != Phase.COPYING or m.pass_ != 3 or self.state.knowledge.slow
        if (m.phase, m.pass_) in PLAN and ours:
            return PLAN.index((m.phase, m.pass_)), m.current_pos
        if m.phase == Phase.COPYING:  # ddrescue's copying pass 3 and beyond
            return PLAN.index((Phase.SWEEPING, 1)), None
        if m.phase == Phase.RETRYING:
            return len(PLAN), None
        return 0, None

    def _run_all(self, start: int, cursor: int | None) -> None:
        """The plan from step `start`, staged by heads while the options ask for it; a change of
        the head options between passes (the workstation's options dialog) stages it anew."""
        state = self.state
        whole = self._whole = state.base_domain
        while True:
            choice = head_choice(state.opts)
            try:
                if any(choice):
                    self._run_by_heads(start, cursor, choice)
                else:
                    self._run_plan(start, cursor, choice=choice)
                    if start > 0 and state.domain.pending():
                        self._run_plan(0, None, choice=choice)  # a resumed map: earlier phases had work left
                return
            except Restage as r:
                start, cursor = r.step, None
                state.base_domain = whole
                state.view(View.ALL)
                state.emit(Notice(state.t(), "the head options changed: the rest of the plan is staged anew"))

    def _run_by_heads(self, start: int, cursor: int | None, choice: tuple) -> None:
        """The plan once per stage of heads (station.rescue.headplan); copying pass 1 over the
        whole domain first when the head layout is not known yet (it learns it)."""
        state = self.state
        layout = layout_of(state)
        if layout is None and start == 0:
            self._run_plan(0, cursor, stop=1, choice=choice)
            layout, start, cursor = layout_of(state), 1, None
        if layout is None:
            state.emit(Notice(state.t(), "no head layout learned: the heads cannot be told apart here"))
            self._run_plan(start, cursor, choice=choice)
            if start > 0 and state.domain.pending():
                self._run_plan(0, None, choice=choice)
            return
        todo, kept = stages(state.opts, layout, state.base_domain.ranges)
        staged_from = start
        try:
            for stage in todo:
                state.emit(
                    Notice(state.t(), f"imaging {stage.label}: {sum(b - a for a, b in stage.ranges)} bytes")
                )
                state.base_domain = Domain(state.map, stage.ranges)
                self._run_plan(start, None, choice=choice)
                if start > 0 and state.domain.pending():
                    self._run_plan(0, None, choice=choice)  # earlier phases' work in this stage
        except Restage:  # every stage from where the staging began: finished areas cost no reads
            raise Restage(staged_from) from None
        state.base_domain = Domain(state.map, kept or [(0, 0)])  # what the run answers for
        state.view(View.ALL)

    def _run_plan(
        self, start: int, cursor: int | None, stop: int | None = None, choice: tuple | None = None
    ) -> None:
        """Run the plan from step `start` (to `stop`), the first step from `cursor` (None: its
        beginning); Restage(step) when the head options are no longer `choice`."""
        state = self.state
        for step, (phase, pass_) in enumerate(PLAN[start:stop], start):
            state.steering.apply_option_changes()
            if choice is not None and head_choice(state.opts) != choice:
                raise Restage(step)
            o = state.opts
            state.view(VIEWS[phase, pass_])
            if phase == Phase.COPYING and pass_ == 3:
                slow_pass(state, cursor)
            elif phase == Phase.COPYING:
                copy = copy_pass1 if pass_ == 1 else copy_pass2
                copy(state, (pass_ % 2 == 1) != o.reverse, cursor)
            elif phase == Phase.TRIMMING and not o.no_trim:
                if pass_ == 2:
                    presumed_to_trim(state)
                trim_pass(state, pass_, cursor)
            elif phase == Phase.SWEEPING and not o.no_sweep:
                sweep_pass(state, cursor)
            elif phase == Phase.SCRAPING and not o.no_scrape:
                scrape_pass(state, cursor)
            cursor = None
        state.view(View.ALL)

    def _finish(self, outcome: Outcome, reason: str) -> RunResult:
        """Save the map (finished or not), say how the run ended, and return that."""
        state = self.state
        if outcome == Outcome.FINISHED:
            state.map.phase = Phase.FINISHED
            state.map.current_pos = 0
        if not state.saver.save(final=True):  # say so in the result itself: a view may show only this
            note = f"{state.saver.error}; the mapfile was not updated"
            if outcome == Outcome.FINISHED:
                outcome, reason = Outcome.FAILED, note
            else:
                reason = f"{reason}; {note}"
        state.progress(force=True)
        state.emit(Finished(state.t(), outcome, reason))
        return RunResult(outcome, reason, state.map.summary(), state.recorder.read_errors)

    # -- what callers and views look at ----------------------------------------------------------

    def read_outstanding(self) -> float:
        """Seconds the oldest source read still in flight has taken (0.0 if none), from any
        thread: a SMART poll waits while the drive is stuck on a read (station.health.monitor)."""
        reader = self.state.reader
        return reader.outstanding() if reader is not None else 0.0

    @property
    def opts(self) -> RescueOptions:
        """The options as they stand (changes through the control apply between passes)."""
        return self.state.opts

    @property
    def reader(self) -> StreamReader | None:
        return self.state.reader

    @property
    def t0(self) -> float:
        """When the run started (the clock's reading), 0.0 before."""
        return self.state.meter.t0

    @property
    def last_good(self) -> float | None:
        """When the last good read came (the clock's reading), None before any."""
        return self.state.meter.last_good

    @property
    def power_cycles(self) -> int:
        return self.state.recovery.power_cycles

    @property
    def areas(self) -> AreaTracker:
        """What copying pass 1 learned about the bad areas it met."""
        return self.state.areas

    @property
    def max_read(self) -> int:
        return self.state.max_read

    @property
    def max_skip(self) -> int:
        return self.state.max_skip
