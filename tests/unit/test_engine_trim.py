"""Trimming scattered bad clusters: once a few were trimmed from both sides, the far edge of the
next is found by a probe past it (station.rescue.clusters), one failed read each instead of two."""

from __future__ import annotations

from test_engine import Fault, KiB, MemSink, S, assert_complete, check_run, rescue

from station.rescue.clusters import ClusterSpans
from station.rescue.rescuemap import RescueMap, Status
from station.sim.scripted import expected_bytes


def clusters(lengths: list[int]) -> list[Fault]:
    """One bad cluster of each length (sectors), scattered (no pattern for the copying pass to
    learn), each a sector into one of the copying pass's 8-sector reads."""
    out, at = [], 96
    for i, n in enumerate(lengths):
        at += 8 * (20 + i * 13 % 17)
        out.append(Fault((at + 1) * S, (at + 1 + n) * S, "bad"))
    return out


def failed(reads: list[tuple[int, int, bool]]) -> int:
    return sum(1 for _, _, ok in reads if not ok)


def run_on(lengths: list[int]):
    faults = clusters(lengths)
    run = rescue(faults[-1].end // S + 300, faults)
    check_run(run, faults)
    assert_complete(run, faults)
    return run, faults


def test_after_two_clusters_the_far_edge_costs_no_failed_read() -> None:
    run, faults = run_on([3, 3] + [3, 1, 2, 3, 2, 1, 3, 2])
    # a leading edge each, the far edge of the two learned from, then probes that all read
    assert failed(run.reads_in("trimming", 1)) == len(faults) + 2
    c = run.engine.state.clusters
    assert (c.longest, c.hits, c.misses) == (3 * S, 8, 0)


def stepped_over(run, faults: list[Fault]) -> list[tuple[int, int, bool]]:
    """Reads of the good sectors probes stepped over (between a one-sector cluster and its probe)."""
    return [r for r in run.src.reads if any(f.end <= r[0] < f.end + 2 * S for f in faults[2:])]


def test_good_sectors_a_probe_stepped_over_are_read_by_the_sweeps_trimming() -> None:
    run, faults = run_on([3, 3, 1, 1, 1])
    at_sweep = run.at_phase[("sweeping", 1)]
    for f in faults[2:]:  # a one-sector cluster: two good sectors between it and the probe
        assert at_sweep.status_at(f.end) == Status.NON_TRIMMED
        assert at_sweep.status_at(f.end + 2 * S) == Status.FINISHED
    sweep = run.reads_in("sweeping")
    assert stepped_over(run, faults) and all(r in sweep and r[2] for r in stepped_over(run, faults))


def test_with_a_slow_area_left_the_stepped_over_sectors_wait_for_the_slow_pass() -> None:
    faults = clusters([3, 3, 1, 1, 1])
    slow = Fault(faults[-1].end + 100 * S, faults[-1].end + 200 * S, "slow", delay=0.3)
    run = rescue(slow.end // S + 100, [*faults, slow], min_read_rate=0.0, source_kw={"rate": 100e6})
    check_run(run, [*faults, slow])
    assert_complete(run, [*faults, slow])
    slow_pass = next(i for p, n, _, i in run.marks if (p, n) == ("copying", 3))
    second = run.reads_in("trimming", 2)
    assert stepped_over(run, faults) and all(r in second and r[2] for r in stepped_over(run, faults))
    assert all(i > slow_pass for i, r in enumerate(run.src.reads) if r in stepped_over(run, faults)), (
        "read before the slow pass"
    )


def test_a_longer_cluster_is_learned_from_its_miss() -> None:
    run, faults = run_on([2, 2, 4, 4, 4, 4])
    c = run.engine.state.clusters
    assert (c.longest, c.hits) == (4 * S, 3)
    assert c.misses == 0  # the one miss taught the longer cluster: it does not count against probing
    # the miss costs one more failed read than trimming from the far edge would have
    assert failed(run.reads_in("trimming", 1)) == len(faults) + 2 + 2


def test_probing_stops_once_misses_that_teach_nothing_outnumber_hits_by_two() -> None:
    c = ClusterSpans(cluster=64 * KiB)
    assert c.probe_length() is None  # nothing learned yet
    c.learn(2 * S)
    c.learn(3 * S)
    assert c.probe_length() == 3 * S
    c.miss()
    c.learn(5 * S)  # a longer cluster: the miss taught it
    assert (c.misses, c.probe_length()) == (0, 5 * S)
    c.miss()
    c.learn(80 * KiB)  # a long bad area, not a scattered cluster: nothing learned
    c.miss()
    c.learn(4 * S)
    assert c.misses == 2 and c.probe_length() is None
    c.hit()
    assert c.probe_length() == 5 * S


def test_the_first_trimming_takes_the_largest_blocks_first_each_from_both_sides() -> None:
    blocks = [(100, 8), (300, 40), (600, 16)]  # (first sector, sectors): a bad sector in each middle
    faults = [Fault((a + n // 2) * S, (a + n // 2 + 1) * S, "bad") for a, n in blocks]
    rmap = RescueMap(800 * S, Status.FINISHED)
    for a, n in blocks:
        rmap.set_status(a * S, n * S, Status.NON_TRIMMED)
    sink = MemSink(800 * S)
    sink.write_at(0, memoryview(expected_bytes(0, 800 * S, S)))  # (what the finished blocks hold)
    sink.sync()
    run = rescue(800, faults, rmap=rmap, sink=sink)
    check_run(run, faults)
    assert_complete(run, faults)
    order = []
    for pos, _, _ in run.reads_in("trimming", 1):
        a = next(a for a, n in blocks if a * S <= pos < (a + n) * S)
        if not order or order[-1] != a:
            order.append(a)
    assert order == [300, 600, 100]  # largest first; each block done before the next
