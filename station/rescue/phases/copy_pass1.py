"""Copying pass 1: big reads on healthy stretches, bad areas crossed whole.

Pass 1 reads the whole domain, jumping over trouble: by the learned length of the bad areas met
so far (station.rescue.areas) or else by a skip that doubles.  After each jump it reads back
from the landing point towards the area until the first error, so the far edge of every area
is known at once (and measured for the next jump).  Once areas come at a regular period, the
next one is approached sector by sector where it should begin, so that the only read that fails
there is a single sector.  The middles of bad areas are left to the sweep, after trimming.
"""

from __future__ import annotations

from enum import Enum

from station.core.events import Notice
from station.rescue.domain import Range
from station.rescue.phases.edges import cluster_edge, probe, sector_edge
from station.rescue.rescuemap import Phase, Status
from station.rescue.state import RunState

CALM_DISTANCE = 64 * 1024 * 1024  # after trouble, read in clusters for this far before growing again


class Trouble(Enum):
    """Why a run of pass 1 ended early."""

    SLOW = "slow"  # a good read slower than the minimum read rate: skip the slow area
    SPLIT = "split"  # a big read failed somewhere inside: read it again in clusters
    ERROR = "error"  # a cluster-sized read failed (or hung): cross the bad area


def copy_pass1(state: RunState, forward: bool, cursor: int | None) -> None:
    """Copying pass 1 over the whole domain (see the module's docstring)."""
    cursor = state.begin(Phase.COPYING, 1, forward, cursor)
    if not state.domain.has(Status.NON_TRIED):
        return
    _copy(state, forward, cursor)


def _copy(state: RunState, forward: bool, cursor: int) -> None:
    """The pass's loop: read each non-tried range until trouble, then deal with the trouble.

    A read that fails is trimmed at once from the side it was entered (sector reads up to
    the first bad one), so the area's first bad byte is known exactly; the area is then
    crossed (`_cross`) and its far edge found the same way.
    """
    rec = state.recorder
    skip = state.opts.skip_size
    while (found := state.domain.find(Status.NON_TRIED, cursor, forward)) is not None:
        lo, hi = found
        calm = _calm(state, lo, hi, forward)
        run_lo, run_hi = calm if calm else (lo, hi)
        window = _window(state, run_lo, run_hi, forward)
        if window is not None:
            stop_at = window[0]
            run_lo, run_hi = (run_lo, stop_at) if forward else (stop_at, run_hi)
        trouble, failed = None, None
        cursor = run_lo if forward else run_hi
        max_size = state.max_read if calm is None else state.cluster
        size = min(state.read_size, max_size)
        for out in state.stream(run_lo, run_hi, forward, size, max_size, slow=True):
            cursor = out.pos + out.size if forward else out.pos
            state.map.current_pos = cursor
            if out.ok:
                rec.good(out)
                if out.slow:
                    trouble = Trouble.SLOW
                else:
                    skip = state.opts.skip_size
                    state.read_size = min(max(state.read_size, len(out.data)) * 2, state.max_read)
            elif out.size > state.cluster and not out.hung:
                # a big read failed somewhere inside: read it again in clusters rather than
                # leave up to max_read_size of good data to sector-by-sector trimming
                rec.failed(out, Status.NON_TRIED)
                cursor = out.pos if forward else out.pos + out.size
                trouble = Trouble.SPLIT
            else:
                rec.failed(out, Status.NON_TRIMMED)
                trouble, failed = Trouble.ERROR, out
        if trouble is None and window is not None:
            start = sector_edge(state, *_span(window[0], window[1]), forward)
            if start is None:  # not where the period said: go on reading normally
                state.areas.forget()
                cursor = window[1]
                continue
            state.areas.hits += 1
            cursor = _cross(state, start, forward, exact=True)
            continue
        if trouble is None:
            continue
        state.read_size = state.cluster
        state.trouble_at = cursor
        if trouble is Trouble.SPLIT:
            continue
        if trouble is Trouble.ERROR and failed is not None and not failed.hung:
            # where the area begins, to within this failed read; its edge is trimmed later,
            # after the readable bulk (scattered damage makes exactness now not worth it)
            near = failed.pos if forward else failed.pos + failed.size
            cursor = _cross(state, near, forward, exact=False)
            continue
        cursor = skip_from(state, cursor, skip, forward)  # a slow area, a hung read
        skip = min(skip * 2, state.max_skip)


def skip_from(state: RunState, cursor: int, skip: int, forward: bool) -> int:
    """Move past `skip` bytes, on alignment boundaries, leaving them non-tried for later."""
    a = state.align
    if forward:
        return min(-(-(cursor + skip) // a) * a, state.map.size)
    return max((cursor - skip) // a * a, 0)


def _span(a: int, b: int) -> Range:
    return (a, b) if a <= b else (b, a)


def _calm(state: RunState, lo: int, hi: int, forward: bool) -> Range | None:
    """The part of [lo, hi) still near recent trouble (read in clusters), or None if none is."""
    t = state.trouble_at
    if t is None:
        return None
    if forward:
        near = min(hi, t + CALM_DISTANCE)
        return (lo, near) if near > lo else None
    near = max(lo, t - CALM_DISTANCE)
    return (near, hi) if near < hi else None


def _window(state: RunState, lo: int, hi: int, forward: bool) -> tuple[int, int] | None:
    """(from, to) around the predicted start of the next bad area, if it lies in [lo, hi)."""
    if state.opts.no_trim:  # finding edges sector by sector is trimming
        return None
    pred = state.areas.next_start(lo if forward else hi, forward)
    if pred is None:
        return None
    m = state.areas.margin()
    if forward:
        a, b = max(lo, pred - m), min(hi, pred + m)
    else:
        a, b = min(hi, pred + m), max(lo, pred - m)
    if (b - a if forward else a - b) <= 0:
        return None
    return a, b


def _cross(state: RunState, start: int, forward: bool, exact: bool) -> int:
    """Cross the bad area that begins at `start` (exactly, or where a read failed).

    Jump by the learned length, or skip doubling until a read succeeds; then read back
    towards the area to find its far edge (exactly when `exact`).  Returns where the pass
    goes on.
    """
    rec = state.recorder
    areas = state.areas
    length = areas.length()
    skip = state.opts.skip_size
    if length is not None:
        target = start + length if forward else start - length
        if not areas.jumps:
            state.emit(Notice(state.t(), f"bad areas repeat: stepping over them {length} bytes at a time"))
        areas.jumps += 1
    else:
        target = skip_from(state, _past_known_bad(state, start, forward), skip, forward)
        skip = min(skip * 2, state.max_skip)
    while True:
        target = skip_from(state, target, 0, forward)
        found = state.domain.find(Status.NON_TRIED, target, forward)
        if found is None:
            return target
        out = probe(state, *found, forward)
        after = out.pos + out.size if forward else out.pos
        state.map.current_pos = after
        state.trouble_at = after
        if out.ok and not out.slow:
            rec.good(out)
            landing = out.pos if forward else out.pos + out.size
            end, end_exact = _read_back(state, landing, forward, exact)
            if end is not None:
                areas.record(start, abs(end - start), exact and end_exact)
            return after
        if out.ok:
            rec.good(out)
        else:
            rec.failed(out, Status.NON_TRIMMED)
        if length is not None:  # longer than the areas before it
            areas.forget()
            length = None
        target = skip_from(state, after, skip, forward)
        skip = min(skip * 2, state.max_skip)


def _past_known_bad(state: RunState, start: int, forward: bool) -> int:
    """The first position past the bad sector at `start` and the failed read it was in."""
    m = state.map
    pos = start
    for _ in range(2):
        if not 0 <= (pos if forward else pos - 1) < m.size:
            break
        b = m.block_at(pos if forward else pos - 1)
        if b.status not in (Status.BAD_SECTOR, Status.NON_TRIMMED):
            break
        pos = b.end if forward else b.pos
    return pos


def _read_back(state: RunState, landing: int, forward: bool, exact: bool) -> tuple[int | None, bool]:
    """From a landing point, read back towards the area just crossed until its far edge.

    With `exact`: sector reads near the landing point (where a learned jump puts the
    edge), cluster reads further back, and a failed cluster trimmed at once, so the edge
    comes out exact.  Otherwise cluster reads, the failed one left for trimming.  Returns
    (the edge or None if nothing bad was found behind, whether it is exact).
    """
    back = not forward
    exact = exact and not state.opts.no_trim
    pos = landing
    near = 2 * state.cluster
    while (b := state.domain.block_at(pos - 1 if forward else pos)) is not None:
        status, lo, hi = b
        if status in (Status.BAD_SECTOR, Status.NON_TRIMMED):
            return pos, status == Status.BAD_SECTOR
        if status != Status.NON_TRIED:
            return None, False
        if not exact:
            edge = cluster_edge(state, lo, hi, back, trim=False)
            if edge is not None:
                return edge, False
        else:
            part = (max(lo, hi - near), hi) if forward else (lo, min(hi, lo + near))
            edge = sector_edge(state, *part, back)
            if edge is None and hi - lo > near:
                rest = (lo, hi - near) if forward else (lo + near, hi)
                edge = cluster_edge(state, *rest, back, trim=True)
            if edge is not None:
                return edge, True
        pos = lo if forward else hi
    return None, False
