"""Short bad areas (a scratch: a few sectors at the same place of every track, and scattered bad
sectors between): near them the copying pass reads less at a time, leaves the edges of an area it
meets by chance to trimming, and checks no short crossing it trusted to the pattern."""

from __future__ import annotations

from test_engine import Fault, KiB, S, assert_complete, check_run, rescue

from station.rescue.rescuemap import Status

TRACK = 600  # sectors between one short area and the next
AREAS = 40
FIRST = 2000
OPTS = dict(cluster_size=16 * KiB, max_read_size=64 * KiB)  # near reads (8 KiB) are half a cluster


def scratch(length: int = 6) -> tuple[list[Fault], list[Fault]]:
    """A pattern of short areas, one per track, and single bad sectors off it now and then."""
    starts = [FIRST + k * TRACK + 100 for k in range(AREAS)]
    pattern = [Fault(a * S, (a + length) * S, "bad") for a in starts]
    lone = [FIRST + k * TRACK + 400 + (k * 37) % 80 for k in range(12, AREAS, 3)]
    return pattern, [Fault(s * S, (s + 1) * S, "bad") for s in lone]


def run_on(pattern: list[Fault], lone: list[Fault]):
    faults = sorted(pattern + lone, key=lambda f: f.start)
    run = rescue(FIRST + AREAS * TRACK + 2000, faults, **OPTS)
    check_run(run, faults)
    assert_complete(run, faults)
    return run


def failed_near(reads: list[tuple[int, int, bool]], f: Fault, reach: int = 0) -> list[tuple[int, int, bool]]:
    return [r for r in reads if not r[2] and r[0] < f.end + reach and r[0] + r[1] > f.start - reach]


def test_a_bad_sector_met_among_short_areas_costs_one_near_read_and_is_left_to_trimming() -> None:
    pattern, lone = scratch()
    run = run_on(pattern, lone)
    near = run.engine.state.near_read
    assert near == 8 * KiB
    copying = run.reads_in("copying", 1)
    at_trimming = run.at_phase[("trimming", 1)]
    for f in lone:
        # the read that met it, nothing more: not its first bad sector found by sector reads
        assert [r[1] for r in failed_near(copying, f, 64 * S)] == [near]
        assert at_trimming.status_at(f.start) == Status.NON_TRIMMED  # its edges: trimming's
    assert len(failed_near(run.reads_in("trimming", 1), lone[0], 64 * S)) == 1  # its leading edge


def test_short_crossings_trusted_to_the_pattern_are_not_checked_when_a_sector_comes_off_it() -> None:
    pattern, lone = scratch()
    run = run_on(pattern, lone)
    copying = run.reads_in("copying", 1)
    # once learned, each area costs the one sector read where the pattern put it: no read back
    # from a trusted landing whenever a lone bad sector came off the pattern
    assert [len(failed_near(copying, f)) for f in pattern[8:-1]] == [1] * (AREAS - 9)


def test_long_areas_keep_cluster_reads_and_exact_starts() -> None:
    pattern, lone = scratch(length=200)  # longer than four near reads: not short
    run = run_on(pattern, lone)
    copying = run.reads_in("copying", 1)
    assert run.engine.state.areas.short_length(4 * run.engine.state.near_read) is None
    assert not [r for r in copying if not r[2] and r[1] == run.engine.state.near_read]
    # a lone sector met by chance has its start found at once (the pattern learns from it)
    assert any(len(failed_near(copying, f, 64 * S)) == 2 for f in lone)


def test_a_reverse_pass_steps_over_them_downwards() -> None:
    pattern, lone = scratch()
    faults = sorted(pattern + lone, key=lambda f: f.start)
    run = rescue(FIRST + AREAS * TRACK + 2000, faults, reverse=True, **OPTS)
    check_run(run, faults)
    assert_complete(run, faults)
    copying = run.reads_in("copying", 1)
    met_late = lone[:6]  # (a reverse pass meets these last, once it has learned the pattern)
    assert [[r[1] for r in failed_near(copying, f, 64 * S)] for f in met_late] == [[8 * KiB]] * 6
    assert all(run.at_phase[("trimming", 1)].status_at(f.start) == Status.NON_TRIMMED for f in met_late)
