"""What the phases of one run share, and the one way they read.

A phase (station.rescue.phases) is a few functions over a `RunState`: the map seen through the
domain, the options as they stand (they may change between passes), the read sizes, what
earlier passes learned, and the services every read goes through: `stream` (runs of reads with
the checks after each), the read recorder, the rate meter, recovery, steering and saving.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from enum import Enum

from station.core.control import RunControl
from station.core.events import Event, PhaseStarted
from station.core.ranges import intersect, subtract
from station.media.base import Sink, Source
from station.rescue.areas import AreaTracker
from station.rescue.clusters import ClusterSpans
from station.rescue.domain import Domain
from station.rescue.knowledge import Knowledge
from station.rescue.options import GiB, KiB, RescueOptions
from station.rescue.outcome import Outcome, Stop
from station.rescue.rate import RateMeter
from station.rescue.reader import ReadOutcome, RunSpec, StreamReader
from station.rescue.recorder import ReadRecorder
from station.rescue.recovery import Recovery
from station.rescue.rescuemap import Phase, RescueMap, Status
from station.rescue.saving import MapSaver
from station.rescue.slowness import SlowReads
from station.rescue.steering import Steering


class View(Enum):
    """Which part of the domain a phase reads (RunState.view)."""

    ALL = "all"
    FAST = "fast"
    SLOW = "slow"


NEAR_READ_SECTORS = 16


def max_skip_for(opts: RescueOptions, domain_size: int) -> int:
    """The largest skip over trouble: --max-skip-size, or 1% of the domain (64 KiB to 1 GiB)."""
    max_skip = opts.max_skip_size or min(max(domain_size // 100, 64 * KiB), GiB)
    return max(max_skip, opts.skip_size)


class RunState:
    """One run's shared state and services; built by the Engine, worked on by the phases."""

    def __init__(
        self,
        source: Source,
        sink: Sink,
        rmap: RescueMap,
        opts: RescueOptions,
        *,
        emit: Callable[[Event], None],
        save_map: Callable[[RescueMap], None] | None,
        map_path: str,
        clock: Callable[[], float],
        control: RunControl,
        recover: Callable[[str], str] | None,
    ) -> None:
        self.source = source
        self.sink = sink
        self.map = rmap
        self.opts = opts
        self.emit = emit
        self.clock = clock
        self.base_domain = Domain(rmap, opts.domain)  # what the run may read
        self.domain = self.base_domain  # what the current phase reads (see `view`)
        # read sizes: sectors, and clusters and big reads in whole alignment units
        # the source's sector (512 for a file unless told), or the finest read O_DIRECT allows there
        self.sector = max(opts.sector_size or source.sector_size or 512, source.alignment)
        align = self.sector
        self.align = align
        self.cluster = max(align, opts.cluster_size // align * align)
        self.max_read = max(self.cluster, opts.max_read_size // align * align)
        # near short bad areas (a scratch, scattered sectors) the copying pass reads this much at a
        # time, so that one it meets by chance leaves little good data to trimming
        self.near_read = min(self.cluster, NEAR_READ_SECTORS * align)
        self.max_skip = max_skip_for(opts, self.domain.size)
        # Reads of more than a sector may be copied by the kernel straight to an image file.
        self.copy_fd: int | None = getattr(sink, "fd", None) if hasattr(source, "copy_to") else None
        # what the passes learn and hand on
        self.read_size = self.cluster  # the copying and sweeping passes' current read size
        self.trouble_at: int | None = None  # where the copying pass last met an error or slow read
        self.knowledge = Knowledge(self.sector, self.cluster, self.max_skip)
        self.slowness = SlowReads(opts.min_read_rate, opts.slow_read_time, self.cluster)
        self.clusters = ClusterSpans(self.cluster)  # scattered bad clusters' spans (trimming)
        self.edge_done: set[int] = set()  # edges of non-trimmed blocks already trimmed to a bad sector
        # edges trimming stepped back from past a bad cluster (station.rescue.clusters): a few
        # good sectors each, the slowest data there is, trimmed after the slow pass if there is one
        self.edge_later: set[int] = set()
        self.unchecked: list[tuple[int, int, bool]] = []  # crossings trusted to a pattern, not yet confirmed
        self.fast_only = False  # the phase reads the fast view: a slow read defers what is left
        # services
        self.reader: StreamReader | None = None  # from start() on
        self.meter = RateMeter(clock)
        reopen_on_error = opts.reopen_on_error
        if reopen_on_error is None:
            reopen_on_error = source.identity.kind == "block"
        self.recovery = Recovery(
            source, recover, reopen_on_error, emit, self.t, lambda: self.opts.read_timeout, control.cancel
        )
        self.recorder = ReadRecorder(self)
        self.saver = MapSaver(sink, rmap, save_map, map_path, clock, emit, self.t)
        self.steering = Steering(self, control)

    @property
    def areas(self) -> AreaTracker:
        """What the copying pass learned about bad areas."""
        return self.knowledge.areas

    @property
    def slow_areas(self) -> AreaTracker:
        """... and about slow ones."""
        return self.knowledge.slow_areas

    def view(self, which: View) -> None:
        """The part of the domain the next phase reads: ALL of it, the FAST part (without what
        was learned to be slow or presumed bad), or the SLOW areas alone."""
        base = self.base_domain
        self.fast_only = which is View.FAST
        if which is View.ALL:
            self.domain = base
            return
        slow = self.knowledge.slow.ranges
        if which is View.SLOW:
            ranges = intersect(base.ranges, slow)
        else:
            ranges = subtract(base.ranges, self.knowledge.deferred())
        self.domain = Domain(self.map, ranges or [(0, 0)])

    def defer_slow(self, lo: int, hi: int) -> None:
        """[lo, hi) reads slowly: the fast phases leave it to the slow pass."""
        self.knowledge.slow.add(min(lo, hi), max(lo, hi))

    def slow_left(self) -> bool:
        """Whether slow areas hold non-tried bytes (the slow pass has work)."""
        slow = self.knowledge.slow.ranges
        return any(b.status == Status.NON_TRIED for lo, hi in slow for b in self.map.blocks(lo, hi))

    def t(self) -> float:
        """Seconds since the run started: every event's time."""
        return self.clock() - self.meter.t0

    def start(self) -> None:
        """Start the clocks and the reader."""
        self.saver.last_save = self.meter.start()
        timeout = self.opts.read_timeout
        self.reader = StreamReader(self.source, self.max_read, timeout, self.steering.cancel, self.clock)

    def set_options(self, new: RescueOptions, changed: set[str]) -> None:
        """Options changed between passes: what depends on them follows."""
        self.opts = new
        if self.reader is not None:
            self.reader.timeout = new.read_timeout
        if "max_skip_size" in changed or "skip_size" in changed:
            self.max_skip = max_skip_for(new, self.base_domain.size)
        if {"min_read_rate", "slow_read_time"} & changed:
            self.slowness.min_read_rate, self.slowness.slow_read_time = new.min_read_rate, new.slow_read_time

    def begin(self, phase: Phase, pass_: int, forward: bool, cursor: int | None) -> int:
        """Start a phase's pass (options changed meanwhile apply now); returns where it starts."""
        self.steering.apply_option_changes()
        self.map.phase, self.map.pass_ = phase, pass_
        if cursor is None:
            cursor = self.domain.start if forward else self.domain.end
        self.map.current_pos = cursor
        self.emit(PhaseStarted(self.t(), phase.label, pass_, "forward" if forward else "reverse"))
        self.progress(force=True)
        return cursor

    def stream(
        self, lo: int, hi: int, forward: bool, size: int, max_size: int, slow: bool = False
    ) -> Iterator[ReadOutcome]:
        """Reads over [lo, hi), growing from `size` to `max_size`, each checked after it is used.

        With `slow`, a slow read ends the run (station.rescue.slowness; the reader marks it).
        """
        assert self.reader is not None
        judge = self.slowness.judge if slow and self.slowness.on else None
        if judge is not None:
            self.slowness.start_run()
        spec = RunSpec(
            lo, hi, reverse=not forward, size=size, max_size=max_size, align=self.align, slow_if=judge,
            copy_fd=self.copy_fd if size > self.sector else None,
        )  # fmt: skip
        with contextlib.closing(self.reader.run(spec)) as outcomes:
            for out in outcomes:
                if out.cancelled:
                    raise Stop(Outcome.STOPPED, "interrupted")
                yield out
                self.after_read()

    def after_read(self) -> None:
        """Stop conditions, pauses, progress and periodic saves, checked after every read.

        `stream` calls it after each read it delivered; a phase that leaves a run early (at the
        first bad sector) calls it itself.
        """
        now = self.steering.checkpoint()
        self.progress()
        if self.saver.due(now, self.opts.save_interval):
            self.saver.save()

    def progress(self, force: bool = False) -> None:
        """Emit a Progress event, at most every PROGRESS_INTERVAL unless forced."""
        p = self.meter.progress(self.map, self.recorder.read_errors, force)
        if p is not None:
            self.emit(p)
