"""Sweeping: every non-tried byte left, read without skipping; islands of good data first.

Non-tried blocks (what the copying passes stepped over), largest first, are sampled at their
ends and middle (large ones at their quarters too; station.rescue.phases.islands): each such
read is one the sweep would make anyway, only sooner, and a sample that reads starts an island,
read outward up to the first error on each side, its edges trimmed.  Spots a learned pattern
foretells bad are sampled in a second round, after the edges the first round's samples failed
on are trimmed.  Then everything still non-tried is read in order, a failed big read being read
again in clusters.
"""

from __future__ import annotations

from station.rescue.phases.islands import find_islands, largest_first
from station.rescue.phases.trim import trim_blocks
from station.rescue.rescuemap import Phase, Status
from station.rescue.state import RunState


def sweep_pass(state: RunState, cursor: int | None) -> None:
    """The sweep (see the module's docstring); a resumed sweep goes straight to reading in order."""
    forward = not state.opts.reverse
    fresh = cursor is None
    cursor = state.begin(Phase.SWEEPING, 1, forward, cursor)
    if fresh:  # every cluster read here is one the sweep would read anyway, only sooner
        start = state.domain.start if forward else state.domain.end
        for foretold in (False, True):  # where a pattern foretells a bad area, last
            for lo, hi in largest_first(state):
                find_islands(state, lo, hi, foretold=foretold)
            # the edges of what the probes failed on, where they touch rescued data
            if not state.opts.no_trim:
                trim_blocks(state, start, forward, False)
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
