"""Retrying: --retry-passes N passes over bad sectors, one at a time, alternating direction."""

from __future__ import annotations

from station.rescue.phases.scrape import sector_sweep
from station.rescue.rescuemap import Phase, Status
from station.rescue.state import RunState


def retry_passes(state: RunState) -> None:
    """Pass after pass while bad sectors are left, up to --retry-passes (-1: no limit).

    The limit is read before each pass, so a change made meanwhile counts.
    """
    n = 1
    while state.domain.has(Status.BAD_SECTOR):
        state.steering.apply_option_changes()
        if state.opts.retry_passes != -1 and n > state.opts.retry_passes:
            break
        retry_pass(state, n)
        n += 1


def retry_pass(state: RunState, n: int) -> None:
    """Read bad sectors again, one at a time; odd passes go against the main direction."""
    forward = n % 2 == 0
    if state.opts.reverse:
        forward = not forward
    cursor = state.begin(Phase.RETRYING, n, forward, None)
    sector_sweep(state, Status.BAD_SECTOR, cursor, forward)
