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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from station.core.events import Event
from station.core.ranges import intersect
from station.core.record import SessionRecord
from station.core.session import SessionStore, images_home
from station.jobs.image_output import (
    ImageOutput,
    ImageSpec,
    OutputWatch,
    carried_map,
    check_output,
    format_for,
    open_output,
    side_files,
)
from station.jobs.knowledge import KeptKnowledge
from station.jobs.lifecycle import Ending, JobRun, Lifecycle, load_map, starting_holder
from station.jobs.naming import default_map_path
from station.media import blockdev
from station.media.base import Refused, Source, SourceIdentity
from station.media.locks import lock_for_writing
from station.rescue.engine import Engine
from station.rescue.knowledge import Knowledge
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
    image: ImageSpec = field(default_factory=ImageSpec)  # raw or zst, and the hashes taken
    files_first: list[str] | None = None  # --files-first's globs: staged (station.jobs.stages)
    _out: ImageOutput | None = field(default=None, init=False, repr=False)
    _engine: Engine | None = field(default=None, init=False, repr=False)
    _kept: KeptKnowledge | None = field(default=None, init=False, repr=False)

    def open(self) -> None:
        """The sink: a raw image file (created sparse, never truncated), a zst image or a drive."""
        self._out = open_output(self.dest, self.source.size, self._identity(), self.image, self.map_path)

    def _identity(self) -> SourceIdentity:
        identity = self.source.identity
        if identity.kind in ("file", "block"):  # the same drive from any working directory
            identity = dataclasses.replace(identity, path=os.path.abspath(identity.path))
        return identity

    def describe(self) -> SessionRecord:
        image = {"image_format": self.image.format, "hashes": list(self.image.hashes)}
        staged = {"files_first": list(self.files_first)} if self.files_first else {}
        return SessionRecord(
            method="engine",
            source=self._identity(),
            destinations=[os.path.abspath(self.dest)],
            options={**self.options.to_dict(), **image, **staged},
        )

    def work(self, run: JobRun) -> Ending:
        """The engine to its end, in stages (files first, ranges asked for first: StagedRun); then
        a finished rescue's image is sealed (zst) or hashed (raw)."""
        from station.jobs.stages import StagedRun

        assert self._out is not None
        watch = OutputWatch(run, self._out)
        self._kept = KeptKnowledge(self._map_target or self.map_path, run, fresh=self.new_map)
        stages = StagedRun(self, run, watch.follow(self.rmap))
        r = stages.run()
        extra = {
            "session": run.session.id,
            "rescue_started": run.session.record.started,
            "rescue_ended": time.time(),
            "command": list(self.command),
        }
        ending = Ending(r.outcome, r.reason, stages.read_errors, stages.power_cycles)
        return watch.end(ending, self.rmap, extra)

    def engine_for(self, run: JobRun, options: RescueOptions, emit: Callable[[Event], None]) -> Engine:
        """An engine over this job's source, sink and map (one per stage), starting from what the
        last run learned (kept beside the map) or the last stage's engine did; what it learns is
        kept after each map save."""
        assert self._out is not None
        keep, before = self._kept, self._engine
        save_map = keep.saver(run.save_map) if keep is not None else run.save_map
        learned = before.knowledge.to_dict() if before is not None else (keep.learned if keep else None)
        self._engine = Engine(
            self.source, self._out.sink, self.rmap, options, emit=emit, save_map=save_map,
            map_path=self.map_path, clock=run.clock, control=run.control, recover=self.recover,
            learned=learned, say_learned=before is None,
        )  # fmt: skip
        if keep is not None:
            keep.engine = self._engine
        return self._engine

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
        self.source.close()
        if hasattr(self.recover, "close"):
            self.recover.close()

    def writes(self) -> list[str]:
        return [self.map_path, self.dest, *side_files(self.dest, self.map_path, self.image)]

    def created(self) -> list[str]:
        sink = self._out.sink if self._out is not None else None
        return [self.dest] if sink is not None and getattr(sink, "created", False) else []

    def busy(self) -> float:
        engine = self._engine
        return engine.read_outstanding() if engine is not None else 0.0

    def knowledge(self) -> Knowledge | None:
        """What the engine has learned so far (read it where the map may be read: the engine's
        thread, or once the job is paused or over)."""
        return self._engine.knowledge if self._engine is not None else None

    def slow_areas(self) -> list[tuple[int, int]]:
        """The slow areas known so far (as `knowledge`), for the sector map."""
        k = self.knowledge()
        return k.slow.ranges if k is not None else []


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
    image: ImageSpec | None = None,
    files_first: list[str] | None = None,
) -> ImageJob:
    """Check the job and open the source; raises Refused (one line) and changes nothing.

    `source` may be given (a simulated drive); otherwise `source_path` is opened read-only.
    `test_mode` is a ddrescue test mapfile: reads of its non-finished blocks fail (ddrescue -H).
    `image` says raw or zst and which hashes (default: raw, or zst for a DEST.zst; sha256).
    `files_first`: globs of the files to rescue right after the filesystems' metadata.
    """
    from station.media.safety import check_job, check_name_lengths
    from station.media.source import open_source

    options = options or RescueOptions()
    try:
        options.validate()
        if files_first is not None and not [g for g in files_first if g.strip()]:
            raise ValueError("--files-first needs at least one glob (e.g. '*.docx' or /p1/Users/ann)")
    except ValueError as e:
        if source is not None:  # a virtual drive the caller opened: this call owns it now
            source.close()
        raise Refused(str(e)) from None
    map_path = map_path or default_map_path(source_path, source, dest)
    make_map_dir = Path(map_path).parent == images_home()  # made when the map is first written
    command = command if command is not None else sys.argv
    image = image or ImageSpec(format_for(dest))
    try:  # one writer, first of all: a second job on this image or map hears who holds it
        writes = [map_path, dest, *side_files(dest, map_path, image)]
        check_name_lengths(writes)
        lock = lock_for_writing(writes, starting_holder(command))
    except Refused:
        if source is not None:
            source.close()
        raise
    virtual = source is not None
    carried = carried_map(dest, image, map_path, force)  # a sealed image moved without its mapfile
    try:
        if not virtual:
            check_job(
                source_path, dest, map_path, force=force or carried is not None, make_map_dir=make_map_dir
            )
            source = open_source(source_path, direct=options.direct)
    except BaseException:
        lock.release()
        raise
    try:
        if virtual:
            _check_virtual_job(dest, map_path, force or carried is not None, make_map_dir)
        if test_mode:
            from station.sim.testmode import TestModeSource

            try:
                source = TestModeSource(source, read_mapfile(test_mode))
            except MapfileError as e:
                raise Refused(f"test-mode mapfile: {e}") from None
        rmap, new_map = load_map(map_path, source.size, f"the source has only {source.size}")
        if carried is not None and carried.size == source.size:
            rmap = carried  # new_map stays: the run writes it as the mapfile before anything else
        if not new_map and rmap.bytes_in(Status.FINISHED) and not os.path.exists(dest):
            raise Refused(f"{map_path} records rescued data but {dest} does not exist")
        if options.domain is not None:
            options.domain = intersect(sorted(options.domain), [(0, source.size)])
            if not options.domain:
                raise Refused("the rescue domain is empty")
        image = check_output(
            dest, map_path, image, source.size, force=force, source=source.identity,
            resuming=not new_map or carried is not None,
        )  # fmt: skip
    except BaseException:
        source.close()
        lock.release()
        raise
    job = ImageJob(
        source=source, dest=dest, options=options, map_path=map_path, rmap=rmap, new_map=new_map,
        command=command, store=store, health=health, image=image, make_map_dir=make_map_dir,
        files_first=files_first,
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
