"""Crossing a bad area in copying pass 1: jump, land, and find (or trust) its far edge.

An area whose start was met is crossed by the learned length of such areas (the tooth of the
pattern it belongs to, or the median of the last few), or else by a skip that doubles until a
read succeeds.  From the landing point the pass reads back towards the area to its far edge, so
the good data just past every area comes at once and the area's length is measured for the next
jump.  Once a tooth's length was measured alike twice, the far edge of the next area on it is
trusted: no read back, which would cost a second failed read.  A trusted crossing is checked
later, when the pattern stops holding (the last area of a zone may be shorter than the others):
`verify_trusted` reads back then.

Short areas (a scratch: a few sectors at the same place of every track, and scattered bad
sectors between) are met in smaller reads (`RunState.near_read`).  One met by chance there is
stepped over by the length of the short areas lately, and its edges are left to trimming: each
would cost a failed read now, for a few good sectors, and trimming finds them for no more later.
"""

from __future__ import annotations

from station.core.events import Notice
from station.rescue.comb import Tooth
from station.rescue.phases.edges import cluster_edge, probe, sector_edge
from station.rescue.reader import ReadOutcome
from station.rescue.rescuemap import Status
from station.rescue.state import RunState

UNCHECKED = 2  # trusted crossings kept for a check when the pattern breaks
SHORT_READS = 4  # areas up to this many near reads long are short (a scratch, scattered sectors)


def short_areas(state: RunState) -> int | None:
    """The length of the short areas met lately (a scratch, scattered bad sectors), or None.

    Near them the copying pass reads `state.near_read` at a time, and one met by chance is left
    to trimming within that read: an exact start would cost a failed read now, for the few good
    sectors before it, and trimming takes them later for the same read, after everything else.
    """
    return state.areas.short_length(SHORT_READS * state.near_read)


def skip_from(state: RunState, cursor: int, skip: int, forward: bool) -> int:
    """Move past `skip` bytes, on alignment boundaries, leaving them non-tried for later."""
    a = state.align
    if forward:
        return min(-(-(cursor + skip) // a) * a, state.map.size)
    return max((cursor - skip) // a * a, 0)


def cross(
    state: RunState,
    start: int,
    forward: bool,
    exact: bool,
    tooth: Tooth | None = None,
    failed: ReadOutcome | None = None,
) -> int:
    """Cross the bad area that begins at `start` (exactly, or where the read `failed`).

    Jump by the tooth's length (or the learned length), or skip doubling until a read
    succeeds; then read back towards the area to find its far edge (exactly when `exact`),
    unless the tooth's length is trusted.  Returns where the pass goes on.
    """
    rec, areas = state.recorder, state.areas
    trusted = areas.trusted_length(tooth) if tooth is not None and exact else None
    length = trusted or (tooth.widest if tooth is not None else areas.length())
    skip = state.opts.skip_size
    gap = _short_gap(state, failed)  # a short area met by a near read: stepped over by its length
    # met by chance where short areas come too (scattered bad sectors between long ones): try the
    # first skip before the learned length, which would step over good data
    small_first = gap is None and length is not None and tooth is None and areas.mixed()
    if gap is not None:
        target = skip_from(state, _past_known_bad(state, start, forward), gap, forward)
    elif small_first:
        target = skip_from(state, _past_known_bad(state, start, forward), skip, forward)
    elif length is not None:
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
        # past a trusted length, one sector says the area ended there (a cluster could meet the
        # next area already, a few sectors on, and make the two look like one)
        out = probe(state, *found, forward, state.sector if trusted is not None else None)
        after = out.pos + out.size if forward else out.pos
        state.map.current_pos = after
        state.trouble_at = after
        if out.ok:  # past the area (a slow read too: it read; the pass then steps over the slowness)
            rec.good(out)
            if out.slow:
                state.defer_slow(out.pos, out.pos + out.size)
            landing = out.pos if forward else out.pos + out.size
            if trusted is not None and landing == target:
                _trusted(state, start, landing, forward)
            else:
                _landed(state, start, landing, forward, exact, tooth, length, failed, gap)
            return after
        rec.failed(out, Status.NON_TRIMMED)
        if gap is not None:  # longer than the short areas lately: feel the way on
            gap = length = trusted = None
            small_first = False
        if small_first and length is not None:  # not a short one: now the learned length
            small_first = False
            target = start + length if forward else start - length
            areas.jumps += 1
            continue
        # a jump by a length (learned, or a tooth's) that fails may have met the next area
        if length is not None and not out.hung and _another_area(state, start, out, forward):
            start, failed = (out.pos if forward else out.pos + out.size), out  # cross that one now
            target = start + length if forward else start - length
            continue
        if length is not None:  # longer than the areas before it: feel the way on
            length = trusted = None
        target = skip_from(state, after, skip, forward)
        skip = min(skip * 2, state.max_skip)


def _landed(
    state: RunState, start: int, landing: int, forward: bool, exact: bool, tooth: Tooth | None,
    length: int | None, failed: ReadOutcome | None, gap: int | None = None,
) -> None:  # fmt: skip
    """A read past the area succeeded: read back to its far edge and learn the area; or, for a
    short area that a near read met and a `gap` stepped over, leave its edges to trimming."""
    areas = state.areas
    if gap is not None and failed is not None:
        _defer_edges(state, failed, landing, forward)  # (as long as the short areas lately)
        areas.record(start, abs(landing - start), False, False, slack=failed.size)
        return
    relearn = failed is not None and areas.relearn  # a pattern was fitted before: learn the
    # next one from exact edges, which takes fewer areas than edges found by cluster reads
    end, end_exact = read_back(state, landing, forward, exact or relearn)
    if end is None:
        return
    known = exact
    if failed is not None and relearn:
        start, known = exact_start(state, failed, forward)
    exact = exact or relearn
    areas.record(start, abs(end - start), known, exact and end_exact)
    if (
        tooth is not None
        and length is not None
        and exact
        and end_exact
        and abs(abs(end - start) - length) <= 4 * state.sector
    ):
        _presume_bad(state, start, end)  # where and as long as the pattern said, both edges exact


def _short_gap(state: RunState, failed: ReadOutcome | None) -> int | None:
    """How far to step from a near read that failed, when short areas are met lately (their
    length, in whole sectors); None for other reads and areas."""
    length = short_areas(state) if failed is not None and failed.size <= state.near_read else None
    return -(-length // state.sector) * state.sector if length is not None else None


def _defer_edges(state: RunState, failed: ReadOutcome, landing: int, forward: bool) -> None:
    """A short area met by a near read, stepped over by its length: what was stepped over is
    left non-trimmed with the read.  Finding the area's edges now would cost a failed read for
    each; trimming takes them later (its probe past a cluster, none for the far edge)."""
    edge = failed.pos + failed.size if forward else failed.pos
    lo, hi = (edge, landing) if forward else (landing, edge)
    b = state.domain.block_at(lo)
    if hi > lo and b is not None and b[0] == Status.NON_TRIED and b[2] >= hi:
        state.map.set_status(lo, hi - lo, Status.NON_TRIMMED)


def _another_area(state: RunState, start: int, out: ReadOutcome, forward: bool) -> bool:
    """A jump by a length (learned, or a tooth's) failed: read back from where it failed towards
    the area it crossed.  If good data lies between, the area was shorter (a few bad sectors
    between long areas, or a zone's last, cut-short area), its far edge is found, and the read
    that failed met the next area; else the area is longer than the length."""
    near = out.pos if forward else out.pos + out.size
    before = state.map.bytes_in(Status.FINISHED)
    end, _ = read_back(state, near, forward, False)
    if end is None or state.map.bytes_in(Status.FINISHED) == before:
        return False
    state.areas.record(start, abs(end - start), False, False)
    return True


def exact_start(state: RunState, failed: ReadOutcome, forward: bool) -> tuple[int, bool]:
    """Where the bad area a failed read met begins, and whether exactly: the good sectors it
    delivered end there (or, from a source that delivers them, none did); else its first bad
    sector is found by sector reads (the read trimming would make later).  Done once a pattern
    was learned (to relearn the next zone's from exact starts, with fewer areas), not for
    scattered damage: on a weak head every extra read is one more chance to fail."""
    near = failed.pos if forward else failed.pos + failed.size
    if forward and (failed.good or state.recorder.partial_reads):
        return failed.pos + failed.good, True
    b = state.domain.block_at(near if forward else near - 1)
    if b is None or b[0] != Status.NON_TRIMMED or state.opts.no_trim:
        return near, False
    edge = sector_edge(state, failed.pos, failed.pos + failed.size, forward)
    return (edge, True) if edge is not None else (near, False)


def _trusted(state: RunState, start: int, landing: int, forward: bool) -> None:
    """An area crossed by a trusted length: its far edge is taken as found, to be checked if the
    pattern breaks (`verify_trusted`)."""
    length = abs(landing - start)
    state.areas.record(start, length, exact=True)  # not read back, but not longer either
    _presume_bad(state, start, landing)
    state.edge_done.add(landing)
    state.unchecked.append((start, landing, forward))
    del state.unchecked[:-UNCHECKED]


def _presume_bad(state: RunState, start: int, end: int) -> None:
    lo, hi = min(start, end), max(start, end)
    state.knowledge.presumed_bad.add(lo, hi)


def verify_trusted(state: RunState) -> None:
    """The pattern stopped holding: read back from the last trusted crossings' landing points to
    their real far edges (the last area of a zone may be shorter than the ones before it)."""
    pending, state.unchecked = state.unchecked, []
    for start, landing, forward in pending:
        state.edge_done.discard(landing)
        end, exact = read_back(state, landing, forward, True)
        if end is not None and end != landing:
            state.knowledge.presumed_bad.remove(min(end, landing), max(end, landing))
            state.areas.correct(start, abs(end - start))


def confirm_trusted(state: RunState) -> None:
    """An area was found where the pattern said: the crossings before it were right."""
    state.unchecked.clear()


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


def read_back(state: RunState, landing: int, forward: bool, exact: bool) -> tuple[int | None, bool]:
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
