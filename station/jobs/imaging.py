"""An imaging job by the software engine, from paths to a finished session, free of any UI.

`prepare` checks everything that can refuse the job (raising Refused with one line) before
anything is created or changed; `ImageJob.run` (station.jobs.lifecycle) then writes the mapfile
first, opens the sink, records the session and runs the engine in the calling thread.  Views
run it in a worker thread and render the events it emits.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from station.core.ranges import intersect
from station.core.record import SessionRecord
from station.core.session import SessionStore, images_home
from station.jobs.lifecycle import Ending, JobRun, Lifecycle, load_map, starting_holder
from station.jobs.naming import default_map_path
from station.media import blockdev
from station.media.base import Refused, Sink, Source
from station.media.locks import lock_for_writing
from station.rescue.engine import Engine
from station.rescue.mapfile import MapfileError, read_mapfile
from station.rescue.options import RescueOptions
from station.rescue.rescuemap import Status

if TYPE_CHECKING:
    from station.health.watch import HealthOptions


@dataclass
class ImageJob(Lifecycle):
    """A prepared job: the source is open, the map loaded, nothing written yet."""

    source: Source
    dest: str
    options: RescueOptions
    # Called when the source stops answering (see Engine); e.g. station.jobs.power.PowerRecovery.
    recover: Callable[[str], str] | None = None
    _sink: Sink | None = field(default=None, init=False, repr=False)
    _engine: Engine | None = field(default=None, init=False, repr=False)

    def open(self) -> None:
        """The sink: an image file (created sparse, never truncated) or a target drive."""
        from station.media.sink import open_sink

        try:
            self._sink = open_sink(self.dest, size=self.source.size, create=True, source=self.source.identity)
        except OSError as e:
            raise Refused(f"cannot open destination {self.dest}: {e.strerror}") from None

    def describe(self) -> SessionRecord:
        identity = self.source.identity
        if identity.kind in ("file", "block"):  # the same drive from any working directory
            identity = dataclasses.replace(identity, path=os.path.abspath(identity.path))
        return SessionRecord(
            method="engine",
            source=identity,
            destinations=[os.path.abspath(self.dest)],
            options=self.options.to_dict(),
        )

    def work(self, run: JobRun) -> Ending:
        """The engine, to its end (it emits its own Finished)."""
        assert self._sink is not None
        self._engine = engine = Engine(
            self.source, self._sink, self.rmap, self.options,
            emit=run.emit, save_map=run.save_map, map_path=self.map_path, clock=run.clock,
            control=run.control, recover=self.recover,
        )  # fmt: skip
        r = engine.run()
        return Ending(r.outcome, r.reason, r.read_errors, engine.power_cycles)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
        self.source.close()
        if hasattr(self.recover, "close"):
            self.recover.close()

    def writes(self) -> list[str]:
        return [self.map_path, self.dest]

    def created(self) -> list[str]:
        sink = self._sink
        return [self.dest] if sink is not None and getattr(sink, "created", False) else []

    def busy(self) -> float:
        engine = self._engine
        return engine.read_outstanding() if engine is not None else 0.0


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
    map_path = map_path or default_map_path(source_path, source, dest)
    make_map_dir = Path(map_path).parent == images_home()  # made when the map is first written
    command = command if command is not None else sys.argv
    try:  # one writer, first of all: a second job on this image or map hears who holds it
        lock = lock_for_writing([map_path, dest], starting_holder(command))
    except Refused:
        if source is not None:
            source.close()
        raise
    virtual = source is not None
    try:
        if not virtual:
            check_job(source_path, dest, map_path, force=force, make_map_dir=make_map_dir)
            source = open_source(source_path, direct=options.direct)
    except BaseException:
        lock.release()
        raise
    try:
        if virtual:
            _check_virtual_job(dest, map_path, force, make_map_dir)
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
        lock.release()
        raise
    job = ImageJob(
        source=source, dest=dest, options=options, map_path=map_path, rmap=rmap, new_map=new_map,
        command=command, store=store, health=health, make_map_dir=make_map_dir,
    )  # fmt: skip
    job.hold(lock)
    return job


def _check_virtual_job(dest: str, map_path: str, force: bool, make_map_dir: bool) -> None:
    """The checks that still apply when the source is simulated (no path to compare)."""
    from station.media.safety import check_map_location, check_writable_drive

    p = Path(dest)
    if p.is_dir():
        raise Refused(f"refusing: destination {dest} is a directory")
    if os.path.abspath(map_path) == os.path.abspath(dest):
        raise Refused("refusing: the mapfile and the destination are the same file")
    paths = [("dest", dest)] + ([] if make_map_dir else [("mapfile", map_path)])
    for what, path in paths:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise Refused(f"{what} {path}: no such directory {parent}")
    check_map_location(map_path)
    if (rdev := blockdev.block_rdev(dest)) is not None:
        check_writable_drive(dest, rdev)
    if p.exists() and p.stat().st_size > 0 and not os.path.exists(map_path) and not force:
        raise Refused(f"refusing: {dest} exists and has no mapfile {map_path} (use --force to overwrite)")
