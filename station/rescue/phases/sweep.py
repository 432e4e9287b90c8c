"""Sweeping: every non-tried byte left, read without skipping; islands of good data first.

Non-tried blocks (what the copying passes stepped over), largest first, are sampled at their
ends and middle (large ones at their quarters too): each such read is one the sweep would make
anyway, only sooner, and a sample that reads starts an island, read outward up to the first
error on each side, its edges trimmed.  Then everything still non-tried is read in order, a
failed big read being read again in clusters.
"""

from __future__ import annotations

from station.rescue.phases.edges import expand, probe
from station.rescue.phases.trim import trim_blocks
from station.rescue.rescuemap import Phase, Status
from station.rescue.state import RunState


def sweep_pass(state: RunState, cursor: int | None) -> None:
    """The sweep (see the module's docstring); a resumed sweep goes straight to reading in order."""
    forward = not state.opts.reverse
    fresh = cursor is None
    cursor = state.begin(Phase.SWEEPING, 1, forward, cursor)
    if fresh:  # every cluster read here is one the sweep would read anyway, only sooner
        blocks = sorted(state.domain.blocks(Status.NON_TRIED), key=lambda b: b[0] - b[1])
        for lo, hi in blocks:
            _probe_for_island(state, lo, hi)
        # the edges of what the probes failed on, where they touch rescued data
        if not state.opts.no_trim:
            trim_blocks(state, state.domain.start if forward else state.domain.end, forward, False)
    _read_in_order(state, cursor, forward)


def _read_in_order(state: RunState, cursor: int, forward: bool) -> None:
    """Every non-tried range in order, in growing reads; a failed big read is read again in clusters."""
    rec, cluster = state.recorder, state.cluster
    while (found := state.domain.find(Status.NON_TRIED, cursor, forward)) is not None:
        lo, hi = found
        for out in state.stream(lo, hi, forward, state.read_size, state.max_read, slow=state.fast_only):
            cursor = out.pos + out.size if forward else out.pos
            if out.ok:
                rec.good(out)
                state.read_size = min(max(state.read_size, len(out.data)) * 2, state.max_read)
                if out.slow:  # the rest of this stretch is for the slow pass
                    state.defer_slow(cursor, hi if forward else lo)
                    cursor = hi if forward else lo
            elif out.size > cluster and not out.hung:
                rec.failed(out, Status.NON_TRIED)  # read it again in clusters
                cursor = out.pos if forward else out.pos + out.size
                state.read_size = cluster
            else:
                rec.failed(out, Status.NON_TRIMMED)
                state.read_size = cluster
            state.map.current_pos = cursor


def _probe_for_island(state: RunState, lo: int, hi: int) -> None:
    """Sample a non-tried stretch at its ends and middle (quarters too when large); a sample
    that reads is an island, read outward in clusters to its edges, trimmed at once."""
    a, cluster, domain = state.align, state.cluster, state.domain
    spots = [lo] if hi - lo <= cluster else [lo, hi - cluster, lo + (hi - lo) // 2]
    if hi - lo >= 16 * cluster:
        spots += [lo + (hi - lo) // 4, lo + 3 * (hi - lo) // 4]
    for spot in spots:
        spot = max(lo, spot // a * a)
        b = domain.block_at(spot)
        if b is None or b[0] != Status.NON_TRIED:
            continue
        out = probe(state, spot, min(b[2], spot + cluster), True)
        state.map.current_pos = out.pos
        if not out.ok:
            state.recorder.failed(out, Status.NON_TRIMMED)
            continue
        state.recorder.good(out)
        if out.slow:
            state.defer_slow(lo, hi)  # a slow stretch: the slow pass reads it
            return
        after = out.pos + out.size
        ahead = domain.find(Status.NON_TRIED, after, True)
        if ahead is not None and ahead[0] == after:
            expand(state, *ahead, True)
        behind = domain.find(Status.NON_TRIED, out.pos, False)
        if behind is not None and behind[1] == out.pos:
            expand(state, *behind, False)
