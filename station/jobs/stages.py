"""An imaging job in stages: the engine run over one domain after another, one session, one map.

`station image SOURCE DEST --files-first GLOB...` reads, in this order:

    metadata   partition tables, filesystem structures, directories: in rounds, each reading what
               the last made readable (station.fs.resolve), until a round finds nothing new
    files      the chosen files' extents and records, also in rounds (an ext4 extent tree or an
               NTFS attribute list read in one round names more extents for the next)
    used       every allocated block the filesystems' allocation maps name
    rest       everything else (the whole source, or -m's domain), as a plain job reads it

Each stage is an engine run over its domain (copying, trimming, sweeping); scraping and retry
passes, which cost most and give least, are left to the last stage.  What could not be resolved
(a directory that stayed unreadable, an unknown filesystem) is said in Notice events and the job
carries on.  Any job, staged or
plain, also takes ranges asked for first ("rescue these first", station.jobs.stage_record): the
engine ends its run at its next safe point (RunControl.prioritize, station.rescue.steering),
those ranges are read as a stage of their own, and the interrupted stage goes on where it was.

Where the job is, is kept beside the map (`StageRecord`), saved before each stage starts, so a
job killed at any instant resumes in the right stage: the map's phase and position are those
of the stage's domain.  A plain job nobody asked anything of writes no record and behaves as
it always did.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from station.core.events import Event, Notice, Progress, StageStarted
from station.core.ranges import Range, intersect
from station.fs.ranges import merge as merged
from station.fs.ranges import subtract
from station.jobs.restore_stream import merge_domain
from station.jobs.stage_record import StageRecord, load_record, record_path, take_requests
from station.rescue.domain import Domain
from station.rescue.engine import RunResult
from station.rescue.outcome import Outcome
from station.rescue.rescuemap import Phase, Status
from station.rescue.steering import YIELDED

if TYPE_CHECKING:
    from station.images.reader import ImageReader
    from station.jobs.imaging import ImageJob
    from station.jobs.lifecycle import JobRun

FILES_FIRST = ("metadata", "files", "used", "rest")
PLAIN = ("rest",)
ROUNDS = ("metadata", "files")
MAX_ROUNDS = 32  # a round that keeps finding "new" metadata on a garbage disk ends the stage here
ALIGN = 4096  # stage domains are whole 4 KiB blocks...
GAP = 64 << 10  # ...joined across gaps smaller than a seek costs
USED_GAP = 1 << 20
REQUEST_POLL = 1.0  # seconds between looks for request files
# How the engine says a run ended with work it was told not to do (--no-scrape...): for a stage
# that is done, the next stage goes on; any other stop ends the job.
WORK_LEFT = "work left that this run could not do"
_PENDING = (Status.NON_TRIED, Status.NON_TRIMMED, Status.NON_SCRAPED)


def widen(ranges: list[Range], size: int, align: int = ALIGN, gap: int = GAP) -> list[Range]:
    """Ranges grown to whole `align` blocks and joined across gaps under `gap`, within [0, size):
    a few more bytes read beats a seek per 256-byte inode."""
    blocks = [(lo // align * align, -(-hi // align) * align) for lo, hi in ranges if hi > lo]
    return merge_domain(blocks, size, max(gap, 1))


class StagedRun:
    """The work of one ImageJob: its stages, in order, with priority stages as they are asked for."""

    def __init__(self, job: ImageJob, run: JobRun, emit: Callable[[Event], None]) -> None:
        self.job, self.jrun, self.emit = job, run, emit
        self.map = job.rmap
        self.size = job.rmap.size
        self.globs = list(job.files_first or [])
        self.order = FILES_FIRST if self.globs else PLAIN
        self.read_errors = 0
        self.power_cycles = 0
        self.notes: list[str] = []  # what the last metadata round could not resolve
        self._runs = 0  # engine runs so far
        self._next_poll = 0.0
        self._said: set[str] = set()
        self.record, self._resumed = self._start_record()
        self._keep = bool(self.globs or self.record.priority)  # write the record (and say stages)?

    # -- the record ------------------------------------------------------------------------------

    def _start_record(self) -> tuple[StageRecord, bool]:
        """The record to go on from, and whether the map's place belongs to its stage: the saved
        one, unless the map is new or the globs changed (then the stages start over)."""
        saved = None if self.job.new_map else load_record(self.job.map_path)
        if saved is not None and saved.globs == self.globs and saved.stage in self.order:
            return saved, True
        rec = StageRecord(globs=self.globs, stage=self.order[0], priority=saved.priority if saved else [])
        if saved is not None and not (self.globs or rec.priority):  # another plan's place: not ours
            Path(record_path(self.job.map_path)).unlink(missing_ok=True)
        return rec, not self.globs

    def _save(self) -> None:
        if self._keep:
            self.record.save(self.job.map_path)

    def _take_requests(self, *, force: bool = False) -> None:
        """Ranges asked for first by other views (request files): into the record, then to the
        engine, which ends its run at its next safe point."""
        now = time.monotonic()
        if not force and now < self._next_poll:
            return
        self._next_poll = now + REQUEST_POLL
        ranges, files = take_requests(self.job.map_path)
        if not files:
            return
        ranges = self._clip(ranges)
        if ranges:
            self._keep = True
            self.record.priority = merged(self.record.priority + ranges)
            self._save()
            self.jrun.control.prioritize(ranges)
        for f in files:
            f.unlink(missing_ok=True)

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Every stage to the last, or the first stop; returns how the last engine run ended."""
        rec = self.record
        control = self.jrun.control
        resumed = self._resumed
        while True:
            self._take_requests(force=True)
            rec.priority = merged(rec.priority + self._clip(control.take_priority()))
            if control.stopping:
                return self._result(Outcome.STOPPED, "interrupted")
            if rec.priority:
                r = self._priority()
                if r is not None:
                    return r
                resumed = True  # the interrupted stage goes on where it was
                continue
            keep = resumed and (bool(rec.domain) or rec.stage == "rest")
            resumed = False
            if rec.stage == "rest":
                rec.domain = merged(self.job.options.domain or [(0, self.size)])
            elif not keep:
                self._next_domain()
            last = rec.stage == "rest"
            if not last and not (rec.domain and Domain(self.map, rec.domain).pending()):
                self._advance()
                continue
            r = self._engine(rec.domain, rec.stage, fresh=not keep)
            if r.reason == YIELDED:
                resumed = True
                continue
            if last or not self._stage_done(r):
                return r
            self._after_round()

    @staticmethod
    def _stage_done(r: RunResult) -> bool:
        return r.outcome == Outcome.FINISHED or (r.outcome == Outcome.STOPPED and r.reason == WORK_LEFT)

    def _after_round(self) -> None:
        """A stage's engine run is over: the next round of it, or the next stage."""
        rec = self.record
        if rec.stage in ROUNDS and rec.round + 1 < MAX_ROUNDS:
            rec.covered = merged(rec.covered + rec.domain)
            rec.round += 1
            rec.domain = []
        else:
            self._advance()

    def _advance(self) -> None:
        rec = self.record
        if rec.stage == "metadata":
            self._say_notes()
        i = self.order.index(rec.stage)
        rec.stage, rec.round, rec.domain, rec.covered = self.order[min(i + 1, len(self.order) - 1)], 0, [], []

    # -- domains ---------------------------------------------------------------------------------

    def _clip(self, ranges: list[Range]) -> list[Range]:
        """Ranges inside the source and the job's own domain (-m), in whole 4 KiB blocks."""
        out = widen(ranges, self.size, gap=0)
        dom = self.job.options.domain
        return intersect(out, merged(dom)) if dom else out

    def _next_domain(self) -> None:
        """The record's stage's domain from what is rescued now: what this round adds."""
        rec = self.record
        res = self._resolve(used=rec.stage == "used")
        if rec.stage == "metadata":
            new = res.pending_metadata
            self.notes = res.notes
        elif rec.stage == "files":
            new = res.files
            if not res.files and rec.round == 0:
                self._notice(f"files first: nothing matches {', '.join(self.globs)} in what was rescued")
        else:
            new = res.used
        gap = USED_GAP if rec.stage == "used" else GAP
        rec.domain = subtract(self._clip(widen(new, self.size, gap=gap)), rec.covered)

    def _resolve(self, used: bool):
        """station.fs.resolve over the image as it stands (no engine runs now: the sink is synced)."""
        from station.fs.domain import Resolution, resolve

        try:
            reader = self._reader()
        except Exception as e:  # a working file we cannot read back: say so, go on with the rest
            self._notice(f"files first: the image cannot be read back ({e})")
            return Resolution([], [], [], [str(e)], [])
        try:
            return resolve(reader, self.globs, used=used)
        finally:
            reader.close()

    def _reader(self) -> ImageReader:
        from station.images.reader import RawImageReader
        from station.images.zstreader import ZstImageReader

        if self.job.image.format == "zst":
            return ZstImageReader(self.job.dest, self.map)
        return RawImageReader(self.job.dest, self.map)

    def _say_notes(self) -> None:
        """What the metadata stage could not resolve: each note once, in the session's events."""
        for n in self.notes:
            self._notice(f"not resolved: {n}")
        self.record.notes = list(self.notes)

    def _notice(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            self.emit(Notice(self.jrun.t(), message))

    # -- engine runs -----------------------------------------------------------------------------

    def _priority(self) -> RunResult | None:
        """Read the ranges asked for first, then put the interrupted stage back where it was;
        a RunResult when the job must end (stopped, failed)."""
        rec, m = self.record, self.map
        self._keep = True
        if not Domain(m, rec.priority).pending():  # nothing of it left to read (bad sectors wait for the end)
            rec.priority = []
            self._save()
            return None
        if rec.resume_at is None:
            rec.resume_at = (m.phase.value, m.pass_, m.current_pos)
        r = self._engine(rec.priority, "priority", fresh=True)
        if r.reason == YIELDED:
            return None  # more asked for meanwhile: the next priority stage reads all of it
        if not self._stage_done(r):
            return r
        phase, pass_, pos = rec.resume_at
        m.phase, m.pass_, m.current_pos = Phase(phase), pass_, pos
        rec.priority, rec.resume_at = [], None
        self._save()
        self.jrun.save_map(m)
        return None

    def _engine(self, domain: list[Range], stage: str, *, fresh: bool) -> RunResult:
        """One engine run over `domain`: the record saved first, then (for a stage that starts
        now) the map's phase set to the start of it."""
        m, job = self.map, self.job
        self._save()
        if fresh:
            m.phase, m.pass_, m.current_pos = Phase.COPYING, 1, domain[0][0]
            self.jrun.save_map(m)
        last = stage == "rest"
        if self._keep:
            pending = sum(hi - lo for s in _PENDING for lo, hi in Domain(m, domain).blocks(s))
            size = sum(hi - lo for lo, hi in domain)
            rnd = self.record.round if stage in ROUNDS else 0
            self.emit(StageStarted(self.jrun.t(), stage, rnd, len(domain), size, pending))
        # Scraping and retrying bad areas sector by sector costs most and gives least: left to the
        # last stage, as ddrescue leaves them to the end, so the next domain's good data comes first.
        kept = {"retry_passes": job.options.retry_passes, "no_scrape": job.options.no_scrape}
        forced = {} if last else {"retry_passes": 0, "no_scrape": True}
        opts = dataclasses.replace(job.options, domain=domain, **forced)
        # a plain job's one run keeps its times as they always were
        offset = self.jrun.t() if self._runs or self._keep else 0.0
        self._runs += 1
        engine = job.engine_for(self.jrun, opts, self._shifted(offset))
        r = engine.run()
        # options changed while it ran (the options dialog) hold for the runs after it; the ones
        # this stage forced go back to the technician's, unless the technician changed them meanwhile
        back = {k: v for k, v in kept.items() if k in forced and getattr(engine.opts, k) == forced[k]}
        job.options = dataclasses.replace(engine.opts, domain=job.options.domain, **back)
        self.read_errors += r.read_errors
        self.power_cycles += engine.power_cycles
        return r

    def _shifted(self, offset: float) -> Callable[[Event], None]:
        """The engine's events on the job's time line (each engine run counts from its own start),
        with a look for request files at most once a second."""
        emit = self.emit

        def out(e: Event) -> None:
            if isinstance(e, Progress):
                self._take_requests()
                if offset:
                    e = dataclasses.replace(e, t=e.t + offset, elapsed=e.elapsed + offset)
            elif offset:
                e = dataclasses.replace(e, t=e.t + offset)
            emit(e)

        return out

    def _result(self, outcome: str, reason: str) -> RunResult:
        return RunResult(outcome, reason, self.map.summary(), self.read_errors)
