"""Patterns of recurring areas (station.rescue.comb) and which reads are slow (station.rescue.slowness)."""

from __future__ import annotations

import random

import pytest

from station.rescue.comb import Mark, fit_comb, rescaled
from station.rescue.slowness import FALLBACK_RATE, SlowReads

S = 512
C = 64 * 1024
MiB = 1 << 20


def marks(*areas: tuple[int, int], exact: bool = True) -> list[Mark]:
    return [Mark(t, n, exact) for t, n in areas]


def test_two_dead_heads_of_different_widths_make_one_period_with_two_teeth() -> None:
    # every 10 MiB: a 1 MiB area at 3 MiB and a 2 MiB area at 6 MiB
    areas = [(k * 10 * MiB + off, w) for k in range(3) for off, w in ((3 * MiB, MiB), (6 * MiB, 2 * MiB))]
    comb = fit_comb(marks(*areas), S, C)
    assert comb is not None and comb.period == 10 * MiB
    assert sorted(t.width for t in comb.teeth) == [MiB, 2 * MiB]
    nxt = comb.next_start(26 * MiB + 1)
    assert nxt is not None and nxt[0] == 33 * MiB and nxt[1].width == MiB
    assert comb.tooth_at(46 * MiB) is not None and comb.tooth_at(45 * MiB) is None


def test_scattered_bad_sectors_between_bands_do_not_break_the_pattern() -> None:
    bands = [(k * 8 * MiB, 2 * MiB) for k in range(4)]
    stray = [(5 * MiB + 7 * S, 4 * S), (19 * MiB + 3 * S, S)]
    comb = fit_comb(marks(*sorted(bands + stray)), S, C)
    assert comb is not None and comb.period == 8 * MiB and len(comb.teeth) == 1


def test_a_scratch_is_a_tooth_per_track_absent_on_other_heads() -> None:
    track = 2048 * S
    spots = [(band * 8 * track + k * track + 600 * S, 12 * S) for band in range(3) for k in range(4)]
    comb = fit_comb(marks(*spots), S, C)
    assert comb is not None and comb.period == track and comb.teeth[0].width == 12 * S


def test_random_areas_make_no_pattern() -> None:
    rng = random.Random(4)
    for _ in range(50):
        starts = sorted(rng.randrange(0, 512 * MiB) // S * S for _ in range(12))
        assert fit_comb(marks(*((t, 8 * S) for t in starts)), S, C) is None


def test_a_pattern_that_stopped_holding_predicts_nothing() -> None:
    old = [(k * 8 * MiB, 2 * MiB) for k in range(4)]
    new = [(41 * MiB + 3 * S, MiB)]  # another zone: not (yet) a pattern
    assert fit_comb(marks(*(old + new[:1])), S, C) is None  # the latest area is off the teeth


def test_slow_reads_by_latency_by_rate_and_by_ddrescue_rate() -> None:
    auto = SlowReads(0.0, 0.05, C)
    assert auto.min_rate() == FALLBACK_RATE
    for _ in range(10):
        assert not auto.judge(MiB, 0.01)  # 100 MB/s: the drive's typical rate
    assert auto.typical() == pytest.approx(MiB / 0.01)
    assert auto.judge(S, 0.3)  # a sector that took 0.3 s: the drive retried inside
    assert not auto.judge(S, 0.02)  # a seek is not slowness
    assert auto.judge(MiB, 0.3)  # 1 MiB at 3.5 MB/s: below a tenth of the typical rate
    # a run of reads each only a little slow: the window catches it
    auto.start_run()
    window = [auto.judge(MiB, 0.13) for _ in range(8)]
    assert not window[0] and any(window)
    ddrescue = SlowReads(1e6, 0.05, C)
    assert ddrescue.judge(64 * 1024, 0.1) and not ddrescue.judge(64 * 1024, 0.05)
    off = SlowReads(None, 0.05, C)
    assert not off.on and not off.judge(S, 100.0)


def test_the_next_zone_is_the_last_pattern_scaled_after_one_area() -> None:
    # zone A: every 10 MiB a 1 MiB area at 3 MiB and a 2 MiB area at 6 MiB; zone B (from 40 MiB)
    # has 0.9 times the sectors per track: every 9 MiB, 0.9 MiB at +2.7 and 1.8 MiB at +5.4
    zone_a = [(k * 10 * MiB + off, w) for k in range(3) for off, w in ((3 * MiB, MiB), (6 * MiB, 2 * MiB))]
    prior = fit_comb(marks(*zone_a), S, C)
    assert prior is not None and prior.period == 10 * MiB
    b0 = 40 * MiB
    wide = (b0 + round(5.4 * MiB) // S * S, round(1.8 * MiB) // S * S)
    got = rescaled(prior, marks(*zone_a, wide), S)
    assert got is not None and abs(got.period - 9 * MiB) <= 4 * S
    nxt = got.next_start(wide[0] + wide[1])  # the narrow one, 0.9 of 7 MiB later
    assert nxt is not None and abs(nxt[0] - (wide[0] + round(6.3 * MiB))) <= 8 * S
    assert abs(nxt[1].width - round(0.9 * MiB)) <= 4 * S
    assert nxt[1].widest >= nxt[1].width  # (jumped with room to spare: landing past is cheap)
    assert nxt[1].measured == 0  # nothing measured there yet: not trusted


def test_a_rescaled_pattern_needs_one_tooth_to_name_and_areas_that_agree() -> None:
    twins = [(k * 10 * MiB + off, MiB) for k in range(3) for off in (2 * MiB, 5 * MiB)]
    prior = fit_comb(marks(*twins), S, C)
    assert prior is not None and prior.period == 10 * MiB and len(prior.teeth) == 2
    first = (40 * MiB + round(1.8 * MiB) // S * S, round(0.9 * MiB) // S * S)
    assert rescaled(prior, marks(*twins, first), S) is None  # which of two equal teeth: unknown
    second = (first[0] + round(2.7 * MiB) // S * S, first[1])  # the other one, 0.9 x 3 MiB on
    got = rescaled(prior, marks(*twins, first, second), S)
    assert got is not None and abs(got.period - 9 * MiB) <= 4 * S
    assert sorted(t.measured for t in got.teeth) == [1, 1]
    # far outside what a zone change does, or measured loosely: not a scaled pattern
    assert rescaled(prior, marks(*twins, (50 * MiB, MiB // 2)), S) is None
    assert rescaled(prior, marks(*twins, first, exact=False), S) is None


def test_loose_starts_are_as_loose_as_the_reads_that_failed_on_them() -> None:
    # a short area every 1,500 sectors: three found exactly, two met by reads of 16 sectors (left
    # within them, as long as the read and the areas lately)
    exact = [Mark(k * 1500 * S, 12 * S, True) for k in range(3)]
    met = [(k * 1500 * S - 8 * S, 28 * S) for k in range(3, 5)]
    assert fit_comb(exact + [Mark(t, n, False, False) for t, n in met], S, C) is None  # a cluster loose
    comb = fit_comb(exact + [Mark(t, n, False, False, 16 * S) for t, n in met], S, C)
    assert comb is not None and abs(comb.period - 1500 * S) <= 4 * S and comb.tolerance == 32 * S


def test_areas_all_much_shorter_than_their_teeth_fit_no_pattern() -> None:
    # one-sector areas met by cluster reads: the teeth are a cluster wide, the areas count for none
    assert fit_comb([Mark(k * 3000 * S, S, False, False) for k in range(6)], S, C) is None
