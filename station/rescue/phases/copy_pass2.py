"""Copying pass 2: the other way, into non-tried blocks from their rescued side.

Pass 1 reached every bad area from one side; the good data just before each area's far edge is
reached here from the other side, in growing reads up to the first error (as ddrescue 1.30
does).  Slow reads do not stop it: what pass 1 stepped over for being slow is read here, a slow
area's cost being mostly per command.
"""

from __future__ import annotations

from station.rescue.phases.edges import expand
from station.rescue.rescuemap import Phase, Status
from station.rescue.state import RunState


def copy_pass2(state: RunState, forward: bool, cursor: int | None) -> None:
    """Into every non-tried block whose entry side touches rescued data, up to its first error."""
    cursor = state.begin(Phase.COPYING, 2, forward, cursor)
    domain = state.domain
    if not domain.has(Status.NON_TRIED):
        return
    while (found := domain.find(Status.NON_TRIED, cursor, forward)) is not None:
        lo, hi = domain.whole_block(found)
        cursor = hi if forward else lo
        state.map.current_pos = lo if forward else hi
        entry = lo - 1 if forward else hi
        if domain.neighbour_is(entry, Status.FINISHED):
            expand(state, lo, hi, forward)
