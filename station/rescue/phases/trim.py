"""Trimming: failed blocks read sector by sector inward from their edges, up to the first bad sector.

Only edges that touch rescued data in the first trimming pass: a side that still faces
non-tried data is kept for later, when the sweep may have rescued what it faces, rather than
scraped across good data now.  The second pass takes every edge, and what it cannot trim goes
on to scraping.  The first pass finds a scattered bad cluster's far edge by a probe past it once
their length is learned (station.rescue.clusters), takes the largest blocks first, and it begins
with islands of good data in the largest non-tried stretches while they pay
(station.rescue.phases.islands).
"""

from __future__ import annotations

from collections.abc import Iterator

from station.core.ranges import intersect
from station.rescue.domain import Range
from station.rescue.phases.islands import islands_first, largest_first
from station.rescue.rescuemap import Phase, Status
from station.rescue.state import RunState


def trim_pass(state: RunState, pass_: int, cursor: int | None) -> None:
    """Read failed blocks sector by sector from their edges until the first error."""
    forward = not state.opts.reverse
    fresh = cursor is None
    cursor = state.begin(Phase.TRIMMING, pass_, forward, cursor)
    if pass_ == 1 and fresh and not state.opts.no_sweep:
        islands_first(state)
    trim_blocks(state, cursor, forward, all_edges=pass_ > 1, probing=pass_ == 1)


def trim_blocks(state: RunState, cursor: int, forward: bool, all_edges: bool, probing: bool = False) -> None:
    """Trim the leading edges of non-trimmed blocks, then their trailing edges.

    Only edges that touch rescued data, unless `all_edges`.  Leading edges are read
    upwards, sector after sector as the platter turns; trailing edges downwards, each
    sector a new command that waits for the disk to come round: the cheap half first
    brings as much good data for the same errors, sooner.  The first pass (`probing`) takes
    the largest blocks first, each from both sides: a block costs about one failed read
    whatever its size (its far edge is probed for), so the most good data comes first.
    """
    later = state.edge_later if not all_edges and state.slow_left() else set()  # (after the slow pass)
    if probing:
        for lo, hi in largest_first(state, Status.NON_TRIMMED):
            if state.domain.block_at(lo) == (Status.NON_TRIMMED, lo, hi):  # (untouched so far)
                _trim_block(state, lo, hi, all_edges, probing, later)
    for lead_side in (True, False):
        for lo, hi in _blocks(state, cursor, forward):
            _trim_side(state, lo, hi, lead_side, all_edges, probing, later)
    if all_edges:  # untrimmable leftovers go on to scraping
        for b in list(state.domain.blocks(Status.NON_TRIMMED)):
            state.map.set_status(b[0], b[1] - b[0], Status.NON_SCRAPED)


def _blocks(state: RunState, cursor: int, forward: bool) -> Iterator[Range]:
    """The non-trimmed blocks from `cursor` on, in a direction (the map may change between them)."""
    c = cursor
    while (found := state.domain.find(Status.NON_TRIMMED, c, forward)) is not None:
        lo, hi = state.domain.whole_block(found)
        c = hi if forward else lo
        yield lo, hi


def _trim_block(state: RunState, lo: int, hi: int, all_edges: bool, probing: bool, later: set[int]) -> None:
    """Both sides of one block: its leading edge, then the trailing edge of what is left of it."""
    _trim_side(state, lo, hi, True, all_edges, probing, later)
    rest = state.domain.find(Status.NON_TRIMMED, lo, True)
    if rest is not None and rest[0] < hi:
        r_lo, r_hi = state.domain.whole_block(rest)
        _trim_side(state, r_lo, min(r_hi, hi), False, all_edges, probing, later)


def _trim_side(
    state: RunState, lo: int, hi: int, lead_side: bool, all_edges: bool, probing: bool, later: set[int]
) -> None:
    """Trim one edge of the block [lo, hi): the leading one upwards, or the trailing one (past a
    bad cluster whose low side was trimmed, probed for first)."""
    domain, done = state.domain, state.edge_done
    state.map.current_pos = lo
    edge = lo if lead_side else hi
    if edge in done or edge in later:
        return
    if not (all_edges or domain.neighbour_is(lo - 1 if lead_side else hi, Status.FINISHED)):
        return
    if not lead_side and lo in done:
        _trim_far_side(state, lo, hi, probing)
        return
    new = _trim_edge(state, lo, hi, forward=lead_side)
    lo, hi = (new, hi) if lead_side else (lo, new)
    if hi <= lo:
        return
    if (hi if lead_side else lo) in done:
        state.map.set_status(lo, hi - lo, Status.NON_SCRAPED)
    else:
        # the other side may still face non-tried data, which the sweep may rescue: trim it
        # then, not scrape across good data now
        done.add(lo if lead_side else hi)


def _trim_far_side(state: RunState, lo: int, hi: int, probing: bool) -> None:
    """The high side of [lo, hi), whose low side was trimmed to a bad sector: first probe past
    the bad cluster by the longest one learned (station.rescue.clusters), then, unless the
    probe read to `hi`, trim from `hi` down.  What lies between bad sectors goes to scraping;
    what lies between a cluster and a probe that read is trimmed later (RunState.edge_later)."""
    spans, sector, m = state.clusters, state.sector, state.map
    bad = lo - sector  # the cluster's first bad sector
    probing = probing and m.status_at(bad) == Status.BAD_SECTOR
    while probing and (length := spans.probe_length()) and lo < bad + length:
        if bad + length >= hi:  # no more than the cluster left: trimmed later
            state.edge_later.add(hi)
            return
        probe = bad + length
        edge = _trim_edge(state, probe, hi, forward=True)
        if m.status_at(probe) == Status.BAD_SECTOR:
            spans.miss()  # landed in the cluster: its far edge from `hi`
            m.set_status(lo, probe - lo, Status.NON_SCRAPED)
            lo = edge
            break
        spans.hit()  # [lo, probe) is trimmed later, from `probe` down
        state.edge_later.add(probe)
        if edge >= hi:
            return
        if m.status_at(edge - sector) != Status.BAD_SECTOR:
            return  # a slow read: the rest is for the slow pass
        lo, bad = edge, edge - sector  # past good data, another cluster
    new = _trim_edge(state, lo, hi, forward=False)
    if new < hi and m.status_at(bad) == Status.BAD_SECTOR:  # the cluster's far edge, exact:
        if m.status_at(new) == Status.BAD_SECTOR:
            spans.learn(new + sector - bad)
        elif new == lo:  # (read down to it: the cluster ends where the low side stopped)
            spans.learn(lo - bad)
    if new > lo:
        m.set_status(lo, new - lo, Status.NON_SCRAPED)


def _trim_edge(state: RunState, lo: int, hi: int, forward: bool) -> int:
    """Read sectors inward from one edge; returns the new edge of the untrimmed middle.

    A read the drive (not the sector) failed is tried once more, after the drive was
    reset or power-cycled, rather than ending the edge there.
    """
    rec = state.recorder
    edge = lo if forward else hi
    while (hi > edge) if forward else (edge > lo):
        spared = False
        run = (edge, hi) if forward else (lo, edge)
        for out in state.stream(*run, forward, state.sector, state.sector, slow=state.fast_only):
            if out.ok:
                rec.good(out)
                edge = out.pos + out.size if forward else out.pos
                if out.slow:  # sector by sector in a slow area: that is for after the slow pass
                    state.defer_slow(lo, hi)
                    return edge
                continue
            spared = rec.spare(out, peek=True)
            rec.failed(out, Status.BAD_SECTOR)
            if not spared:
                edge = out.pos + out.size if forward else out.pos
            state.after_read()  # leaving the run early skips stream's own check
            break
        if not spared:
            break
    return edge


def presumed_to_trim(state: RunState) -> None:
    """Areas presumed bad (a learned pattern put them there; their first sector failed) and not
    tried since are failed areas now: trimming reads them from their edges, which finds at once
    any good sectors a jump stepped over where the pattern ended early."""
    for lo, hi in intersect(state.domain.ranges, state.knowledge.presumed_bad.ranges):
        for b in [b for b in state.map.blocks(lo, hi) if b.status == Status.NON_TRIED]:
            state.map.set_status(b.pos, b.size, Status.NON_TRIMMED)
