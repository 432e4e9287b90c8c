"""Reading up to the edge of a bad area: the moves the copying, trimming and sweeping passes share.

An edge found by sector reads is exact (the bad sector is marked bad, the side next to it noted
as trimmed in `state.edge_done`); one found by cluster reads is within a cluster of the truth,
left for trimming.
"""

from __future__ import annotations

from station.rescue.reader import ReadOutcome
from station.rescue.rescuemap import Status
from station.rescue.state import RunState


def probe(state: RunState, lo: int, hi: int, forward: bool, size: int | None = None) -> ReadOutcome:
    """One cluster-sized (or `size`) read at the near end of [lo, hi) in the pass's direction."""
    c = size or state.cluster
    a, b = (lo, min(hi, lo + c)) if forward else (max(lo, hi - c), hi)
    outs = list(state.stream(a, b, forward, c, c, slow=True))
    return outs[0]  # the run is one read long (a cancelled run raised Stop instead)


def sector_edge(state: RunState, lo: int, hi: int, forward: bool) -> int | None:
    """Sector reads over [lo, hi) in a direction up to the first bad sector; its near edge.

    The bad sector is marked bad; the rest of the range keeps its status, with the side
    next to the bad sector noted as trimmed.  None when every sector read (or the drive,
    not the sector, failed).
    """
    edge = _sector_reads(state, lo, hi, forward, slow=False)
    return edge[0] if edge is not None else None


def trouble_edge(state: RunState, lo: int, hi: int, forward: bool) -> tuple[int, bool] | None:
    """Sector reads over [lo, hi) in a direction up to the first bad or slow sector: (its near
    edge, whether it was slow), or None when every sector read fast (or the drive, not the
    sector, failed).  A bad sector is marked bad, as `sector_edge` does; a slow one is kept (it
    read) and noted slow."""
    return _sector_reads(state, lo, hi, forward, slow=True)


def _sector_reads(state: RunState, lo: int, hi: int, forward: bool, slow: bool) -> tuple[int, bool] | None:
    rec = state.recorder
    for out in state.stream(lo, hi, forward, state.sector, state.sector, slow=slow):
        state.map.current_pos = out.pos
        if out.ok:
            rec.good(out)
            if out.slow:
                state.defer_slow(out.pos, out.pos + out.size)
                return (out.pos if forward else out.pos + out.size), True
            continue
        spared = rec.spare(out, peek=True)
        rec.failed(out, Status.BAD_SECTOR)
        state.after_read()  # leaving the run early skips stream's own check
        if spared or out.hung:
            return None
        state.edge_done.add(out.pos + out.size if forward else out.pos)
        return (out.pos if forward else out.pos + out.size), False
    return None


def cluster_edge(state: RunState, lo: int, hi: int, forward: bool, trim: bool) -> int | None:
    """Cluster reads over [lo, hi) in a direction until one fails; where it failed.

    With `trim`, the failed cluster is read sector by sector at once and the edge is the
    first bad sector's; otherwise it is the near side of the failed read.
    """
    rec = state.recorder
    failed = None
    for out in state.stream(lo, hi, forward, state.cluster, state.cluster):
        if out.ok:
            rec.good(out)
        else:
            rec.failed(out, Status.NON_TRIMMED)
            failed = out  # the run ends here by itself (and must, before another starts)
    if failed is None or failed.hung:
        return None
    if not trim or state.opts.no_trim:
        return failed.pos + failed.size if forward else failed.pos
    return sector_edge(state, failed.pos, failed.pos + failed.size, forward)


def expand(state: RunState, lo: int, hi: int, forward: bool, exact: bool = True) -> None:
    """Read an island outwards in growing reads up to its edge, found exactly (in the fast
    phases, up to a slow read: the rest is left to the slow pass); unless `exact`, to within
    the failed cluster, left for trimming."""
    rec = state.recorder
    cluster = state.cluster
    failed = None
    for out in state.stream(lo, hi, forward, cluster, state.max_read, slow=state.fast_only):
        if out.ok:
            rec.good(out)
            if out.slow:  # the rest is for the slow pass
                state.defer_slow(out.pos + out.size, hi) if forward else state.defer_slow(lo, out.pos)
        else:
            rec.failed(out, Status.NON_TRIED if out.size > cluster else Status.NON_TRIMMED)
            failed = out
    if failed is None or failed.hung:
        return
    if state.opts.no_trim or not exact:
        if failed.size > cluster:
            cluster_edge(state, failed.pos, failed.pos + failed.size, forward, trim=False)
        return
    if failed.size > cluster:  # a big read failed: find the bad cluster in it, then the edge
        cluster_edge(state, failed.pos, failed.pos + failed.size, forward, trim=True)
    else:
        sector_edge(state, failed.pos, failed.pos + failed.size, forward)
