"""Reading up to the edge of a bad area: the moves the copying, trimming and sweeping passes share.

An edge found by sector reads is exact (the bad sector is marked bad, the side next to it noted
as trimmed in `state.edge_done`); one found by cluster reads is within a cluster of the truth,
left for trimming.
"""

from __future__ import annotations

from station.rescue.reader import ReadOutcome
from station.rescue.rescuemap import Status
from station.rescue.state import RunState


def probe(state: RunState, lo: int, hi: int, forward: bool) -> ReadOutcome:
    """One cluster-sized read at the near end of [lo, hi) in the pass's direction."""
    c = state.cluster
    a, b = (lo, min(hi, lo + c)) if forward else (max(lo, hi - c), hi)
    outs = list(state.stream(a, b, forward, c, c, slow=True))
    return outs[0]  # the run is one read long (a cancelled run raised Stop instead)


def sector_edge(state: RunState, lo: int, hi: int, forward: bool) -> int | None:
    """Sector reads over [lo, hi) in a direction up to the first bad sector; its near edge.

    The bad sector is marked bad; the rest of the range keeps its status, with the side
    next to the bad sector noted as trimmed.  None when every sector read (or the drive,
    not the sector, failed).
    """
    rec = state.recorder
    for out in state.stream(lo, hi, forward, state.sector, state.sector):
        state.map.current_pos = out.pos
        if out.ok:
            rec.good(out)
            continue
        spared = rec.spare(out, peek=True)
        rec.failed(out, Status.BAD_SECTOR)
        state.after_read()  # leaving the run early skips stream's own check
        if spared or out.hung:
            return None
        state.edge_done.add(out.pos + out.size if forward else out.pos)
        return out.pos if forward else out.pos + out.size
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


def expand(state: RunState, lo: int, hi: int, forward: bool) -> None:
    """Read an island outwards in growing reads up to its edge, found exactly."""
    rec = state.recorder
    cluster = state.cluster
    failed = None
    for out in state.stream(lo, hi, forward, cluster, state.max_read):
        if out.ok:
            rec.good(out)
        else:
            rec.failed(out, Status.NON_TRIED if out.size > cluster else Status.NON_TRIMMED)
            failed = out
    if failed is None or failed.hung:
        return
    if state.opts.no_trim:
        if failed.size > cluster:
            cluster_edge(state, failed.pos, failed.pos + failed.size, forward, trim=False)
        return
    if failed.size > cluster:  # a big read failed: find the bad cluster in it, then the edge
        cluster_edge(state, failed.pos, failed.pos + failed.size, forward, trim=True)
    else:
        sector_edge(state, failed.pos, failed.pos + failed.size, forward)
