"""A clone: the rescue engine straight onto one or more drives ("station clone SOURCE T1 T2 ...").

It is an imaging job whose sink fans out (station.media.fanout.FanoutSink): the engine, its
phases, its map and its events are those of `station image`.  Its mapfile lives in the session
store (`maps/`), never beside a target in /dev; the same command resumes it.  Every target is
checked as a restore's are (station.jobs.targets).  A target whose write or sync fails is
dropped, with an event, and the rescue goes on to the others; the session then ends "failed"
(exit 1) with each target's end in its record, so that nobody takes a dropped drive for a copy.

Then every target is read back over the rescued areas (`--no-verify` skips it), from the medium,
not the page cache: the first gives the SHA-256 of what was rescued, each other is compared with
it range by range.  A rescue has no image to hold the targets to (the source is failing and is
not read twice), so this proves the targets read back and agree: an unreadable target, one that
dropped writes or returns other bytes (a fake-capacity drive wraps its writes) ends the clone
"failed", naming the target and the ranges.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from station.core.events import TargetState
from station.core.record import JobKind, SessionRecord, TargetCheck, TargetResult
from station.core.session import SessionStore
from station.jobs.image_output import RawOutput
from station.jobs.imaging import ImageJob, prepare
from station.jobs.lifecycle import Ending, JobRun
from station.jobs.targets import TargetInfo, check_targets
from station.media.base import Refused, Source
from station.media.fanout import FanoutSink
from station.media.source import probe_source
from station.rescue.options import RescueOptions
from station.rescue.rescuemap import Status

if TYPE_CHECKING:
    from station.health.watch import HealthOptions


@dataclass
class CloneJob(ImageJob):
    """A prepared clone: an ImageJob whose destination is every target at once."""

    kind: ClassVar[str] = JobKind.CLONE
    targets: list[TargetInfo] = field(default_factory=list)
    verify: bool = True  # read every target back once the rescue is finished
    _fan: FanoutSink | None = field(default=None, init=False, repr=False)

    def open(self) -> None:
        from station.media.sink import open_sink

        sinks = []
        try:
            for t in self.targets:
                sinks.append(
                    open_sink(t.path, size=self.source.size, create=True, source=self.source.identity)
                )
        except OSError as e:
            for s in sinks:
                s.close()
            raise Refused(f"cannot open target: {e.strerror}") from None
        except BaseException:
            for s in sinks:
                s.close()
            raise
        self._fan = FanoutSink(sinks)
        # the engine's output: every target at once, no image hashes (each target is checked apart)
        self._out = RawOutput(self.dest, self._fan, self.source.size, (), "")

    def describe(self) -> SessionRecord:
        record = super().describe()
        record.destinations = [os.path.abspath(t.path) for t in self.targets]
        record.targets = [_result(t) for t in self.targets]
        return record

    def work(self, run: JobRun) -> Ending:
        fan = self._fan
        assert fan is not None
        fan.on_drop = lambda path, e: run.emit(
            TargetState(run.t(), path, "dropped", (e.strerror or str(e)).lower())
        )
        t0 = time.monotonic()
        ending = super().work(run)
        seconds = round(time.monotonic() - t0, 3)
        results = []
        for t in self.targets:
            r = _result(t)
            r.bytes_written, r.seconds = fan.written.get(t.path, 0), seconds
            if t.path in fan.dropped:
                r.state, r.error = "dropped", fan.dropped[t.path]
            else:
                r.state = "written" if ending.outcome == "finished" else ending.outcome
                run.emit(TargetState(run.t(), t.path, r.state))
            results.append(r)
        run.session.record.targets = results
        if ending.outcome == "finished" and self.verify and not run.control.stopping:
            wrong = self._read_back(run, [r for r in results if r.state == "written"])
            run.session.record.targets = results
            if wrong:
                return dataclasses.replace(
                    ending, outcome="failed", reason=f"{ending.reason}; {'; '.join(wrong)}"
                )
        if fan.dropped and ending.outcome == "finished":
            lost = "; ".join(f"{p}: {why}" for p, why in fan.dropped.items())
            kept = len(self.targets) - len(fan.dropped)
            return dataclasses.replace(
                ending, outcome="failed", reason=f"{ending.reason} on {kept} target(s); dropped {lost}"
            )
        return ending

    def _read_back(self, run: JobRun, kept: list[TargetResult]) -> list[str]:
        """Read the targets back over the rescued areas (see the module's docstring), all at once
        (READBACKS at most, READBACK_CHUNK bytes each); what is wrong, in words (nothing: every
        target reads back whole and they agree)."""
        from collections import Counter

        from station.images.reader import RawImageReader
        from station.jobs.verify_target import (
            READBACK_CHUNK,
            READBACKS,
            Expectation,
            check_target,
            check_words,
            target_digest,
        )

        if not kept:
            return []
        size = self.source.size
        domain = [(b.pos, b.end) for b in self.rmap if b.status == Status.FINISHED]
        checked = sum(b - a for a, b in domain)

        def expect(digest: str | None = None, came: str | None = None) -> Expectation:
            return Expectation(size, domain, "zero", lambda pos, n: [], digest=digest, digest_from=came)

        def read_back(path: str) -> TargetCheck:
            """One target's pass (a thread each: every drive reads at its own pace)."""
            t0 = time.monotonic()
            try:
                digest, short = target_digest(path, expect(), chunk=READBACK_CHUNK)
            except OSError as e:
                why = (e.strerror or str(e)).lower()
                return TargetCheck("failed", detail=f"could not read it back: {why}")
            return TargetCheck(
                "failed" if short else "ok", "sha256", None, digest, None,
                bad_ranges=[[a, b] for a, b in short] or None, checked_bytes=checked,
                seconds=round(time.monotonic() - t0, 3),
                detail="shorter than the source: the rest cannot be read back" if short else None,
            )  # fmt: skip

        for r in kept:
            run.emit(TargetState(run.t(), r.path, "reading back"))
        with ThreadPoolExecutor(min(len(kept), READBACKS), thread_name_prefix="read back") as pool:
            checks = list(pool.map(read_back, [r.path for r in kept]))
        digests: dict[str, str] = {}
        wrong: list[str] = []
        for r, check in zip(kept, checks, strict=True):
            r.check = check
            if check.state == "ok" and check.actual:
                digests[r.path] = check.actual
            else:
                wrong.append(f"{r.path}: {check_words(check)}")
            run.emit(TargetState(run.t(), r.path, "read back", check_words(check)))
        if len(set(digests.values())) <= 1:
            return wrong
        # they disagree: the most of them agreeing (the first, in a tie) is what the others are held to
        common = Counter(digests.values()).most_common()
        ref = next(p for p, d in digests.items() if d == common[0][0])
        came = f"target {ref}, read back"
        for r in kept:
            if r.path not in digests or digests[r.path] == digests[ref]:
                continue
            run.emit(TargetState(run.t(), r.path, "comparing"))
            r.check = check_target(r.path, expect(digests[ref], came), lambda: RawImageReader(ref, size=size))
            run.emit(TargetState(run.t(), r.path, "compared", check_words(r.check)))
            tie = len(common) > 1 and common[0][1] == common[1][1]
            who = f"{r.path} and {ref} hold different bytes" if tie else f"{r.path} differs from the others"
            wrong.append(f"{who} ({check_words(r.check)})")
        return wrong

    def writes(self) -> list[str]:
        return [self.map_path, *(t.path for t in self.targets)]


def _result(t: TargetInfo) -> TargetResult:
    return TargetResult(
        path=os.path.abspath(t.path), kind=t.kind, size=t.size, model=t.model, serial=t.serial
    )


def _stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "drive"


def clone_map_path(store: SessionStore, source: str, serial: str | None, targets: list[TargetInfo]) -> str:
    """One mapfile per source and set of targets, in the session store: the same command resumes."""
    names = "+".join(_stem(t.serial or os.path.basename(t.path)) for t in targets)
    return str(store.root / "maps" / f"clone-{_stem(serial or os.path.basename(source))}-to-{names}.map")


def prepare_clone(
    source_path: str,
    targets: list[str],
    *,
    options: RescueOptions | None = None,
    force: bool = False,
    source: Source | None = None,
    store: SessionStore | None = None,
    command: list[str] | None = None,
    health: HealthOptions | None = None,
    verify: bool = True,
) -> CloneJob:
    """Check the source and every target (Refused, one line, nothing created), as `prepare` does."""
    store = store or SessionStore()
    command = command if command is not None else sys.argv
    identity = source.identity if source is not None else probe_source(source_path)
    infos = check_targets(targets, [identity], force=True)  # force: asked below, once the map is known
    map_path = clone_map_path(store, identity.path, identity.serial, infos)
    resuming = os.path.exists(map_path)
    if not force and not resuming:
        check_targets(targets, [identity], force=False)
    for t in infos:
        if t.kind == "block" and t.size < identity.size:
            raise Refused(f"refusing: {t.path} holds {t.size} bytes, less than the source's {identity.size}")
    os.makedirs(os.path.dirname(map_path), exist_ok=True)
    job = prepare(
        source_path, targets[0], map_path, options=options, force=True, source=source, command=command,
        store=store, health=health,
    )  # fmt: skip
    lock = job.writer_lock
    try:
        if lock is not None:
            lock.add(targets[1:])
    except BaseException:
        job.discard()
        raise
    values = {f.name: getattr(job, f.name) for f in dataclasses.fields(job) if f.init}
    clone = CloneJob(**values, targets=infos, verify=verify)
    if lock is not None:
        clone.hold(lock)
    return clone
