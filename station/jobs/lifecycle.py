"""One lifecycle for every job: the map first, then the session, every event logged, the end recorded.

`Lifecycle.run` is the same for imaging by the engine (station.jobs.imaging), a hand-off to a
hardware imager (station.jobs.handoff) and the jobs to come (verify, restore to several
targets, conversion): a job is a subclass that says only what differs, in these steps:

    open()         take the destination (a sink, a device); Refused if it cannot
    describe()     the record's method, source, destinations and options
    work(run)      the job itself, emitting events through `run.emit`; returns how it ended
    close()        let go of everything the job holds (always called, refusals included)
    busy()         seconds a read has been stuck in the source (the SMART watch waits for it)

and `run` does, around them:

1. a new mapfile is written before anything else (a crash from here on leaves a valid pair);
   a refusal before the session exists removes it again: a refused job leaves nothing;
2. the inventory, the drive's identity and SMART before (station.health.watch) go into the
   record, created in the store as running by this process;
3. every event goes to the session log and to the view, one at a time (the SMART monitor
   emits from its own thread); the SMART monitor polls, and may pause the job, while it works;
4. after close(): SMART after, and a Finished event if the work emitted none;
5. the record's end: state, reason, and a SessionResult from the map.  A job that raises is
   recorded as failed before the error goes on to the view.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from station.core.control import RunControl
from station.core.events import Event, Finished, Notice, TaskProgress
from station.core.exits import EXIT_OK, EXIT_STOPPED
from station.core.record import ImageRecord, JobKind, SessionRecord, SessionResult, Verification
from station.core.safeopen import make_private_dir, remove_stale_temps, resolve
from station.core.session import Session, SessionStore
from station.core.units import fmt_bytes
from station.media.base import Refused
from station.media.locks import WriterLock, lock_for_writing
from station.rescue.engine import RunResult
from station.rescue.mapfile import MapfileError, read_mapfile, write_mapfile
from station.rescue.rescuemap import RescueMap, Status

if TYPE_CHECKING:
    from station.health.watch import HealthOptions, SessionHealth


@dataclass(frozen=True)
class Ending:
    """How a job's work ended, and the figures only the job knows."""

    outcome: str  # finished, stopped or failed
    reason: str
    read_errors: int = 0
    power_cycles: int = 0
    hashes: dict[str, str] | None = None
    device_log: str | None = None  # a log the job kept beside the session's own
    image: ImageRecord | None = None  # the image the job left (format, where its segment hashes are)
    verification: Verification | None = None  # what a verification found
    exit_status: int | None = None  # the command's, when not the outcome's (a mismatch found: 1)


@dataclass(frozen=True)
class JobRun:
    """What the lifecycle hands a job's work."""

    session: Session
    emit: Callable[[Event], None]  # to the session log and the view
    control: RunControl  # stop, pause, option changes
    clock: Callable[[], float]
    save_map: Callable[[RescueMap], None]  # writes the job's mapfile (atomically, with its .bak)
    t0: float  # clock() when the work began

    def t(self) -> float:
        """Seconds since the work began: the time of the events the lifecycle emits."""
        return self.clock() - self.t0

    def task(self, name: str, *, stoppable: bool = True, every: float = 0.5) -> Callable[[int, int], None]:
        """A progress callback (done, total) for a step counted in bytes: a `TaskProgress` at most
        every `every` seconds and at its end; if `stoppable`, `StopRequested` once asked to stop."""
        next_at = [0.0]

        def progress(done: int, total: int) -> None:
            if stoppable and self.control.stopping:
                raise StopRequested(name)
            now = time.monotonic()
            if now >= next_at[0] or done >= total:
                next_at[0] = now + every
                self.emit(TaskProgress(self.t(), name, done, total))

        return progress


class StopRequested(Exception):
    """Raised by a `JobRun.task` callback: the job was asked to stop in the middle of a step."""


def starting_holder(command: list[str]) -> str:
    """What a writer lock says of a job before it has a session."""
    return f"a job starting (pid {os.getpid()}: {shlex.join(command)[:200] or 'station'})"


def exit_status(outcome: str) -> int:
    """The exit status of the command that ran a job to this outcome."""
    return EXIT_OK if outcome == "finished" else EXIT_STOPPED


def _ignore(event: Event) -> None:
    """The view of a job run without one."""


class _Log:
    """A run's events, to the session log and the view, one at a time."""

    def __init__(self, session: Session, emit: Callable[[Event], None]) -> None:
        self.session, self.emit = session, emit
        self.finished = False
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.session.log(event)
            self.emit(event)
            self.finished = self.finished or isinstance(event, Finished)


@dataclass(kw_only=True)
class Lifecycle(ABC):
    """A job, prepared: checked, its map loaded, nothing written yet (see the module's docstring)."""

    kind: ClassVar[str] = JobKind.IMAGING
    map_path: str  # "" for a job that reads a map it does not write (a sealed image's own)
    rmap: RescueMap
    new_map: bool  # no mapfile yet: `run` writes it first
    make_map_dir: bool = (
        False  # the mapfile's folder (the images folder) is made, private, when it is written
    )
    command: list[str] = field(default_factory=list)  # recorded, and in the mapfile's header
    store: SessionStore | None = None
    health: HealthOptions | None = None  # SMART before/during/after (None: off); inventory always
    session: Session | None = None  # from the moment `run` records it
    watch: SessionHealth | None = None  # while `run` runs: its SMART watch (a view may acknowledge a hold)
    _lock: WriterLock | None = field(default=None, init=False, repr=False)
    # Where the map is written: a symlinked mapfile is written through to its target, resolved
    # once when the job is made (the path prepare() checked), never again while it runs.
    _map_target: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        self._map_target = resolve(self.map_path) if self.map_path else ""

    # -- what a job says ----------------------------------------------------------------------

    @abstractmethod
    def open(self) -> None:
        """Take the destination; Refused (one line) if it cannot be."""

    @abstractmethod
    def describe(self) -> SessionRecord:
        """A record with the method, source, destinations and options (the rest is filled in)."""

    @abstractmethod
    def work(self, run: JobRun) -> Ending:
        """Do the job to its end in this thread, emitting its events through `run.emit`."""

    @abstractmethod
    def close(self) -> None:
        """Let go of what the job holds; called once, however the run ended."""

    def busy(self) -> float:
        """Seconds the oldest read still in flight has taken (0.0: none), from any thread."""
        return 0.0

    def resume_note(self) -> str | None:
        """What an imaging job resumes from, said first in its log ("resuming: 404 MB of 537 MB
        rescued, 93 kB bad"), so that a rerun says at once that it goes on from an earlier run;
        None for a fresh map (or a job that rescues nothing)."""
        m = self.rmap
        if self.kind != JobKind.IMAGING or not m.size or m.bytes_in(Status.NON_TRIED) == m.size:
            return None
        s = m.summary()
        bad = s.bytes[Status.BAD_SECTOR]
        return f"resuming: {fmt_bytes(s.rescued)} of {fmt_bytes(s.size)} rescued, {fmt_bytes(bad)} bad"

    def writes(self) -> list[str]:
        """Every path the job writes on this machine (its mapfile, its destinations): one writer each."""
        return [self.map_path]

    # -- one writer -----------------------------------------------------------------------------

    def claim(self) -> None:
        """Take the writer locks on `writes()`; Locked (exit 2) names the job that holds one.

        prepare() calls it, so that a second job is refused before anything is created; `run`
        holds the locks to its end and lets them go.
        """
        if self._lock is None:
            self._lock = lock_for_writing(self.writes(), starting_holder(self.command))

    def hold(self, lock: WriterLock) -> None:
        """Keep a lock taken before the job was made (prepare() takes it first of all)."""
        self._lock = lock

    @property
    def writer_lock(self) -> WriterLock | None:
        """The writer locks the job holds so far (a job built on another's adds its own paths)."""
        return self._lock

    def discard(self) -> None:
        """A prepared job that will not run: let go of what it holds (its source, its locks)."""
        self.close()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # -- the lifecycle --------------------------------------------------------------------------

    def run(
        self,
        emit: Callable[[Event], None] = _ignore,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        control: RunControl | None = None,
    ) -> RunResult:
        """Map, destination, session, the work, the record's end; returns how it ended."""
        control = control or RunControl(cancel)  # a view's stop also cuts short SMART readings
        started = time.time()
        cmdline = shlex.join(self.command)

        def save_map(m: RescueMap) -> None:
            write_mapfile(self._map_target, m, command_line=cmdline, start_time=started)

        try:
            self.claim()
        except BaseException:
            self.close()
            raise
        try:
            return self._run(emit, control, clock, save_map)
        finally:
            self._release()

    def _run(
        self,
        emit: Callable[[Event], None],
        control: RunControl,
        clock: Callable[[], float],
        save_map: Callable[[RescueMap], None],
    ) -> RunResult:
        from station.health.watch import SessionHealth

        self._take(save_map)
        store = self.store or SessionStore()
        try:
            record = self._record()
            self.watch = watch = SessionHealth(self.health, record.source, cancel=control.cancel)
            watch.begin(record)  # host inventory, drive identity, SMART baseline
            self.session = session = store.create(record)
        except OSError as e:  # the store is full or unreachable: the job leaves nothing behind
            self.close()
            self._untake()
            raise Refused(
                f"cannot record the session in {store.root}: {(e.strerror or str(e)).lower()}"
            ) from None
        except BaseException:
            self.close()
            raise
        if self._lock is not None:
            self._lock.describe(f"session {session.id} (pid {os.getpid()}: {shlex.join(self.command)[:200]})")
        log = _Log(session, emit)
        run = JobRun(session, log, control, clock, save_map, clock())
        note = self.resume_note()
        if note:
            log(Notice(run.t(), note))
        try:
            try:
                watch.start(control, log, now=run.t, busy=self.busy)
                ending = self.work(run)
            finally:
                watch.stop()
                self.close()
        except Exception as e:  # recorded, then on to the view as before
            self._end(run, log, Ending("failed", f"{type(e).__name__}: {e}"))
            raise
        watch.finish(session, log, now=run.t, stuck=self.busy() > 0)
        return self._end(run, log, ending)

    def _take(self, save_map: Callable[[RescueMap], None]) -> None:
        """The mapfile first, then the destination; a refusal leaves neither."""
        if self._map_target:  # of runs killed mid-save (we hold the map's lock)
            remove_stale_temps(self._map_target)
        try:
            if self.new_map and self.make_map_dir:
                make_private_dir(Path(self._map_target).parent)
            if self.new_map:
                save_map(self.rmap)
        except OSError as e:
            self.close()
            raise Refused(f"cannot write the mapfile {self.map_path}: {e.strerror}") from None
        try:
            self.open()
            if self._lock is not None:  # a destination created just now: its inode too
                self._lock.add(self.writes())
        except BaseException:
            self.close()
            self._untake()
            raise

    def _untake(self) -> None:
        """Undo `_take` for a job that will not run (closed): its new mapfile, what `open` created."""
        for path in ([self._map_target] if self.new_map else []) + self.created():
            with contextlib.suppress(OSError):
                os.unlink(path)

    def created(self) -> list[str]:
        """Files `open()` created (nothing written to them yet), removed if the job cannot start."""
        return []

    def _record(self) -> SessionRecord:
        """The job's record with what every job records: its kind, map, command, whether resumed."""
        record = self.describe()
        record.kind = self.kind
        record.mapfile = os.path.abspath(self.map_path) if self.map_path else None  # "": the image's own
        record.command = list(self.command)
        record.resumed = not self.new_map
        return record

    def _end(self, run: JobRun, log: _Log, ending: Ending) -> RunResult:
        """The last event and the record's end."""
        if not log.finished:
            log(Finished(run.t(), ending.outcome, ending.reason))
        s = self.rmap.summary()
        result = SessionResult(
            rescued=s.rescued,
            size=s.size,
            bad=s.bytes[Status.BAD_SECTOR],
            pending=s.pending,
            read_errors=ending.read_errors,
            exit_status=exit_status(ending.outcome) if ending.exit_status is None else ending.exit_status,
            power_cycles=ending.power_cycles,
            hashes=ending.hashes,
            device_log=ending.device_log,
            image=ending.image,
            verification=ending.verification,
        )
        reason = ending.reason
        try:
            run.session.finish(ending.outcome, reason, result)
        except OSError as e:  # the job's end stands (its map is saved); say the record is not
            reason = f"{reason}; the session record could not be saved ({(e.strerror or str(e)).lower()})"
        if run.session.log_error:
            reason = f"{reason}; {run.session.log_error}"
        return RunResult(ending.outcome, reason, s, ending.read_errors)


def read_map(map_path: str) -> RescueMap:
    """A mapfile a job reads; Refused (one line naming it) if it is malformed or unreadable."""
    try:
        return read_mapfile(map_path)
    except MapfileError as e:
        raise Refused(str(e)) from None
    except OSError as e:
        raise Refused(f"mapfile {map_path}: {(e.strerror or str(e)).lower()}") from None


def load_map(map_path: str, size: int, has: str) -> tuple[RescueMap, bool]:
    """(the map to resume, or a fresh one; whether it is new) for a source of `size` bytes.

    Refused, naming the file, when it is malformed or covers more than the source (`has` says
    what the source has, for that message).
    """
    if not os.path.exists(map_path):
        return RescueMap(size), True
    rmap = read_map(map_path)
    if rmap.size > size:
        raise Refused(f"{map_path}: mapfile covers {rmap.size} bytes but {has}")
    rmap.resize(size)
    return rmap, False
