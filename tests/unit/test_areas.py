"""The bad-area tracker: lengths and periods learned from exact edges, predictions, forgetting."""

from __future__ import annotations

from station.rescue.areas import AreaTracker

S = 512
C = 64 * 1024


def tracker() -> AreaTracker:
    return AreaTracker(S, C, max_jump=64 << 20)


def test_nothing_is_predicted_before_two_areas() -> None:
    t = tracker()
    assert t.length() is None and t.period() is None and t.next_start(0, True) is None
    t.record(1 << 20, 1 << 20, exact=True)
    assert t.length() is None and t.period() is None


def test_regular_areas_give_length_period_and_the_next_start() -> None:
    t = tracker()
    for k in range(3):
        t.record((8 * k + 3) << 20, 2 << 20, exact=True)
    assert t.length() == 2 << 20
    assert t.period() == 8 << 20
    assert t.next_start((19 << 20) + 1, True) == 27 << 20
    # past one or two periods already: the next one ahead
    assert t.next_start(30 << 20, True) == 35 << 20
    assert t.margin() >= 8 * S and t.margin() % S == 0


def test_reverse_passes_measure_downwards() -> None:
    t = tracker()
    for k in range(3):
        t.record((100 - 8 * k) << 20, 2 << 20, exact=True)
    assert t.period() == 8 << 20
    assert t.next_start(80 << 20, False) == 76 << 20


def test_irregular_areas_predict_no_start() -> None:
    t = tracker()
    for start in (1 << 20, 5 << 20, 20 << 20, 22 << 20):
        t.record(start, 1 << 20, exact=True)
    assert t.period() is None and t.next_start(23 << 20, True) is None


def test_inexact_areas_overshoot_by_a_cluster_and_tolerate_cluster_jitter() -> None:
    t = tracker()
    for k, jitter in enumerate((0, C // 2, -C // 2)):
        t.record((8 * k << 20) + jitter, 1 << 20, exact=False)
    assert t.length() == (1 << 20) + C  # rather land past the end than in the area
    assert t.period() is not None  # gaps agree to within two clusters
    exact = tracker()
    for k, jitter in enumerate((0, C // 2, -C // 2)):
        exact.record((8 * k << 20) + jitter, 1 << 20, exact=True)
    assert exact.period() is None  # exact starts must agree to the sector (or 1%)


def test_small_or_huge_areas_are_left_to_the_skip() -> None:
    t = tracker()
    t.record(0, 2 * C, exact=True)
    t.record(1 << 20, 2 * C, exact=True)
    assert t.length() is None  # scattered bad sectors: the first skip does
    big = AreaTracker(S, C, max_jump=4 << 20)
    big.record(0, 12 << 20, exact=True)
    big.record(32 << 20, 12 << 20, exact=True)
    assert big.length() == 12 << 20  # three largest skips long: jumped, one read instead of three
    big.record(64 << 20, 20 << 20, exact=True)
    assert big.length() is None  # longer than four of the largest skips: the skip doubles on


def test_areas_of_two_lengths_are_jumped_by_the_longer() -> None:
    t = tracker()  # two dead heads, 1 and 2 MiB wide: landing past the short one costs no error
    for k in range(2):
        t.record((8 * k + 1) << 20, 1 << 20, exact=True)
        t.record((8 * k + 4) << 20, 2 << 20, exact=True)
    assert t.length() == 2 << 20


def test_forget_keeps_only_the_last_area() -> None:
    t = tracker()
    for k in range(4):
        t.record(k * (8 << 20), 2 << 20, exact=True)
    t.forget()
    assert len(t.recent) == 1 and t.misses == 1 and t.period() is None


def test_after_a_zone_change_one_area_predicts_again_once_the_pattern_had_held_or_fitted_whole() -> None:
    M = 1 << 20
    t = tracker()
    for k in range(3):  # every 8 MiB, 2 MiB
        t.record((8 * k + 3) * M, 2 * M, exact=True)
    assert t.next_start(20 * M, True) == 27 * M
    t.record(27 * M, 2 * M, exact=True)
    t.hit()  # the pattern held where it said
    # the next zone: 0.875 of it (7 MiB periods, 1.75 MiB areas), from 40 MiB on
    t.record(41 * M, 7 * M // 4, exact=True)
    assert t.period() == 7 * M and t.next_start(43 * M, True) == 48 * M
    # nor seen to hold, but every area on it, three on one tooth (a zone of wide bands may end
    # before its pattern predicts one): scaled all the same
    u = tracker()
    for k in range(3):
        u.record((8 * k + 3) * M, 2 * M, exact=True)
    u.record(41 * M, 7 * M // 4, exact=True)
    assert u.period() == 7 * M and u.next_start(43 * M, True) == 48 * M
    v = tracker()  # an area off it among them: not scaled
    for k in range(4):
        v.record((8 * k + 3) * M, 2 * M, exact=True)
        if k == 1:
            v.record(14 * M, 2 * M, exact=True)
    assert v.period() == 8 * M
    v.record(41 * M, 7 * M // 4, exact=True)
    assert v.period() is None
    w = tracker()  # two areas are no pattern to scale
    for k in range(2):
        w.record((8 * k + 3) * M, 2 * M, exact=True)
    w.record(41 * M, 7 * M // 4, exact=True)
    assert w.period() is None


def test_short_areas_are_named_once_two_were_measured_and_none_is_long() -> None:
    t = tracker()
    t.record(1000 * S, 12 * S, exact=True)
    assert t.short_length(64 * S) is None  # one measured area says nothing yet
    t.record(2500 * S, 10 * S, exact=True)
    t.record(4000 * S, 40 * S, exact=False, measured=False, slack=16 * S)  # (stepped over, not measured)
    assert t.short_length(64 * S) == 12 * S
    t.record(5500 * S, 300 * S, exact=True)
    assert t.short_length(64 * S) is None  # a long one: a dead head, not a scratch
