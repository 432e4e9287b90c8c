"""A job as the workstation runs it: ImageJob.run in a thread worker, events posted back as Messages.

The engine thread never touches a widget.  Its emit callback batches events and posts them to
the app: a `JobProgress` (the latest counters and a map snapshot, taken right there in the
engine thread where the map cannot change under it) replaces any earlier one still queued, so
a busy UI never falls behind; every other event arrives in order in a `JobEvents`.

The job is an `ImageJob` (the software engine) or a `HandoffJob` (a hardware imager): both have
the same `run(emit, cancel, clock, control)`, the same events and a `rmap`, so nothing here
asks which it is, except that only the engine takes option changes between passes.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.message import Message

from station.core.control import RunControl
from station.core.events import (
    Event,
    Finished,
    ImageStats,
    Notice,
    Paused,
    PhaseStarted,
    PowerCycled,
    Progress,
    ReadHung,
    Resumed,
    SmartPolled,
    SourceReopened,
    TaskProgress,
)
from station.core.record import SmartRecord
from station.jobs.imaging import ImageJob
from station.rescue.engine import RunResult
from station.rescue.options import RescueOptions
from station.views.events import clock_text, describe
from station.views.live import HeadProbe, MapProbe, MapSnapshot, SpeedSeries
from station.views.targets import TargetBoard

if TYPE_CHECKING:
    from station.health.monitor import HealthMonitor
    from station.jobs.drives import Drive
    from station.jobs.handoff import HandoffJob

# Events worth showing at once rather than with the next progress (at most a quarter second later).
_URGENT = (
    Paused, Resumed, Finished, PhaseStarted, Notice, ReadHung, SourceReopened, PowerCycled, TaskProgress,
)  # fmt: skip
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


class LiveJob:
    """One running (or finished) job and what the views show of it; state changes on the UI thread."""

    def __init__(
        self,
        job: ImageJob | HandoffJob,
        title: str,
        source_path: str = "",
        clock: Callable[[], float] = time.monotonic,
        drive: Drive | None = None,
    ) -> None:
        self.job = job
        self.title = title
        self.source_path = source_path
        self.drive = drive  # the drive picked in the devices list, when there was one
        self.control = RunControl()
        self.probe = MapProbe(job.rmap, slow=getattr(job, "slow_areas", None))
        self.heads = HeadProbe(job.rmap, getattr(job, "knowledge", None))
        self.series = SpeedSeries()
        self.progress: Progress | None = None
        self.snapshot: MapSnapshot | None = None
        self.targets = TargetBoard()  # a restore's or clone's targets, as its events tell them
        self.log: deque[str] = deque(maxlen=1000)
        self.log_count = 0  # lines ever logged (the deque keeps the last 1000)
        # as the technician last set them; None for a hardware imager (it takes no engine options)
        job_options: RescueOptions | None = getattr(job, "options", None)
        self.options = dataclasses.replace(job_options) if job_options is not None else None
        self.smart: SmartRecord | None = None  # the session's SMART record (on/off, before), once known
        self.smart_last: SmartPolled | None = None  # the latest poll while the job runs
        self.smart_polls = 0
        self.image: ImageStats | None = None  # the image's compression and hashing, once said
        self.task: TaskProgress | None = None  # a step after the rescue (hashing, sealing), while it runs
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
                self.heads.take()
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
        if self.smart is None:
            session = self.job.session  # recorded (with its SMART baseline) before the first progress
            if session is not None:
                self.smart = session.record.smart or SmartRecord()

    def on_events(self, m: JobEvents) -> None:
        for e in m.events:
            self.series.add(e)
            self.targets.take(e)
            if isinstance(e, SmartPolled):
                self.smart_last = e
                self.smart_polls += 1
            elif isinstance(e, ImageStats):
                self.image = e
            elif isinstance(e, TaskProgress):
                self.task = e
            if isinstance(e, Paused):
                self.state = "paused"
            elif isinstance(e, Resumed):
                self.state = "running" if not self.control.stopping else "stopping"
            elif isinstance(e, Finished):
                self.state = e.outcome
            line = describe(e)
            if line:
                self.add_log(f"{clock_text(e.t)} {line}")

    def on_ended(self) -> None:
        if self.error is not None:
            self.state = "failed"
            self.add_log(f"error: {self.error}")
        elif self.result is not None:
            self.state = self.result.outcome

    def add_log(self, line: str) -> None:
        self.log.append(line)
        self.log_count += 1

    def lines_since(self, seen: int) -> list[str]:
        """The log lines added after the first `seen` (as many of them as the log still keeps)."""
        new = self.log_count - seen
        return list(self.log)[-min(new, len(self.log)) :] if new > 0 else []

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

    def smart_monitor(self) -> HealthMonitor | None:
        """The job's SMART monitor while it polls (a software job on a drive with SMART on)."""
        watch = getattr(self.job, "watch", None)
        return watch.monitor if watch is not None else None

    def resume(self) -> list[str]:
        """Let go of the technician's hold and accept a SMART pending-sector hold (the new count
        becomes the baseline); a hot drive stays held until it cools.  The reasons still holding."""
        monitor = self.smart_monitor()
        if monitor is not None and "pending" in monitor.holds:
            monitor.acknowledge()
        if self.state == "paused" and set(self.control.holders()) <= {TECHNICIAN}:
            self.state = "running"  # before letting go: the map is the engine's again from here on
        self.control.resume(TECHNICIAN)
        return self.control.reasons()

    def stop(self) -> None:
        if self.running:
            self.state = "stopping"
            self.control.stop()
