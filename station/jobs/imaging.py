"""An imaging job from paths to a finished session, free of any UI.

`prepare` checks everything that can refuse the job (raising Refused with one line) before
anything is created or changed; `ImageJob.run` then writes the mapfile first, opens the sink,
records the session and runs the engine in the calling thread.  Views run it in a worker
thread and render the events it emits.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from station.core.control import RunControl
from station.core.events import Event
from station.core.ranges import intersect
from station.core.record import SessionRecord, SessionResult
from station.core.session import Session, SessionStore
from station.media.base import Refused, Source
from station.rescue.engine import Engine, RunResult
from station.rescue.mapfile import MapfileError, read_mapfile, write_mapfile
from station.rescue.options import RescueOptions
from station.rescue.rescuemap import RescueMap, Status

if TYPE_CHECKING:
    from station.health.watch import HealthOptions, SessionHealth


@dataclass
class ImageJob:
    """A prepared job: the source is open, the map loaded, nothing written yet."""

    source: Source
    dest: str
    map_path: str
    rmap: RescueMap
    options: RescueOptions
    new_map: bool
    command: list[str] = field(default_factory=list)
    store: SessionStore | None = None
    session: Session | None = None
    health: HealthOptions | None = None  # SMART before/during/after (None: off); inventory always
    # Called when the source stops answering (see Engine); e.g. station.jobs.power.PowerRecovery.
    recover: Callable[[str], str] | None = None
    watch: SessionHealth | None = None  # while run() runs: its SMART watch (a view may acknowledge a hold)

    def run(
        self,
        emit: Callable[[Event], None] = lambda e: None,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        control: RunControl | None = None,
    ) -> RunResult:
        """Create the map and sink, record the session, and run the engine to its end."""
        from station.media.sink import open_sink

        if cancel is None and control is not None:
            cancel = control.cancel  # a view's stop also cuts short the SMART readings around the run
        start = time.time()
        cmdline = shlex.join(self.command)

        def save(m: RescueMap) -> None:
            write_mapfile(self.map_path, m, command_line=cmdline, start_time=start)

        if self.new_map:
            save(self.rmap)  # the map exists before the sink: a crash here leaves a valid pair
        try:
            sink = open_sink(self.dest, size=self.source.size, create=True, source=self.source.identity)
        except (Refused, OSError) as e:
            if self.new_map:  # refused after all: leave nothing behind
                Path(self.map_path).unlink(missing_ok=True)
            self.source.close()
            if isinstance(e, Refused):
                raise
            raise Refused(f"cannot open destination {self.dest}: {e.strerror}") from None
        from station.health.watch import SessionHealth

        identity = self.source.identity
        if identity.kind in ("file", "block"):  # the same drive from any working directory
            identity = dataclasses.replace(identity, path=os.path.abspath(identity.path))
        record = SessionRecord(
            method="engine",
            source=identity,
            destinations=[os.path.abspath(self.dest)],
            mapfile=os.path.abspath(self.map_path),
            options=self.options.to_dict(),
            command=self.command,
            resumed=not self.new_map,
        )
        self.watch = health = SessionHealth(self.health, self.source.identity, cancel=cancel)
        health.begin(record)  # host inventory, drive identity, SMART baseline
        self.session = session = (self.store or SessionStore()).create(record)
        log_lock = threading.Lock()  # the SMART monitor emits from its own thread

        def both(e: Event) -> None:
            with log_lock:
                session.log(e)
                emit(e)

        engine = Engine(
            self.source, sink, self.rmap, self.options,
            emit=both, save_map=save, map_path=self.map_path, clock=clock, cancel=cancel, control=control,
            recover=self.recover,
        )  # fmt: skip

        def session_time() -> float:
            return clock() - engine.t0 if engine.t0 else 0.0

        health.start(engine.control, both, now=session_time, busy=engine.read_outstanding)
        try:
            result = engine.run()
        finally:
            health.stop()
            sink.close()
            self.source.close()
            if hasattr(self.recover, "close"):
                self.recover.close()
        health.finish(session, both, now=session_time, stuck=engine.read_outstanding() > 0)
        s = result.summary
        session.finish(
            result.outcome,
            result.reason,
            SessionResult(
                rescued=s.rescued,
                size=s.size,
                bad=s.bytes[Status.BAD_SECTOR],
                pending=s.pending,
                read_errors=result.read_errors,
                exit_status=result.exit_status,
                power_cycles=engine.power_cycles,
            ),
        )
        return result


def load_map(map_path: str, size: int, has: str) -> tuple[RescueMap, bool]:
    """(the map to resume, or a fresh one; whether it is new) for a drive of `size` bytes.

    Refused, naming the file, when it is malformed or covers more than the drive (`has` says
    what the drive has, for that message).
    """
    if not os.path.exists(map_path):
        return RescueMap(size), True
    try:
        rmap = read_mapfile(map_path)
    except MapfileError as e:
        raise Refused(str(e)) from None
    if rmap.size > size:
        raise Refused(f"{map_path}: mapfile covers {rmap.size} bytes but {has}")
    rmap.resize(size)
    return rmap, False


def domain_from_mapfile(path: str) -> list[tuple[int, int]]:
    """The finished blocks of a mapfile: ddrescue's --domain-mapfile."""
    try:
        m = read_mapfile(path)
    except MapfileError as e:
        raise Refused(f"domain mapfile: {e}") from None
    return [(b.pos, b.end) for b in m if b.status == Status.FINISHED]


def prepare(
    source_path: str,
    dest: str,
    map_path: str | None = None,
    *,
    options: RescueOptions | None = None,
    force: bool = False,
    test_mode: str | None = None,
    source: Source | None = None,
    command: list[str] | None = None,
    store: SessionStore | None = None,
    health: HealthOptions | None = None,
) -> ImageJob:
    """Check the job and open the source; raises Refused (one line) and changes nothing.

    `source` may be given (a simulated drive); otherwise `source_path` is opened read-only.
    `test_mode` is a ddrescue test mapfile: reads of its non-finished blocks fail (ddrescue -H).
    """
    from station.media.safety import check_job
    from station.media.source import open_source

    options = options or RescueOptions()
    try:
        options.validate()
    except ValueError as e:
        if source is not None:  # a virtual drive the caller opened: this call owns it now
            source.close()
        raise Refused(str(e)) from None
    map_path = map_path or dest + ".map"
    virtual = source is not None
    if not virtual:
        check_job(source_path, dest, map_path, force=force)
        source = open_source(source_path, direct=options.direct)
    try:
        if virtual:
            _check_virtual_job(dest, map_path, force)
        if test_mode:
            from station.sim.testmode import TestModeSource

            try:
                source = TestModeSource(source, read_mapfile(test_mode))
            except MapfileError as e:
                raise Refused(f"test-mode mapfile: {e}") from None
        rmap, new_map = load_map(map_path, source.size, f"the source has only {source.size}")
        if not new_map and rmap.bytes_in(Status.FINISHED) and not os.path.exists(dest):
            raise Refused(f"{map_path} records rescued data but {dest} does not exist")
        if options.domain is not None:
            options.domain = intersect(sorted(options.domain), [(0, source.size)])
            if not options.domain:
                raise Refused("the rescue domain is empty")
    except BaseException:
        source.close()
        raise
    return ImageJob(
        source=source,
        dest=dest,
        map_path=map_path,
        rmap=rmap,
        options=options,
        new_map=new_map,
        command=command if command is not None else sys.argv,
        store=store,
        health=health,
    )


def _check_virtual_job(dest: str, map_path: str, force: bool) -> None:
    """The checks that still apply when the source is simulated (no path to compare)."""
    p = Path(dest)
    if p.is_dir():
        raise Refused(f"refusing: destination {dest} is a directory")
    if os.path.abspath(map_path) == os.path.abspath(dest):
        raise Refused("refusing: the mapfile and the destination are the same file")
    for what, path in (("dest", dest), ("mapfile", map_path)):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise Refused(f"{what} {path}: no such directory {parent}")
    if p.exists() and p.stat().st_size > 0 and not os.path.exists(map_path) and not force:
        raise Refused(f"refusing: {dest} exists and has no mapfile {map_path} (use --force to overwrite)")
