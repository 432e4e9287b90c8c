"""A session handed off to a hardware imager: same events, same session record, same mapfile.

`prepare_handoff` opens the imager through its driver and checks everything that can refuse
the job (Refused, one line, nothing created); `HandoffJob.run` (the lifecycle every job has,
station.jobs.lifecycle) then writes the mapfile first, records the session (its method is the
driver's name), starts the device's job and mirrors it: the device's map changes go into a
local RescueMap saved in GNU ddrescue format as the job goes, and its status becomes the same
Progress, PhaseStarted, ReadFailed, MapSaved, Paused and Finished events the engine emits, so
every view (the CLI's progress panel, the TUI) runs either without asking which it is.

The imager writes the target, never the host: "data before map" is the device's promise (the
protocol reports finished blocks only once the target holds them), and the local map only ever
says what the device reported.  If the device fails mid-job (it stops answering, sends garbage,
goes away) the session ends as "interrupted" with the last map saved: rerunning the same
command resumes, handing the device only what is still to do.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass

from station.core.events import MapSaved, Notice, Paused, PhaseStarted, ReadFailed, Resumed
from station.core.identity import SourceIdentity
from station.core.record import SessionRecord
from station.core.safeopen import write_atomic
from station.core.session import SessionStore
from station.hw.api import DriverError, ImagerDescription, ImagerDriver, JobSpec, JobStatus, parse_spec
from station.jobs.lifecycle import Ending, JobRun, Lifecycle, load_map
from station.jobs.naming import file_stem
from station.media.base import Refused
from station.media.safety import check_map_location
from station.rescue.rate import RateMeter
from station.rescue.rescuemap import Phase, Status

POLL_INTERVAL = 0.25  # seconds between status polls (the progress display's pace)
SAVE_INTERVAL = 5.0  # seconds between mapfile saves while the device works
FINAL_WAIT = 30.0  # seconds to wait for an aborted device job to wind down
MAX_IDLE_DRAINS = 32  # polls after the job's end that change nothing in the map before giving up
_PHASES = {p.label: p for p in Phase}
_FAILED = (Status.NON_TRIMMED, Status.BAD_SECTOR)  # what a failed read leaves on a map


@dataclass
class HandoffJob(Lifecycle):
    """A prepared hardware session: the device is open and checked, the map loaded."""

    driver: ImagerDriver
    spec: str  # DRIVER:PORT as given
    description: ImagerDescription
    source: str  # port names in the imager's terms
    dest: str
    save_interval: float = SAVE_INTERVAL
    poll_interval: float = POLL_INTERVAL

    @property
    def identity(self) -> SourceIdentity:
        p = self.description.port(self.source)
        assert p is not None and p.size is not None
        return SourceIdentity(
            path=f"{self.spec}:{p.name}",
            kind="imager-port",
            size=p.size,
            sector_size=p.sector_size or 512,
            model=p.model,
            serial=p.serial,
        )

    def pending_areas(self) -> list[tuple[int, int]]:
        """(pos, size) of what is still to do: non-tried, non-trimmed, non-scraped."""
        out: list[tuple[int, int]] = []
        for b in self.rmap:
            if b.status in (Status.NON_TRIED, Status.NON_TRIMMED, Status.NON_SCRAPED):
                if out and out[-1][0] + out[-1][1] == b.pos:
                    out[-1] = (out[-1][0], out[-1][1] + b.size)
                else:
                    out.append((b.pos, b.size))
        return out

    def open(self) -> None:
        """Nothing to take: the imager's target port was checked when the job was prepared."""

    def describe(self) -> SessionRecord:
        d = self.description
        return SessionRecord(
            method=self.driver.name,
            source=self.identity,
            destinations=[f"{self.spec}:{self.dest}"],
            options={
                "imager": self.spec,
                "device": {"vendor": d.vendor, "model": d.model, "firmware": d.firmware, "serial": d.serial},
                "capabilities": sorted(d.capabilities),
            },
        )

    def work(self, run: JobRun) -> Ending:
        """Run the device's job to its end and mirror it; always saves the map."""
        mirror = _Mirror(self, run)
        outcome, reason, hashes, log = mirror.run()
        if outcome == "finished":
            self.rmap.phase, self.rmap.current_pos = Phase.FINISHED, 0
        if not mirror.save(final=True):  # say so in the result itself: a view may show only this
            note = f"{mirror.save_error}; the mapfile was not updated"
            outcome, reason = ("failed", note) if outcome == "finished" else (outcome, f"{reason}; {note}")
        mirror.progress(force=True)
        device_log = None
        if log:
            p = run.session.dir / "device.log"
            write_atomic(p, ("\n".join(log) + "\n").encode("utf-8", "replace"), mode=0o600)
            device_log = str(p)
        return Ending(outcome, reason, mirror.read_errors, mirror.power_cycles, hashes, device_log)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.driver.close()


class _Mirror:
    """Follows the device's job and keeps the local map and the events in step with it."""

    def __init__(self, job: HandoffJob, run: JobRun) -> None:
        self.job = job
        self.dev = job.driver
        self.map = job.rmap
        self.emit = run.emit
        self.clock = run.clock
        self.control = run.control
        self._save = lambda: run.save_map(job.rmap)
        self.t0 = run.t0
        self.read_errors = 0
        self.power_cycles = 0
        self.save_error = ""
        self._phase: tuple[str, int] | None = None
        self._last_save = self.t0
        # the engine's rate meter, fed the map's totals: the same figures by the same rules
        self.meter = RateMeter(self.clock, interval=POLL_INTERVAL * 0.9)
        self.meter.start(self.map.bytes_in(Status.FINISHED), at=self.t0)
        self._paused = False
        self._changes_seen = 0  # changes the last poll brought
        self._changes_new = 0  # of those, the ones that changed the map

    def t(self) -> float:
        return self.clock() - self.t0

    def run(self) -> tuple[str, str, dict[str, str], list[str]]:
        """(outcome, reason, hashes, device log) of the device's job."""
        job = self.job
        self.progress(force=True)
        areas = job.pending_areas()
        if not areas:
            return "finished", "nothing left to do: the map has no pending data", {}, []
        whole = (
            len(areas) == 1
            and areas[0] == (0, self.map.size)
            and self.map.bytes_in(Status.NON_TRIED) == self.map.size
        )
        try:
            self.dev.start(JobSpec(job.source, job.dest, None if whole else tuple(areas)))
            if not whole:
                self.emit(Notice(self.t(), f"resuming: {len(areas)} areas still to do handed to the imager"))
            status = self._follow()
            if status is None:  # stopped here: the device was told to abort
                status = self._wind_down()
            res = self.dev.result()
        except DriverError as e:
            return "interrupted", f"{e}; the map holds what the imager reported before", {}, []
        if res.outcome == "finished" and self.map.summary().pending:
            left = self.map.summary().pending
            outcome, reason = "stopped", f"the imager finished but {left} bytes are still pending in the map"
        elif res.outcome == "finished":
            outcome, reason = "finished", res.reason or "imaging finished"
        elif self.control.stopping:
            outcome, reason = "stopped", "interrupted"
        elif res.outcome == "aborted":
            outcome, reason = "stopped", f"the imager stopped: {res.reason}"
        else:
            outcome, reason = "failed", f"the imager failed: {res.reason}"
        return outcome, reason, res.hashes, res.log

    def _follow(self) -> JobStatus | None:
        """Poll until the device's job is done (its last status) or we were stopped (None)."""
        while True:
            if self.control.stopping:
                self.dev.abort()
                return None
            if self.control.take_options():
                self.emit(Notice(self.t(), "option changes do not apply to a hardware imager"))
            want_pause = self.control.paused
            if want_pause != self._paused:
                if want_pause:
                    self.dev.pause()
                    self.meter.pause()  # paused time is no running time, as in the engine
                    self.save()
                    self.emit(Paused(self.t(), self.control.reasons()))
                    self.progress(force=True)
                else:
                    self.dev.resume()
                    self.meter.resume()
                    self.emit(Resumed(self.t()))
                self._paused = want_pause
            status = self._poll()
            if status.state == "done":
                return self._drain(status)
            if status.state == "idle":
                raise DriverError(f"{self.dev.name}: the imager lost its job (was it restarted?)")
            self.control.cancel.wait(self.job.poll_interval)

    def _wind_down(self) -> JobStatus | None:
        """After an abort: keep mirroring until the device says its job is over."""
        deadline = time.monotonic() + FINAL_WAIT
        while time.monotonic() < deadline:
            status = self._poll()
            if status.state == "done":
                return self._drain(status)
            time.sleep(self.job.poll_interval)
        raise DriverError(f"{self.dev.name}: the imager did not stop within {FINAL_WAIT:g} s of ABORT")

    def _drain(self, status: JobStatus) -> JobStatus:
        """The job is over: read the changes a poll had no room for, until there are none.

        Bounded: a device that says it is done but reports changes for ever (a buggy or hostile
        firmware) is given up on after polls that change nothing in the map, or after
        FINAL_WAIT; the changes it sent so far are kept in the map.  A stop ends it too.
        """
        deadline = time.monotonic() + FINAL_WAIT
        idle = 0
        while self._changes_seen and not self.control.stopping:
            idle = 0 if self._changes_new else idle + 1
            if idle > MAX_IDLE_DRAINS or time.monotonic() > deadline:
                raise DriverError(
                    f"{self.dev.name}: the imager keeps reporting map changes after its job ended"
                )
            status = self._poll()
        return status

    def _poll(self) -> JobStatus:
        u = self.dev.poll()
        self._changes_seen, self._changes_new = len(u.changes), 0
        st = u.status
        now = self.clock()
        for c in u.changes:
            if c.pos < 0 or c.size <= 0 or c.pos >= self.map.size:
                raise DriverError(f"{self.dev.name} sent a bad map line (pos {c.pos}, size {c.size})")
            end = min(c.pos + c.size, self.map.size)
            new = self.map.status_at(c.pos) != c.status or self.map.block_at(c.pos).end < end
            self._changes_new += new
            self.map.set_status(c.pos, end - c.pos, c.status)
            if c.status in _FAILED and new:
                self.emit(
                    ReadFailed(self.t(), c.pos, end - c.pos, "read error (reported by the imager)", st.phase)
                )
        self.read_errors = st.read_errors
        if st.power_cycles > self.power_cycles:
            self.emit(Notice(self.t(), f"the imager power-cycled the source ({st.power_cycles} so far)"))
            self.power_cycles = st.power_cycles
        phase = _PHASES.get(st.phase)
        if phase is not None and phase != Phase.FINISHED:
            self.map.phase, self.map.pass_ = phase, max(1, st.pass_)
            if 0 <= st.pos <= self.map.size:
                self.map.current_pos = st.pos
            if self._phase != (st.phase, st.pass_):
                self._phase = (st.phase, st.pass_)
                direction = "reverse" if (phase == Phase.COPYING and st.pass_ % 2 == 0) else "forward"
                self.emit(PhaseStarted(self.t(), st.phase, st.pass_, direction))
        self.meter.reached(self.map.bytes_in(Status.FINISHED), now)
        self.progress()
        if now - self._last_save >= self.job.save_interval:
            self.save()
        return st

    def save(self, final: bool = False) -> bool:
        self._last_save = self.clock()
        try:
            self._save()
        except OSError as e:
            self.save_error = f"could not save the mapfile ({e.strerror})"
            self.emit(Notice(self.t(), self.save_error))
            return False
        self.emit(MapSaved(self.t(), self.job.map_path, len(self.map)))
        return True

    def progress(self, force: bool = False) -> None:
        p = self.meter.progress(self.map, self.read_errors, force)
        if p is not None:
            self.emit(p)


def default_map_path(description: ImagerDescription, source: str) -> str:
    """The source drive's serial number names its map (the imager's port names are not unique)."""
    p = description.port(source)
    return f"{file_stem(p.serial if p else None, f'{description.serial}-{source}')}.map"


def prepare_handoff(
    spec: str,
    source: str,
    dest: str,
    map_path: str | None = None,
    *,
    command: list[str] | None = None,
    store: SessionStore | None = None,
    registry=None,
    driver: ImagerDriver | None = None,
    save_interval: float = SAVE_INTERVAL,
) -> HandoffJob:
    """Open the imager DRIVER:PORT and check the job; Refused (one line) changes nothing.

    `driver`: an already open driver (in-process emulators, tests); else the registry opens it.
    """
    try:
        name, port, _ = parse_spec(spec)
    except ValueError as e:
        raise Refused(f"--imager: {e}") from None
    if driver is None:
        from station.hw.registry import Registry

        try:
            cls = (registry or Registry()).imager(name)
            driver = cls(port)
        except DriverError as e:
            raise Refused(str(e)) from None
    try:
        return _check(driver, spec, source, dest, map_path, command, store, save_interval)
    except BaseException:
        with contextlib.suppress(Exception):
            driver.close()
        raise


def _check(driver, spec, source, dest, map_path, command, store, save_interval) -> HandoffJob:
    try:
        desc = driver.describe()
    except DriverError as e:
        raise Refused(str(e)) from None
    names = ", ".join(f"{p.name} ({p.role})" for p in desc.ports)
    sp, tp = desc.port(source), desc.port(dest)
    if sp is None:
        raise Refused(f"the imager has no port {source} (ports: {names})")
    if tp is None:
        raise Refused(f"the imager has no port {dest} (ports: {names})")
    if sp.name == tp.name:
        raise Refused("refusing: the source and the destination are the same port")
    if sp.role != "source":
        raise Refused(f"refusing: {sp.name} is a {sp.role} port, not a source port")
    if tp.role != "target":
        raise Refused(f"refusing: {tp.name} is a {tp.role} port: the imager would not write it")
    if not sp.drive or not sp.size:
        raise Refused(f"no drive on the imager's port {sp.name}")
    if sp.size < 0 or (sp.sector_size is not None and sp.sector_size <= 0):
        raise Refused(f"the imager reports an impossible size for the drive on {sp.name} ({sp.size} bytes)")
    if not tp.drive:
        raise Refused(f"no drive on the imager's port {tp.name}")
    if tp.size is not None and tp.size < sp.size:
        raise Refused(
            f"the target on {tp.name} ({tp.size} bytes) is smaller than the source ({sp.size} bytes)"
        )
    map_path = map_path or default_map_path(desc, sp.name)
    parent = os.path.dirname(os.path.abspath(map_path))
    if not os.path.isdir(parent):
        raise Refused(f"mapfile {map_path}: no such directory {parent}")
    if os.path.isdir(map_path):
        raise Refused(f"mapfile {map_path} is a directory")
    check_map_location(map_path)
    rmap, new_map = load_map(map_path, sp.size, f"the drive on {sp.name} has {sp.size}")
    job = HandoffJob(
        driver=driver, spec=spec, description=desc, source=sp.name, dest=tp.name,
        map_path=map_path, rmap=rmap, new_map=new_map,
        command=command if command is not None else sys.argv, store=store, save_interval=save_interval,
    )  # fmt: skip
    job.claim()  # one writer per mapfile (the caller closes the driver if this refuses)
    return job
