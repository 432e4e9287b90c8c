"""Scraping: non-scraped blocks read sector by sector; failures become bad sectors.

Sectors whose read failed because the drive did (hung, reset, gone) stay non-scraped; they get
up to SCRAPE_AGAIN more tries, as long as each try rescues or settles some.
"""

from __future__ import annotations

from station.rescue.rescuemap import Phase, Status
from station.rescue.state import RunState

SCRAPE_AGAIN = 3  # more scraping tries for sectors a failing drive (not the sector) left unread


def scrape_pass(state: RunState, cursor: int | None) -> None:
    """Scrape from the cursor, then go over what is left again while that still helps."""
    forward = not state.opts.reverse
    cursor = state.begin(Phase.SCRAPING, 1, forward, cursor)
    sector_sweep(state, Status.NON_SCRAPED, cursor, forward)
    for _ in range(SCRAPE_AGAIN):
        left = state.map.bytes_in(Status.NON_SCRAPED)
        if not left:
            return
        start = state.domain.start if forward else state.domain.end
        sector_sweep(state, Status.NON_SCRAPED, start, forward)
        if state.map.bytes_in(Status.NON_SCRAPED) == left:
            return


def sector_sweep(state: RunState, status: Status, cursor: int, forward: bool) -> None:
    """Read every sector of `status` in the domain from the cursor on, one at a time;
    a sector that fails is bad (unless the drive, not the sector, failed)."""
    rec = state.recorder
    while (found := state.domain.find(status, cursor, forward)) is not None:
        lo, hi = found
        for out in state.stream(lo, hi, forward, state.sector, state.sector):
            cursor = out.pos + out.size if forward else out.pos
            if out.ok:
                rec.good(out)
            else:
                rec.failed(out, Status.BAD_SECTOR)
            state.map.current_pos = cursor
