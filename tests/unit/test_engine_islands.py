"""Islands before trimming: good data the copying pass stepped over (a doubling skip that landed
past a small bad area) is sampled for in the largest non-tried stretches before any sector is
trimmed, until a few samples in a row fail (station.rescue.phases.islands)."""

from __future__ import annotations

from test_engine import Fault, S, assert_complete, check_run, rescue

from station.rescue.phases.islands import FIRST_MISSES
from station.rescue.rescuemap import Status

# a bad area the copying pass crosses by doubling skips, landing past a small bad cluster: the
# read back from the landing stops at the cluster, and good data lies stepped over before it
FAULTS = [Fault(100 * S, 250 * S, "bad"), Fault(330 * S, 332 * S, "bad")]


def before_sector_reads(reads: list[tuple[int, int, bool]]) -> list[tuple[int, int, bool]]:
    return reads[: next((i for i, r in enumerate(reads) if r[1] == S), len(reads))]


def test_the_stepped_over_island_is_read_before_any_sector_is_trimmed() -> None:
    run = rescue(3000, FAULTS)
    check_run(run, FAULTS)
    assert_complete(run, FAULTS)
    at_trim = run.at_phase[("trimming", 1)]
    assert at_trim.status_at(256 * S) == Status.NON_TRIED  # the copying passes left it
    first = before_sector_reads(run.reads_in("trimming", 1))
    island = {p // S for p, n, ok in first if ok for p in range(p, p + n, S)}
    assert set(range(256, 328)) <= island
    # then samples elsewhere, until FIRST_MISSES of them in a row failed
    after = first[max(i for i, r in enumerate(first) if r[2]) + 1 :]
    assert len(after) == FIRST_MISSES and not any(ok for _, _, ok in after)


def test_an_islands_edges_are_left_to_the_trimming_that_follows() -> None:
    faults = [*FAULTS[:1], Fault(300 * S, 302 * S, "bad"), *FAULTS[1:]]  # a bad cluster inside the island
    run = rescue(3000, faults)
    check_run(run, faults)
    assert_complete(run, faults)
    first = before_sector_reads(run.reads_in("trimming", 1))
    # both sides of the cluster read in clusters, then the samples elsewhere, no sector read
    island = {p // S for p, n, ok in first if ok for p in range(p, p + n, S)}
    assert set(range(256, 296)) | set(range(304, 328)) <= island
    assert sum(1 for _, _, ok in first if not ok) >= FIRST_MISSES + 1
    sectors = [p for p, n, ok in run.reads_in("trimming", 1) if n == S]
    assert 301 * S in sectors or 302 * S in sectors  # the cluster's edges: trimming's


def test_without_the_sweep_there_are_no_island_samples() -> None:
    run = rescue(3000, FAULTS, no_sweep=True)
    check_run(run, FAULTS)
    assert not before_sector_reads(run.reads_in("trimming", 1))


def test_a_sample_is_not_taken_where_a_learned_pattern_foretells_a_bad_area() -> None:
    from types import SimpleNamespace

    from station.rescue.areas import Pattern
    from station.rescue.phases.islands import foretold_bad

    # a dead head's stretch: 100 bytes from 1,000 in every 1,000, between 0 and 10,000
    state = SimpleNamespace(areas=SimpleNamespace(patterns=[Pattern(0, 10_000, 1_000, [(1_000, 100)])]))
    assert foretold_bad(state, 5_000) and foretold_bad(state, 5_099)
    assert not foretold_bad(state, 5_100) and not foretold_bad(state, 4_999)
    assert not foretold_bad(state, 12_000)  # beyond the stretch where the pattern held
