"""A job as the workstation runs it: ImageJob.run in a thread worker, events posted back as Messages.

The engine thread never touches a widget.  Its emit callback batches events and posts them to
the app: a `JobProgress` (the latest counters and a map snapshot, taken right there in the
engine thread where the map cannot change under it) replaces any earlier one still queued, so
a busy UI never falls behind; every other event arrives in order in a `JobEvents`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable

from textual.message import Message

from station.events import (
    Event,
    Finished,
    MapSaved,
    Notice,
    Paused,
    PhaseStarted,
    Progress,
    ReadFailed,
    ReadHung,
    Resumed,
    SourceReopened,
)
from station.job import ImageJob
from station.live import MapProbe, MapSnapshot, SpeedSeries
from station.rescue.control import RunControl
from station.rescue.engine import RunResult
from station.units import fmt_bytes

# Events worth showing at once rather than with the next progress (at most a quarter second later).
_URGENT = (Paused, Resumed, Finished, PhaseStarted, Notice, ReadHung, SourceReopened)
TECHNICIAN = "technician"


class JobProgress(Message):
    """The latest counters and map; a newer one still queued replaces this one."""

    def __init__(self, job: LiveJob, progress: Progress, snapshot: MapSnapshot | None) -> None:
        super().__init__()
        self.job, self.progress, self.snapshot = job, progress, snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobProgress) and message.job is self.job


class JobEvents(Message):
    """Events other than progress, in the order the engine emitted them."""

    def __init__(self, job: LiveJob, events: list[Event]) -> None:
        super().__init__()
        self.job, self.events = job, events


class JobEnded(Message):
    """The worker is done: `job.result` or `job.error` says how."""

    def __init__(self, job: LiveJob) -> None:
        super().__init__()
        self.job = job


def describe(e: Event) -> str | None:
    """A line for the event log, or None for events not worth one."""
    if isinstance(e, PhaseStarted):
        return f"{e.phase} pass {e.pass_} ({e.direction})"
    if isinstance(e, ReadFailed):
        return f"read error at {e.pos:#x} ({fmt_bytes(e.size)}): {e.error}"
    if isinstance(e, ReadHung):
        return f"read at {e.pos:#x} hung for {e.timeout:g} s; source reopened"
    if isinstance(e, SourceReopened):
        return f"source reopened {e.reason}"
    if isinstance(e, MapSaved):
        return f"map saved ({e.fragments} fragments)"
    if isinstance(e, Paused):
        return "paused: " + (", ".join(e.reasons) or "on request")
    if isinstance(e, Resumed):
        return "resumed"
    if isinstance(e, Notice):
        return e.message
    if isinstance(e, Finished):
        return f"{e.outcome}: {e.reason}"
    return None


class LiveJob:
    """One running (or finished) job and what the views show of it; state changes on the UI thread."""

    def __init__(
        self, job: ImageJob, title: str, source_path: str = "", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.job = job
        self.title = title
        self.source_path = source_path
        self.control = RunControl()
        self.probe = MapProbe(job.rmap)
        self.series = SpeedSeries()
        self.progress: Progress | None = None
        self.snapshot: MapSnapshot | None = None
        self.log: deque[str] = deque(maxlen=1000)
        self.log_count = 0  # lines ever logged (the deque keeps the last 1000)
        self.options = dataclasses.replace(job.options)  # as the technician last set them
        self.state = "starting"  # starting, running, paused, stopping, then the outcome
        self.result: RunResult | None = None
        self.error: BaseException | None = None
        self.progress_wall = time.monotonic()  # when the latest progress arrived
        self.updates = 0  # progress messages handled (tests and the benchmark read it)
        self.clock = clock
        self._pending: list[Event] = []
        self._samples: list[Progress] = []
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.launch_when_shown = False  # start_job: the engine starts when the live screen is up
        self.launched = False

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    @property
    def paused(self) -> bool:
        return self.state == "paused"

    # -- the engine thread ----------------------------------------------------------------------

    def run(self, post) -> None:
        """The worker's body: run the job to its end, posting Messages through `post`."""

        def emit(e: Event) -> None:
            if isinstance(e, Progress):
                batch = self._take_pending()
                if batch:
                    post(JobEvents(self, batch))
                with self._lock:
                    self._samples.append(e)  # kept even when its message is replaced by a newer one
                post(JobProgress(self, e, self.probe.take()))
                return
            with self._lock:
                self._pending.append(e)
            if isinstance(e, _URGENT):
                post(JobEvents(self, self._take_pending()))

        try:
            self.result = self.job.run(emit=emit, control=self.control, clock=self.clock)
        except BaseException as e:  # shown on the screen, never lost in the thread
            self.error = e
        finally:
            batch = self._take_pending()
            if batch:
                post(JobEvents(self, batch))
            self.done.set()
            post(JobEnded(self))

    def _take_pending(self) -> list[Event]:
        with self._lock:
            out, self._pending = self._pending, []
        return out

    # -- the UI thread ----------------------------------------------------------------------------

    def on_progress(self, m: JobProgress) -> None:
        self.progress = m.progress
        if m.snapshot is not None:
            self.snapshot = m.snapshot
        with self._lock:
            samples, self._samples = self._samples, []
        for sample in samples:
            self.series.add(sample)
        self.progress_wall = time.monotonic()
        self.updates += 1
        if self.state == "starting":
            self.state = "running"

    def on_events(self, m: JobEvents) -> None:
        for e in m.events:
            self.series.add(e)
            if isinstance(e, Paused):
                self.state = "paused"
            elif isinstance(e, Resumed):
                self.state = "running" if not self.control.stopping else "stopping"
            elif isinstance(e, Finished):
                self.state = e.outcome
            line = describe(e)
            if line:
                self.add_log(f"{_clock(e.t)} {line}")

    def on_ended(self) -> None:
        if self.error is not None:
            self.state = "failed"
            self.add_log(f"error: {self.error}")
        elif self.result is not None:
            self.state = self.result.outcome

    def add_log(self, line: str) -> None:
        self.log.append(line)
        self.log_count += 1

    def since_last_good(self) -> float | None:
        """Seconds since the last good read, ticking between events while the job runs."""
        p = self.progress
        if p is None or p.since_last_good is None:
            return None
        if self.running and self.state == "running":
            return p.since_last_good + (time.monotonic() - self.progress_wall)
        return p.since_last_good

    def refresh_snapshot(self) -> None:
        """Snapshot the map here, on the UI thread: only when the engine cannot be changing it."""
        if self.done.is_set() or self.state == "paused":
            snap = self.probe.take()
            if snap is not None:
                self.snapshot = snap

    # -- steering ------------------------------------------------------------------------------

    def pause(self) -> None:
        self.control.pause(TECHNICIAN, "paused by the technician")

    def resume(self) -> None:
        if self.state == "paused":  # before letting go: the map is the engine's again from here on
            self.state = "running"
        self.control.resume(TECHNICIAN)

    def stop(self) -> None:
        if self.running:
            self.state = "stopping"
            self.control.stop()


def _clock(t: float) -> str:
    m, s = divmod(int(t), 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"
