"""The slow pass: areas that read slowly, after everything fast.

What the fast phases left for being slow (station.rescue.knowledge) is read here in order,
without skipping.  A slow area's cost is mostly per command (the drive's own retries), so reads
are a few clusters large, and smaller when one comes near the read timeout (a slow read that
outlived it would be taken for a hung one: a slow sector is never called bad).  A read that
fails is read again in clusters only once the rest of the area was read, and the cluster that
fails is halved until the bad sectors in it are within a small read (a half that reads tells
that the other one holds them, without reading it), which is left for trimming as anywhere
else: trimming a whole cluster in a slow area would be a slow command per sector.
"""

from __future__ import annotations

from station.rescue.rescuemap import Phase, Status
from station.rescue.state import RunState

TIMEOUT_SHARE = 8  # a read may take at most this fraction of the read timeout
SMALLEST = 16  # a failed cluster is narrowed down to a 16th of it before trimming


def slow_pass(state: RunState, cursor: int | None) -> None:
    """Read the slow areas' non-tried bytes (state.domain is their view), then the reads that
    failed again, in clusters."""
    forward = not state.opts.reverse
    cursor = state.begin(Phase.COPYING, 3, forward, cursor)
    failed: list[tuple[int, int]] = []
    _read_all(state, cursor, forward, state.max_read, failed)
    clusters: list[tuple[int, int]] = []
    for lo, hi in failed:
        if state.map.status_at(lo) == Status.NON_TRIED:
            _read_all(state, lo, True, state.cluster, clusters, hi)
    smallest = max(state.align, state.cluster // SMALLEST // state.align * state.align)
    for lo, hi in clusters:  # trimming a failed cluster would be a slow read per sector
        _narrow(state, lo, hi, smallest)


def _read_all(
    state: RunState, cursor: int, forward: bool, size: int, failed: list[tuple[int, int]],
    stop: int | None = None,
) -> None:  # fmt: skip
    """Every non-tried range in order (up to `stop`) in reads of `size`; a failed read's range is
    noted in `failed` (left non-tried)."""
    rec = state.recorder
    limit = state.opts.read_timeout / TIMEOUT_SHARE
    while (found := state.domain.find(Status.NON_TRIED, cursor, forward)) is not None:
        lo, hi = found
        if stop is not None:
            if lo >= stop:
                return
            hi = min(hi, stop)
        cursor = lo if forward else hi
        for out in state.stream(lo, hi, forward, size, size):
            cursor = out.pos + out.size if forward else out.pos
            state.map.current_pos = cursor
            if not out.ok:
                rec.failed(out, Status.NON_TRIED)
                failed.append((out.pos + out.good, out.pos + out.size))
                break
            rec.good(out)
            if out.seconds > limit and size > state.align:  # near the timeout: smaller reads
                size = max(state.align, size // 2 // state.align * state.align)
                break


def _narrow(state: RunState, lo: int, hi: int, smallest: int) -> None:
    """Halve [lo, hi), known to hold a bad sector, until the bad part is within `smallest`; what
    reads on the way is rescued, the rest left for trimming."""
    rec, a = state.recorder, state.align
    while hi - lo > smallest:
        mid = max(lo + a, (lo + (hi - lo) // 2) // a * a)
        out = list(state.stream(lo, mid, True, mid - lo, mid - lo))[0]
        if out.ok:
            rec.good(out)
            lo = mid  # the bad sectors are in the other half
            continue
        rec.failed(out, Status.NON_TRIED)
        if out.hung:
            return
        if mid < hi and state.map.status_at(mid) == Status.NON_TRIED:
            _narrow_other(state, mid, hi, smallest)  # the other half may read: try it in one go
        lo, hi = out.pos + out.good, mid
    if hi > lo and state.map.status_at(lo) == Status.NON_TRIED:
        state.map.set_status(lo, hi - lo, Status.NON_TRIMMED)


def _narrow_other(state: RunState, lo: int, hi: int, smallest: int) -> None:
    """One read of [lo, hi); if it fails, narrow it down too."""
    out = list(state.stream(lo, hi, True, hi - lo, hi - lo))[0]
    if out.ok:
        state.recorder.good(out)
        return
    state.recorder.failed(out, Status.NON_TRIED)
    if not out.hung:
        _narrow(state, out.pos + out.good, hi, smallest)
