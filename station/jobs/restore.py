"""A restore: one image written onto one or many targets at once, each checked afterwards.

`prepare_restore` makes every check (the image, each target: station.jobs.targets; the room
each needs and its sector size: station.fs.fit) before anything is created, raising Refused with
one line.  `RestoreJob.run` (station.jobs.lifecycle) then records the session and does the work
in these threads:

    this thread      reads the image once, in order (station.jobs.restore_stream), into a ring
                     of RING_SLOTS buffers of PIECE bytes; emits progress; drops stalled targets
    a lane a target  writes each piece, then its partition-table patches, fdatasync, and (unless
                     --no-verify) reads itself back for its digest (station.media.fanwrite)
    a hasher lane    the image's digest over what the targets are checked on, when the image
                     did not record it

A target that fails (a write error, gone, no answer for `stall_after` seconds) is dropped and
reported; the others go on.  At the end each target's digest is compared with the image's; a
mismatch is read once more beside the image to name the ranges that differ.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import ClassVar

from station.core.events import Notice, Paused, Progress, Resumed, TargetsProgress, TargetState
from station.core.identity import SourceIdentity
from station.core.record import JobKind, RestoreRecord, SessionRecord, TargetCheck, TargetResult
from station.core.session import SessionStore
from station.fs.fit import DiskLayout, Patch, fit, read_layout, refusal, stale_gpt
from station.images.errors import ImageCorrupt
from station.images.formats import image_format, open_image
from station.images.reader import ImageReader
from station.images.zstreader import ZstImageReader
from station.jobs.lifecycle import Ending, JobRun, Lifecycle, starting_holder
from station.jobs.restore_stream import FILLS, PIECE, RING_SLOTS, DomainHasher, Stream, merge_domain, segments
from station.jobs.targets import TargetInfo, check_targets, target_info
from station.jobs.verify_target import (
    READBACK_CHUNK,
    READBACKS,
    Expectation,
    check_target,
    check_words,
    target_digest,
)
from station.media.base import Refused
from station.media.fanwrite import Fanout, Lane, Piece, Ring, Slot, describe_error
from station.media.locks import lock_for_writing
from station.media.target import RestoreTarget
from station.rescue.mapfile import MapfileError
from station.rescue.rescuemap import RescueMap, Status

Range = tuple[int, int]
STALL_AFTER = 120.0  # seconds a target may take over one write, sync or read before it is dropped
TICK = 0.25  # seconds between progress events (targets' rows: every fourth)
READERS = 2  # threads reading (decompressing) the image ahead of the targets


@dataclass(frozen=True)
class RestoreSettings:
    """How to restore: what unread areas become, whether only used blocks go, whether to check."""

    fill: str = "zero"  # zero, skip or marker (station.jobs.restore_stream)
    used_only: bool = False
    verify: bool = True
    force: bool = False  # overwrite drives and existing files
    stall_after: float = STALL_AFTER


@dataclass
class TargetPlan:
    """One target as prepared: what it receives, what is patched on it, what it must hold."""

    info: TargetInfo
    end: int  # bytes of the image it receives
    size: int  # what it holds once written (an image file is made exactly the image's size)
    patches: list[Patch]
    layout: list[str]  # what was adjusted for it, in words
    expect: Expectation


_CHECKED = {"ok": "verified", "mismatch": "MISMATCH", "failed": "unreadable"}  # a check's state, shown


class _Target:
    """A target while the job runs: its writer lane and what it has done (written by its lane)."""

    def __init__(self, plan: TargetPlan, dest: RestoreTarget) -> None:
        self.plan, self.dest = plan, dest
        self.lane: Lane | None = None
        self.phase = "writing"  # writing, syncing, reading back, done
        self.written = 0
        self.checked = 0
        self.write_seconds: float | None = None
        self.first: tuple[str, list[Range]] | None = None  # its digest and bad ranges, read back
        self.read_error: str | None = None
        self.check: TargetCheck | None = None
        self.samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=16)
        self.said = ""  # the last state an event told

    @property
    def path(self) -> str:
        return self.plan.info.path

    def rate(self) -> float:
        """Bytes per second over the last few seconds."""
        s = self.samples
        return (s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0]) if len(s) > 1 and s[-1][0] > s[0][0] else 0.0

    def state(self) -> str:
        lane = self.lane
        if lane is None:
            return "pending"
        if lane.dropped:
            return lane.state
        if lane.state == "stopped":
            return "stopped"
        if self.check is not None:
            return _CHECKED.get(self.check.state, "written")
        return "written" if lane.state == "done" else self.phase


@dataclass
class RestoreJob(Lifecycle):
    """A prepared restore: the image open, every target checked, nothing written yet."""

    kind: ClassVar[str] = JobKind.RESTORE
    image: str
    image_map: str | None
    reader: ImageReader
    layout: DiskLayout
    plans: list[TargetPlan]
    settings: RestoreSettings
    domain: list[Range]
    recorded: dict[str, str] | None  # the image's own hashes (a sealed zst)
    algorithm: str
    notes: list[str] = field(default_factory=list)
    _targets: list[_Target] = field(default_factory=list, init=False, repr=False)

    # -- the lifecycle's steps ----------------------------------------------------------------

    def open(self) -> None:
        """Every target, drives and existing files first, new files last; a refusal removes them."""
        order = sorted(self.plans, key=lambda p: not p.info.exists)
        opened: dict[str, RestoreTarget] = {}
        try:
            for plan in order:
                opened[plan.info.path] = RestoreTarget(plan.info.path, file_size=plan.size, source=self.image)
        except BaseException:
            for dest in opened.values():
                dest.close()
                if dest.created:
                    os.unlink(dest.path)
            raise
        self._targets = [_Target(p, opened[p.info.path]) for p in self.plans]

    def describe(self) -> SessionRecord:
        r = self.reader
        unread = sum(b - a for a, b in r.unrescued(0, r.size))
        return SessionRecord(
            method="restore",
            source=SourceIdentity(path=os.path.abspath(self.image), kind="image", size=r.size),
            destinations=[os.path.abspath(p.info.path) for p in self.plans],
            options={
                "fill": self.settings.fill,
                "used_only": self.settings.used_only,
                "verify": self.settings.verify,
            },  # fmt: skip
            restore=RestoreRecord(
                image=os.path.abspath(self.image),
                image_format=image_format(self.image),
                image_map=os.path.abspath(self.image_map) if self.image_map else None,
                image_size=r.size,
                unrescued=unread,
                fill=self.settings.fill,
                used_only=self.settings.used_only,
                written_domain=sum(b - a for a, b in self.domain),
                image_hashes=self.recorded,
            ),  # fmt: skip
            targets=[self._result(p, None) for p in self.plans],
        )

    def work(self, run: JobRun) -> Ending:
        return _Work(self, run).run()

    def close(self) -> None:
        for t in self._targets:
            t.dest.close()
        self.reader.close()

    def writes(self) -> list[str]:
        return [self.map_path, *(p.info.path for p in self.plans)]

    # -- what the record keeps ------------------------------------------------------------------

    def _result(self, plan: TargetPlan, t: _Target | None) -> TargetResult:
        info = plan.info
        res = TargetResult(
            path=os.path.abspath(info.path), kind=info.kind, size=plan.size, model=info.model,
            serial=info.serial, layout=plan.layout or None,
        )  # fmt: skip
        if t is None:
            return res
        lane = t.lane
        res.state = {"verified": "written", "MISMATCH": "written", "unreadable": "written"}.get(
            t.state(), t.state()
        )
        res.bytes_written, res.seconds = t.written, t.write_seconds
        res.error = lane.error if lane is not None and lane.error else None
        res.check = t.check or TargetCheck(
            "skipped", detail="--no-verify" if not self.settings.verify else f"the target was {res.state}"
        )
        return res


class _Work:
    """One run of a RestoreJob's work (see the module's docstring for its threads)."""

    def __init__(self, job: RestoreJob, run: JobRun) -> None:
        self.job, self.run_, self.clock = job, run, run.clock
        self.targets = job._targets
        self.total = max(p.end for p in job.plans)
        need_hash = any(p.expect.digest is None for p in job.plans)
        self.hasher = DomainHasher(job.algorithm, [p.end for p in job.plans]) if need_hash else None
        self.ring = Ring(RING_SLOTS, PIECE)
        self.last_tick = self.last_rows = 0.0
        self.t0 = self.clock()
        self.stopped = False
        self.fan: Fanout | None = None
        self.readbacks = threading.BoundedSemaphore(READBACKS)  # targets read back at once

    # -- the lanes --------------------------------------------------------------------------------

    def _writer(self, t: _Target) -> Lane:
        plan, dest = t.plan, t.dest
        lane: Lane

        def consume(piece: Piece) -> None:
            for a, b in segments(piece, plan.end):
                try:
                    if piece.slot is None:
                        dest.zero(a, b - a)
                    else:
                        dest.write(a, piece.slot.buf, a - piece.pos, b - a)
                except OSError as e:
                    raise OSError(e.errno, f"{describe_error(e)} writing at byte {a}") from None
                t.written += b - a
                lane.touch()

        def finish() -> None:
            t.phase = "syncing"
            for p in plan.patches:
                dest.write(p.pos, p.data, 0, len(p.data))
            dest.sync()
            t.write_seconds = round(self.clock() - (lane.started or self.t0), 3)
            if not self.job.settings.verify or self.run_.control.stopping:
                return
            t.phase = "reading back"

            def progress(n: int) -> None:
                t.checked = n
                lane.touch()

            while not self.readbacks.acquire(timeout=TICK):  # waiting for a buffer is no stall
                lane.touch()
            try:
                t.first = target_digest(plan.info.path, plan.expect, progress, chunk=READBACK_CHUNK)
            except OSError as e:
                t.read_error = describe_error(e)
            finally:
                self.readbacks.release()

        def begin() -> None:  # an image file target is made exactly the size it receives
            if plan.info.kind == "file":
                try:
                    dest.set_file_size(plan.size)
                except OSError as e:
                    raise OSError(e.errno, f"{describe_error(e)} making it {plan.size} bytes") from None

        lane = Lane(plan.info.path, consume, finish, self.clock, begin)
        return lane

    def _hasher_lane(self) -> Lane:
        assert self.hasher is not None
        hasher = self.hasher
        return Lane("image hash", hasher.consume, lambda: hasher.finish(self.total), self.clock)

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> Ending:
        job, run = self.job, self.run_
        for t in self.targets:
            t.lane = self._writer(t)
        lanes = [t.lane for t in self.targets if t.lane is not None]
        if self.hasher is not None:
            lanes.append(self._hasher_lane())
        for note in job.notes:
            run.emit(Notice(run.t(), note))
        self.fan = fan = Fanout(self.ring, lanes)
        failure: str | None = None
        readers = [job.reader]
        try:
            for _ in range(READERS - 1):
                readers.append(open_image(job.image, job.image_map))
            stream = Stream(readers, self.total, job.domain, job.settings.fill, self._take, self.ring.give)
            try:
                for piece in stream.pieces():
                    fan.put(piece)
                    self._tick()
                    if not self._live():
                        break
            finally:
                stream.close()
        except _Stop:
            pass
        except (ImageCorrupt, OSError, MapfileError) as e:
            failure = f"the image could not be read: {e}"
        finally:
            for r in readers[1:]:
                r.close()
        self.stopped = self.stopped or failure is not None or run.control.stopping
        fan.end("stopped" if self.stopped else "done")
        while not fan.over:
            time.sleep(0.05)
            self._tick()
        self._compare()
        self._tick(force=True)
        return self._ending(failure)

    def _take(self) -> Slot:
        """A free slot; meanwhile progress, stalls, a stop or a pause are seen to."""
        control = self.run_.control
        while True:
            if control.stopping or not self._live():
                raise _Stop
            if control.paused:
                self.run_.emit(Paused(self.run_.t(), control.reasons()))
                while not control.wait_while_paused(TICK):
                    self._tick()
                self.run_.emit(Resumed(self.run_.t()))
                continue
            slot = self.ring.take(TICK)
            if slot is not None:
                return slot
            self._tick()

    def _live(self) -> bool:
        return any(t.lane is not None and not t.lane.dropped for t in self.targets)

    def _compare(self) -> None:
        """Each target's digest against the image's; a mismatch is read again beside the image."""
        job = self.job
        if not job.settings.verify or self.stopped:
            return
        for t in self.targets:
            lane = t.lane
            if lane is None or lane.state != "done":
                continue
            exp = t.plan.expect
            if exp.digest is None and self.hasher is not None:
                exp.digest = self.hasher.digests.get(t.plan.end)
                exp.digest_from = "computed while reading the image"
            if t.read_error is not None:
                t.check = TargetCheck("failed", exp.algorithm, exp.digest, None, exp.digest_from,
                                      detail=f"could not read it back: {t.read_error}")  # fmt: skip
                continue
            t.phase = "comparing"
            t.check = check_target(
                t.path, exp, lambda: open_image(job.image, job.image_map), first=t.first,
                progress=lambda n, t=t: setattr(t, "checked", n),
            )  # fmt: skip
            self._tick()

    # -- what the views see -----------------------------------------------------------------------

    def _tick(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self.last_tick < TICK:
            return
        self.last_tick = now
        run = self.run_
        stalled = self.fan.check(self.job.settings.stall_after, now) if self.fan is not None else []
        for lane in stalled:
            run.emit(Notice(run.t(), f"{lane.name}: dropped, {lane.error}"))
        for t in self.targets:
            t.samples.append((now, t.written + t.checked))
            state = t.state()
            if state != t.said:
                t.said = state
                lane = t.lane
                detail = (
                    lane.error if lane is not None and lane.error else check_words(t.check) if t.check else ""
                )
                run.emit(TargetState(run.t(), t.path, state, detail))
        live = [t for t in self.targets if t.lane is not None and not t.lane.dropped]
        done = min((min(t.lane.done_to, t.plan.end) for t in live if t.lane), default=0)
        if done:
            self.job.rmap.set_status(0, done, Status.FINISHED)
        verifying = any(t.phase in ("reading back", "comparing") for t in live)
        self._progress(done, verifying, now)
        if force or now - self.last_rows >= 1.0:
            self.last_rows = now
            run.emit(TargetsProgress(run.t(), [_row(t) for t in self.targets]))

    def _progress(self, done: int, verifying: bool, now: float) -> None:
        elapsed = now - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        live = [t for t in self.targets if t.lane is not None and not t.lane.dropped]
        current = min((t.rate() for t in live), default=0.0)
        if verifying:
            total = sum(sum(b - a for a, b in t.plan.expect.ranges()) for t in live) or 1
            done = sum(t.checked for t in live)
        else:
            total = self.total
        self.run_.emit(
            Progress(
                self.run_.t(), "verifying" if verifying else "writing", 1, done, total, done, total - done,
                0, 0, 0, 0, 0, current, rate, elapsed, None,
                (total - done) / current if current > 0 else None,
            )
        )  # fmt: skip

    def _ending(self, failure: str | None) -> Ending:
        job, run = self.job, self.run_
        results = [job._result(t.plan, t) for t in self.targets]
        run.session.record.targets = results
        bad = [
            r for r in results if r.state != "written" or (r.check and r.check.state not in ("ok", "skipped"))
        ]
        n = len(results)
        hashes = {job.algorithm: job.plans[0].expect.digest} if job.plans[0].expect.digest else None
        if failure is not None:
            return Ending("failed", failure, hashes=hashes)
        if self.stopped and run.control.stopping:
            why = f"stopped by request: {n - len(bad)} of {n} targets complete"
            return Ending("stopped", why, hashes=hashes)
        if bad:
            why = "; ".join(f"{r.path}: {r.error or _why(r)}" for r in bad[:3])
            return Ending("failed", f"{len(bad)} of {n} targets failed ({why})", hashes=hashes)
        checked = " and verified" if job.settings.verify else ""
        return Ending("finished", f"restored{checked} to {n} target{'s' if n > 1 else ''}", hashes=hashes)


class _Stop(Exception):
    """The stream ends early: a stop, or no target left."""


def _why(r: TargetResult) -> str:
    return check_words(r.check) if r.check is not None and r.check.state != "skipped" else r.state


def _row(t: _Target) -> dict[str, object]:
    """One target's counters as TargetsProgress carries them: written, then checked, of how much."""
    writing = t.phase == "writing"
    total = t.plan.end if writing else sum(b - a for a, b in t.plan.expect.ranges())
    done = t.written if writing else t.checked
    return {"target": t.path, "state": t.state(), "done": done, "total": total, "rate": round(t.rate())}


# -- preparing ------------------------------------------------------------------------------------


def restore_map_path(store: SessionStore, image: str, targets: list[str]) -> str:
    """The restore's progress map, in the session store (never beside a target in /dev)."""
    key = hashlib.sha256("\0".join(os.path.realpath(t) for t in targets).encode()).hexdigest()[:10]
    stem = os.path.basename(image).replace(" ", "_") or "image"
    return str(store.root / "maps" / f"restore-{stem}-{key}.map")


def prepare_restore(
    image: str,
    targets: list[str],
    *,
    image_map: str | None = None,
    settings: RestoreSettings | None = None,
    store: SessionStore | None = None,
    command: list[str] | None = None,
) -> RestoreJob:
    """Check the image and every target; Refused (one line) with nothing created or changed."""
    settings = settings or RestoreSettings()
    if settings.fill not in FILLS:
        raise Refused(f"--fill: {settings.fill!r} is not one of {', '.join(FILLS)}")
    store = store or SessionStore()
    command = command if command is not None else sys.argv
    map_path = restore_map_path(store, image, targets)
    lock = lock_for_writing([map_path, *targets], starting_holder(command))  # one writer, first of all
    try:
        _not_being_written(image, image_map, command)
        reader = _open(image, image_map)
    except BaseException:
        lock.release()
        raise
    try:
        sources = [image] + [m for m in (image_map, image + ".map") if m and os.path.exists(m)]
        infos = check_targets(targets, sources, force=settings.force)
        layout = read_layout(reader)
        notes = list(layout.notes)
        domain = _domain(reader, settings.used_only, notes)
        recorded = _recorded(reader, image_map)
        algorithm = next((a for a in ("sha256", *(recorded or {})) if a in (recorded or {})), "sha256")
        plans = [_plan(i, reader, layout, domain, settings.fill) for i in infos]
        whole = domain == [(0, reader.size)]
        for plan in plans:
            if recorded and algorithm in recorded and plan.end == reader.size and whole:
                plan.expect.digest, plan.expect.digest_from = recorded[algorithm], "recorded in the image"
            plan.expect.algorithm = algorithm
        os.makedirs(os.path.dirname(map_path), exist_ok=True)
    except BaseException:
        reader.close()
        lock.release()
        raise
    job = RestoreJob(
        map_path=map_path, rmap=RescueMap(max(p.end for p in plans)), new_map=True, command=command,
        store=store, image=image, image_map=image_map, reader=reader, layout=layout, plans=plans,
        settings=settings, domain=domain, recorded=recorded, algorithm=algorithm, notes=notes,
    )  # fmt: skip
    job.hold(lock)
    return job


def _not_being_written(image: str, image_map: str | None, command: list[str]) -> None:
    """Locked (naming the job) when a rescue still writes the image or its map: what it holds now
    is not what it will hold.  Only a probe (restores of one image may run side by side)."""
    paths = [p for p in (image, image_map or image + ".map") if os.path.exists(p)]
    lock_for_writing(paths, starting_holder(command)).release()


def _open(image: str, image_map: str | None) -> ImageReader:
    """The image through its reader; Refused naming what is wrong with it."""
    if not os.path.exists(image):
        raise Refused(f"image {image}: no such file")
    if os.path.isdir(image):
        raise Refused(f"image {image}: is a directory")
    if image_map is not None and not os.path.isfile(image_map):
        raise Refused(f"mapfile {image_map}: no such file")
    try:
        reader = open_image(image, image_map)
    except (MapfileError, ImageCorrupt) as e:
        raise Refused(str(e)) from None
    except ValueError as e:
        raise Refused(f"image {image}: {e}") from None
    except OSError as e:
        raise Refused(f"image {image}: {(e.strerror or str(e)).lower()}") from None
    if reader.size == 0:
        reader.close()
        raise Refused(f"image {image}: is empty")
    return reader


def _domain(reader: ImageReader, used_only: bool, notes: list[str]) -> list[Range]:
    """What is written and checked: the whole image, or (--used-only) its used blocks and tables."""
    if not used_only:
        return [(0, reader.size)]
    from station.fs.disk import open_disk
    from station.fs.domain import used_domain

    used = used_domain(open_disk(reader), notes)
    return merge_domain(used, reader.size)


def _recorded(reader: ImageReader, image_map: str | None) -> dict[str, str] | None:
    """The hashes a sealed zst image recorded of itself (read with its own map), else None."""
    if image_map is not None or not isinstance(reader, ZstImageReader):
        return None
    meta = reader.metadata
    hashes = meta.get("hashes") if meta else None
    return dict(hashes) if isinstance(hashes, dict) and hashes else None


def _plan(
    info: TargetInfo, reader: ImageReader, layout: DiskLayout, domain: list[Range], fill: str
) -> TargetPlan:
    """What one target receives: Refused if it is too small or counts in other sectors."""
    size = reader.size
    patches: list[Patch] = []
    words: list[str] = []
    if info.kind == "block":
        why = refusal(layout, info.path, info.size, info.sector_size)
        if why:
            raise Refused(why)
        patches, words = fit(layout, info.size)
        if layout.scheme != "gpt" and info.size > size:
            patches += _stale_gpt(info)
        if layout.scheme == "none" and info.sector_size != layout.sector_size:
            words.append(f"no partition table: written as it is onto {info.sector_size}-byte sectors")
        size = info.size
    end = min(reader.size, size)
    if patches:
        words += [f"{p.what} at byte {p.pos}" for p in patches if "zeroed" in p.what]
    originals = {p.pos: reader.read(p.pos, len(p.data)) for p in patches if p.pos < reader.size}
    expect = Expectation(end, domain, fill, reader.unrescued, patches, originals)
    return TargetPlan(info, end, size, patches, words, expect)


def _stale_gpt(info: TargetInfo) -> list[Patch]:
    """A zeroing patch for an earlier disk's backup GPT header on the target's last sector."""
    pos = info.size - info.sector_size
    try:
        fd = os.open(info.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            last = os.pread(fd, info.sector_size, pos)
        finally:
            os.close(fd)
    except OSError:
        return []
    patch = stale_gpt(last, pos)
    return [patch] if patch else []


def verify_against_image(
    target: str, image: str, *, image_map: str | None = None, fill: str = "zero", used_only: bool = False
) -> TargetCheck:
    """`station verify TARGET --against IMAGE`: does the target hold what a restore of the image with
    these settings put there?  Refused (one line) for bad input; the target is only read."""
    if fill not in FILLS:
        raise Refused(f"--fill: {fill!r} is not one of {', '.join(FILLS)}")
    info = target_info(target)
    reader = _open(image, image_map)
    try:
        layout = read_layout(reader)
        domain = _domain(reader, used_only, [])
        if info.kind == "file" and info.size < reader.size:
            raise Refused(
                f"{target} holds {info.size} bytes, the image {reader.size}: it is no restore of it"
            )
        plan = _plan(dataclasses.replace(info, size=reader.size) if info.kind == "file" else info,
                     reader, layout, domain, fill)  # fmt: skip
        recorded = _recorded(reader, image_map)
        exp = plan.expect
        if recorded:
            exp.algorithm = next(a for a in ("sha256", *recorded) if a in recorded)
            if plan.end == reader.size and domain == [(0, reader.size)]:
                exp.digest, exp.digest_from = recorded[exp.algorithm], "recorded in the image"
    finally:
        reader.close()
    return check_target(target, exp, lambda: _open(image, image_map))
