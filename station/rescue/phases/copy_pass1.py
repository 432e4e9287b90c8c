"""Copying pass 1: big reads on healthy stretches, bad and slow areas crossed whole.

Pass 1 reads the whole domain, jumping over trouble (station.rescue.phases.crossing): by the
learned length of the bad areas met so far (station.rescue.areas) or else by a skip that
doubles.  Once areas come at a regular period, the next one is approached sector by sector
where it should begin, so that the only read that fails there is a single sector.  The middles
of bad areas are left to later phases.  Near short areas (a scratch, scattered sectors) it reads
less at a time and leaves the edges of one it meets by chance to trimming.

A read that is slow (station.rescue.slowness) ends the run too: the area is skipped the same
way, remembered as slow (station.rescue.knowledge) and read after everything fast.  Slow areas
that recur at a period (a slow head) are learned like bad ones, approached where they should
begin and stepped over by their length.
"""

from __future__ import annotations

from enum import Enum

from station.rescue.comb import Tooth
from station.rescue.domain import Range
from station.rescue.phases.crossing import confirm_trusted, cross, short_areas, skip_from, verify_trusted
from station.rescue.phases.edges import trouble_edge
from station.rescue.rescuemap import Phase, Status
from station.rescue.state import RunState

CALM_DISTANCE = 64 * 1024 * 1024  # after trouble, read in clusters for this far before growing again
DRIFT = 4  # sectors an area may be off its predicted start and still confirm the pattern


class Trouble(Enum):
    """Why a run of pass 1 ended early."""

    SLOW = "slow"  # a good read slower than the minimum read rate: skip the slow area
    SPLIT = "split"  # a big read failed somewhere inside: read it again in clusters
    ERROR = "error"  # a cluster-sized read failed (or hung): cross the bad area


class Window:
    """Where the next area of a learned pattern should begin: read sector by sector from `a` to `b`."""

    def __init__(self, a: int, b: int, at: int, tooth: Tooth, slow: bool) -> None:
        self.a, self.b, self.at, self.tooth, self.slow = a, b, at, tooth, slow


def copy_pass1(state: RunState, forward: bool, cursor: int | None) -> None:
    """Copying pass 1 over the whole domain (see the module's docstring)."""
    cursor = state.begin(Phase.COPYING, 1, forward, cursor)
    if not state.domain.has(Status.NON_TRIED):
        return
    _copy(state, forward, cursor)
    if state.unchecked:
        verify_trusted(state)  # the last trusted crossings were not confirmed by a next area


def _copy(state: RunState, forward: bool, cursor: int) -> None:
    """The pass's loop: read each non-tried range until trouble, then deal with the trouble.

    A read that fails is crossed (station.rescue.phases.crossing) from where it failed; a slow
    read is skipped past, doubling, until reads are fast again.
    """
    rec = state.recorder
    skip = state.opts.skip_size
    slow_since: int | None = None  # where the slow area being stepped over began
    while (found := state.domain.find(Status.NON_TRIED, cursor, forward)) is not None:
        lo, hi = found
        calm = _calm(state, lo, hi, forward)
        run_lo, run_hi = calm if calm else (lo, hi)
        window = _window(state, run_lo, run_hi, forward)
        if window is not None:
            run_lo, run_hi = (run_lo, window.a) if forward else (window.a, run_hi)
        trouble, failed = None, None
        cursor = run_lo if forward else run_hi
        max_size = state.max_read if calm is None else _near_size(state)
        size = min(state.read_size, max_size)
        for out in state.stream(run_lo, run_hi, forward, size, max_size, slow=True):
            cursor = out.pos + out.size if forward else out.pos
            state.map.current_pos = cursor
            if out.ok:
                rec.good(out)
                if out.slow:
                    trouble = Trouble.SLOW
                    _slow_met(state, out.pos, out.pos + out.size)
                    if slow_since is None:
                        slow_since = out.pos if forward else out.pos + out.size
                else:
                    slow_since = _slow_ended(state, slow_since, out.pos if forward else out.pos + out.size)
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
            cursor = _at_window(state, window, forward)
            continue
        if trouble is None:
            continue
        state.read_size = state.cluster
        state.trouble_at = cursor
        if trouble is Trouble.SPLIT:
            continue
        if trouble is Trouble.ERROR and failed is not None and not failed.hung:
            _check_trusted(state)  # an area off the pattern
            near = failed.pos if forward else failed.pos + failed.size
            cursor = cross(state, near, forward, exact=False, failed=failed)
            continue
        if trouble is Trouble.SLOW:
            _defer_slow(state, cursor, skip_from(state, cursor, skip, forward))
        cursor = skip_from(state, cursor, skip, forward)  # a slow area, a hung read
        skip = min(skip * 2, state.max_skip)


def _at_window(state: RunState, window: Window, forward: bool) -> int:
    """Read the window sector by sector: an area where the pattern said is crossed at once."""
    areas = state.slow_areas if window.slow else state.areas
    edge = trouble_edge(state, *_span(window.a, window.b), forward)
    if edge is None or edge[1] != window.slow:  # not what the pattern said
        areas.miss()  # (a tooth may be absent here: a scratch on some heads only)
        if edge is None:
            return window.b
        start, slow = edge
        if slow:  # a slow area where a bad one was expected: step over it as slow
            return _step_over_slow(state, start, None, forward)
        return cross(state, start, forward, exact=True)
    start = edge[0]
    areas.hit()
    if window.slow:
        return _step_over_slow(state, start, window.tooth, forward)
    if abs(start - window.at) <= DRIFT * state.sector:
        confirm_trusted(state)  # the area is where the pattern put it (a scratch drifts a little)
    else:
        _check_trusted(state)  # the pattern drifts
    return cross(state, start, forward, exact=True, tooth=window.tooth)


def _check_trusted(state: RunState) -> None:
    """The pattern may have stopped holding: check the crossings trusted to it (a zone's last area
    may be shorter).  Not short ones (a scratch): scattered bad sectors come off the pattern
    often, each check costs a failed read, and a trusted length a few sectors too long hides no
    more than that until trimming reads the areas presumed bad from their edges."""
    if any(abs(b - a) > state.cluster for a, b, _ in state.unchecked):
        verify_trusted(state)


def _step_over_slow(state: RunState, start: int, tooth: Tooth | None, forward: bool) -> int:
    """A slow area met at `start`: step over its learned length (or the first skip), leaving it
    for the slow pass (a fast read there is found by the next read, which then goes on)."""
    length = tooth.widest if tooth is not None else state.opts.skip_size
    end = skip_from(state, start + length if forward else start - length, 0, forward)
    _defer_slow(state, start, end)
    if tooth is not None:
        state.slow_areas.record(start, length, exact=True, measured=False)
    state.trouble_at = end
    return end


def _slow_met(state: RunState, lo: int, hi: int) -> None:
    state.knowledge.slow.add(lo, hi)


def _defer_slow(state: RunState, a: int, b: int) -> None:
    """Bytes stepped over for being in a slow area: known slow, read in the slow pass."""
    state.knowledge.slow.add(min(a, b), max(a, b))


def _slow_ended(state: RunState, since: int | None, at: int) -> None:
    """Reads are fast again at `at`: the slow area that began at `since` is learned."""
    if since is not None and at != since:
        state.slow_areas.record(since, abs(at - since), exact=False)
        state.defer_slow(since, at)  # (failed reads in it too: they are trimmed after the slow pass)
    return None


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


def _near_size(state: RunState) -> int:
    """How much to read at a time near recent trouble: a cluster, or less near short areas (a
    scratch, scattered sectors), so that one met by chance leaves little to trimming."""
    return state.near_read if short_areas(state) is not None else state.cluster


def _window(state: RunState, lo: int, hi: int, forward: bool) -> Window | None:
    """Around the predicted start of the next bad (or slow) area, if it lies in [lo, hi)."""
    if state.opts.no_trim:  # finding edges sector by sector is trimming
        return None
    pos = lo if forward else hi
    best: Window | None = None
    for tracker, slow in ((state.areas, False), (state.slow_areas, True)):
        pred = tracker.predict(pos, forward)
        if pred is None:
            continue
        start, tooth = pred
        m = tracker.margin()
        if forward:
            a, b = max(lo, start - m), min(hi, start + m)
        else:
            a, b = min(hi, start + m), max(lo, start - m)
        if (b - a if forward else a - b) <= 0:
            continue
        if best is None or (a < best.a if forward else a > best.a):
            best = Window(a, b, start, tooth, slow)
    return best
