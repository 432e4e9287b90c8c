"""Islands: good data inside a non-tried stretch, found by a sample read and read out to its edges.

The sweep samples every non-tried stretch, largest first, at its ends and middle (quarters too
when large), where a learned pattern foretells a bad area last.  The first trimming begins with
the same samples while they pay (`islands_first`): where the copying pass stepped over good data
(a doubling skip or a learned length that landed past a small bad area), one island brings
megabytes for a few failed reads, where trimming brings a cluster's worth each; where it stepped
over bad areas, the samples fail, and a few failures in a row end them.
"""

from __future__ import annotations

from dataclasses import dataclass

from station.rescue.phases.edges import expand, probe
from station.rescue.rescuemap import Status
from station.rescue.state import RunState

FIRST_MISSES = 3  # islands before trimming end after this many samples in a row fail


@dataclass
class Misses:
    """Samples that failed in a row, and how many end the search."""

    limit: int
    row: int = 0

    @property
    def spent(self) -> bool:
        return self.row >= self.limit


def islands_first(state: RunState) -> None:
    """Before the first trimming: islands in the largest non-tried stretches, until FIRST_MISSES
    samples in a row fail (the sweep samples what is left)."""
    misses = Misses(FIRST_MISSES)
    for lo, hi in largest_first(state):
        find_islands(state, lo, hi, misses)
        if misses.spent:
            return


def largest_first(state: RunState, status: Status = Status.NON_TRIED) -> list[tuple[int, int]]:
    """The stretches of `status` (non-tried ones) in the phase's view, largest first."""
    return sorted(state.domain.blocks(status), key=lambda b: b[0] - b[1])


def find_islands(
    state: RunState, lo: int, hi: int, misses: Misses | None = None, foretold: bool = False
) -> None:
    """Sample a non-tried stretch at its ends and middle (quarters too when large); a sample
    that reads is an island, read outward in clusters to its edges, trimmed at once.  Failed
    samples count in `misses`, which stops the sampling once spent.  Spots a learned pattern
    foretells bad are sampled only when `foretold`."""
    a, cluster, domain = state.align, state.cluster, state.domain
    spots = [lo] if hi - lo <= cluster else [lo, hi - cluster, lo + (hi - lo) // 2]
    if hi - lo >= 16 * cluster:
        spots += [lo + (hi - lo) // 4, lo + 3 * (hi - lo) // 4]
    for spot in spots:
        spot = max(lo, spot // a * a)
        b = domain.block_at(spot)
        if b is None or b[0] != Status.NON_TRIED or (not foretold and foretold_bad(state, spot)):
            continue
        out = probe(state, spot, min(b[2], spot + cluster), True)
        state.map.current_pos = out.pos
        if not out.ok:
            state.recorder.failed(out, Status.NON_TRIMMED)
            if misses is not None:
                misses.row += 1
                if misses.spent:
                    return
            continue
        if misses is not None:
            misses.row = 0
        state.recorder.good(out)
        if out.slow:
            state.defer_slow(lo, hi)  # a slow stretch: the slow pass reads it
            return
        after = out.pos + out.size
        ahead = domain.find(Status.NON_TRIED, after, True)
        if ahead is not None and ahead[0] == after:  # (before trimming: its edges are trimming's)
            expand(state, *ahead, True, exact=misses is None)
        behind = domain.find(Status.NON_TRIED, out.pos, False)
        if behind is not None and behind[1] == out.pos:
            expand(state, *behind, False, exact=misses is None)


def foretold_bad(state: RunState, pos: int) -> bool:
    """Whether a learned pattern of bad areas (a dead head's stretches) covers `pos`."""
    for p in state.areas.patterns:
        if p.lo <= pos < p.hi and any((pos - start) % p.period < width for start, width in p.teeth):
            return True
    return False
