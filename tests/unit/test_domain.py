"""The rescue domain: the map seen through --domain ranges, in both directions."""

from __future__ import annotations

from station.rescue.domain import Domain
from station.rescue.rescuemap import RescueMap, Status


def make_map() -> RescueMap:
    """0-100 finished, 100-300 non-tried, 300-400 bad, 400-1000 non-tried."""
    m = RescueMap(1000)
    m.set_status(0, 100, Status.FINISHED)
    m.set_status(300, 100, Status.BAD_SECTOR)
    return m


def test_ranges_are_sorted_clipped_to_the_map_and_empty_ones_dropped() -> None:
    d = Domain(make_map(), [(900, 1200), (-50, 50), (500, 500)])
    assert d.ranges == [(0, 50), (900, 1000)]
    assert (d.start, d.end, d.size) == (0, 1000, 150)
    whole = Domain(make_map())
    assert whole.ranges == [(0, 1000)] and whole.size == 1000


def test_find_clips_to_the_domain_and_steps_over_gaps_in_it() -> None:
    d = Domain(make_map(), [(50, 150), (250, 350), (600, 700)])
    assert d.find(Status.NON_TRIED, 0, True) == (100, 150)
    assert d.find(Status.NON_TRIED, 150, True) == (250, 300)  # 150-250 is outside the domain
    assert d.find(Status.NON_TRIED, 300, True) == (600, 700)  # the block 400-1000, clipped
    assert d.find(Status.NON_TRIED, 700, True) is None
    assert d.find(Status.NON_TRIED, 1000, False) == (600, 700)
    assert d.find(Status.NON_TRIED, 600, False) == (250, 300)
    assert d.find(Status.NON_TRIED, 250, False) == (100, 150)
    assert d.find(Status.NON_TRIED, 100, False) is None
    assert d.find(Status.BAD_SECTOR, 0, True) == (300, 350)


def test_whole_block_and_block_at_are_clipped_to_the_domain_range_holding_them() -> None:
    d = Domain(make_map(), [(50, 150), (600, 700)])
    assert d.whole_block((620, 640)) == (600, 700)
    assert d.block_at(120) == (Status.NON_TRIED, 100, 150)
    assert d.block_at(60) == (Status.FINISHED, 50, 100)
    assert d.block_at(200) is None  # outside the domain
    assert d.block_at(1000) is None and d.block_at(-1) is None  # outside the map


def test_blocks_has_pending_and_neighbours() -> None:
    m = make_map()
    d = Domain(m, [(0, 350)])
    assert list(d.blocks(Status.NON_TRIED)) == [(100, 300)]
    assert d.has(Status.BAD_SECTOR) and not d.has(Status.NON_SCRAPED)
    assert d.pending()
    m.set_status(100, 200, Status.FINISHED)
    assert not d.pending()  # 400-1000 is still non-tried, but outside the domain
    assert Domain(m).pending()
    assert d.neighbour_is(99, Status.FINISHED) and not d.neighbour_is(300, Status.FINISHED)
    assert not d.neighbour_is(-1, Status.FINISHED) and not d.neighbour_is(1000, Status.NON_TRIED)
