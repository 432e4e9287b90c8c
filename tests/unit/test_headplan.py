"""The staged plan by heads (station.rescue.headplan), on a layout drawn by hand."""

from __future__ import annotations

import pytest

from station.core.ranges import intersect
from station.rescue.headplan import head_choice, stages, wants_heads
from station.rescue.heads import HeadLayout, Zone
from station.rescue.options import RescueOptions

# four heads in bands of 400 bytes over [0, 1600); nothing learned over [1600, 2000)
LAYOUT = HeadLayout(4, [Zone(0, 1600, 400, 0, 4, bad_heads=(2,))])
DOMAIN = [(0, 2000)]


def head(h: int) -> list[tuple[int, int]]:
    return [(k * 400 + h * 100, k * 400 + (h + 1) * 100) for k in range(4)]


def size(ranges) -> int:
    return sum(b - a for a, b in ranges)


def test_first_the_others_and_last_in_that_order_and_a_skipped_head_nowhere() -> None:
    opts = RescueOptions(head_first=[1], head_last=[2], head_skip=[0])
    todo, kept = stages(opts, LAYOUT, DOMAIN)
    assert [s.label for s in todo] == ["head 1 first", "the other heads", "head 2 last"]
    assert todo[0].ranges == head(1)
    assert todo[2].ranges == head(2)
    assert todo[1].ranges == [(300, 400), (700, 800), (1100, 1200), (1500, 2000)]  # and no head known
    assert kept == [(100, 400), (500, 800), (900, 1200), (1300, 2000)]
    for i, a in enumerate(todo):  # the stages are disjoint and make up what is kept
        for b in todo[i + 1 :]:
            assert not intersect(a.ranges, b.ranges)
    assert sum(size(s.ranges) for s in todo) == size(kept) == 2000 - 400


def test_stages_stay_inside_the_domain_and_empty_ones_are_left_out() -> None:
    opts = RescueOptions(head_first=[3])
    todo, kept = stages(opts, LAYOUT, [(0, 350)])  # head 3's first stretch begins at 300
    assert [s.label for s in todo] == ["head 3 first", "the other heads"]
    assert todo[0].ranges == [(300, 350)] and todo[1].ranges == [(0, 300)] and kept == [(0, 350)]
    todo, kept = stages(RescueOptions(head_last=[1]), LAYOUT, [(0, 100)])  # head 0's alone
    assert [s.label for s in todo] == ["the other heads"]


def test_skipping_every_head_leaves_only_what_no_pattern_covers() -> None:
    todo, kept = stages(RescueOptions(head_skip=[0, 1, 2, 3]), LAYOUT, DOMAIN)
    assert kept == [(1600, 2000)] and [s.ranges for s in todo] == [[(1600, 2000)]]


def test_the_head_choice_is_what_restages_a_running_plan() -> None:
    assert not wants_heads(RescueOptions()) and not wants_heads(RescueOptions(heads=4))
    assert wants_heads(RescueOptions(head_skip=[1]))
    assert head_choice(RescueOptions(head_last=[0])) != head_choice(RescueOptions(head_last=[1]))
    assert head_choice(RescueOptions(head_last=[0], heads=4)) != head_choice(RescueOptions(head_last=[0]))


@pytest.mark.parametrize(
    ("opts", "why"),
    [
        (dict(head_first=[1], head_last=[1]), "not two of them"),
        (dict(heads=4, head_skip=[4]), "from 0 to"),
        (dict(heads=0), "from 1 to 32"),
    ],
)
def test_head_options_that_cannot_work_are_refused(opts, why) -> None:
    with pytest.raises(ValueError, match=why):
        RescueOptions(**opts).validate()


def test_heads_of_their_own_widths_are_counted_and_placed_from_the_teeth() -> None:
    from station.rescue.areas import Pattern
    from station.rescue.heads import head_layout

    # six heads, widths 10, 6, 10, 9, 10, 8 (a band of 53); heads 1 and 4 dead: teeth at 10 (6
    # wide) and 35 (10 wide) of every band, over ten bands
    widths = [10, 6, 10, 9, 10, 8]
    starts = [sum(widths[:h]) for h in range(6)]
    bad = Pattern(0, 530, 53, [(starts[1], 6), (starts[4], 10)])
    layout = head_layout([bad], [])
    assert layout is not None and layout.heads == 6  # (53 over the widest tooth says 5)
    zone = layout.zones[0]
    assert zone.bad_heads == (1, 4)
    assert list(zone.stretches(1))[:2] == [(10, 16), (63, 69)]  # exactly the teeth
    assert list(zone.stretches(4))[:2] == [(35, 45), (88, 98)]
    # the heads between share the gaps: 2 and 3 the 19 bytes between the teeth, 5 and 0 the 18 after
    assert [zone.span(h)[1] for h in (2, 3)] in ([10, 9], [9, 10])
    assert sum(zone.span(h)[1] for h in range(6)) == 53
    rs = layout.ranges({2, 3})
    assert rs[0] == (16, 35)  # between the dead heads' stretches, nothing else
    assert not intersect(rs, layout.ranges({1, 4}))
