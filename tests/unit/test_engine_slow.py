"""The engine on degraded drives: slow areas read after everything fast (and never called bad),
and patterns of bad areas learned so that each costs about one failed read."""

from __future__ import annotations

from test_engine import Fault, KiB, S, assert_complete, check_run, rescue

from station.rescue.rescuemap import Status


def slow_run(faults: list[Fault], sectors: int = 2000, **opts):
    base = dict(min_read_rate=0.0, cluster_size=4 * KiB, max_read_size=16 * KiB, skip_size=4 * KiB)
    base.update(opts)
    return rescue(sectors, faults, source_kw={"rate": 100e6}, **base)


def test_slow_areas_are_found_by_default_and_read_after_everything_fast() -> None:
    slow = Fault(600 * S, 900 * S, "slow", delay=0.3)  # 0.3 s per request: the drive retrying
    run = slow_run([slow])
    assert run.result.outcome == "finished" and run.result.read_errors == 0
    assert run.map.summary().rescued == 2000 * S  # every slow sector read, none called bad
    pass1 = run.reads_in("copying", 1)
    in_slow = [(p, n) for p, n, _ in pass1 if p < slow.end and p + n > slow.start]
    assert len(in_slow) <= 8  # a few reads (skips that double), then stepped over
    assert any(p >= slow.end for p, _, _ in pass1)  # the fast data beyond came in pass 1
    # nothing slow before the slow pass, and every fast byte before it
    slow_phase = run.first_read_index("copying") + len(pass1)
    fast_phases = run.src.reads[len(pass1) : run.first_read_index("copying", "trimming")]
    assert not [r for r in fast_phases if r[0] < slow.end and r[0] + r[1] > slow.start]
    at_slow = run.at_phase[("copying", 3)]
    known = run.engine.state.knowledge.slow
    assert all(known.covers(b.pos) for b in at_slow if b.status != Status.FINISHED)
    assert _in_slow_unfinished(at_slow, slow) > 0
    assert run.reads_in("copying", 3), "the slow pass read the slow area"
    assert slow_phase >= 0
    assert run.engine.state.knowledge.slow.covers(700 * S)
    check_run(run, [slow])


def _in_slow_unfinished(m, slow: Fault) -> int:
    return sum(b.size for b in m.blocks(slow.start, slow.end) if b.status != Status.FINISHED)


def test_bad_clusters_inside_a_slow_area_are_narrowed_down_not_read_in_clusters() -> None:
    faults = [Fault(600 * S, 1400 * S, "slow", delay=0.3), Fault(1000 * S, 1002 * S, "bad")]
    run = slow_run(faults, sectors=3000)
    assert_complete(run, [f for f in faults if f.kind == "bad"])
    slow_pass = run.reads_in("copying", 3)
    assert sum(1 for _, _, ok in slow_pass if not ok) <= 6  # halving, a failure per level at most
    assert len(slow_pass) <= (800 * S) // (16 * KiB) + 16  # not read cluster by cluster


def test_no_slow_skip_reads_slow_areas_in_place() -> None:
    slow = Fault(600 * S, 900 * S, "slow", delay=0.3)
    run = slow_run([slow], min_read_rate=None)
    assert run.result.outcome == "finished"
    assert not run.reads_in("copying", 3)
    pass1 = run.reads_in("copying", 1)
    assert sum(n for p, n, _ in pass1 if slow.start <= p < slow.end) >= slow.end - slow.start


def test_two_teeth_of_a_pattern_each_cost_one_failed_sector_read_once_learned() -> None:
    # two dead heads in miniature: per period of 200 sectors, 24 bad at 40 and 40 bad at 120
    faults = []
    for k in range(16):
        faults += [Fault((200 * k + 40) * S, (200 * k + 64) * S, "bad")]
        faults += [Fault((200 * k + 120) * S, (200 * k + 160) * S, "bad")]
    run = rescue(200 * 16, faults, cluster_size=KiB, max_read_size=KiB, skip_size=KiB)
    assert_complete(run, faults)
    areas = run.engine.areas
    assert areas.period() == 200 * S and areas.hits >= 16
    late = [r for r in run.reads_in("copying", 1) if r[0] >= 200 * 8 * S and not r[2]]
    assert late and all(n == S for _, n, _ in late)
    assert len(late) <= len([f for f in faults if f.start >= 200 * 8 * S]) + 2  # one per area
    patterns = areas.patterns
    assert patterns and patterns[-1].period == 200 * S
    assert sorted(w for _, w in patterns[-1].teeth) == [24 * S, 40 * S]
