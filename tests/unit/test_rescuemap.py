"""RescueMap against a naive per-byte model, plus hand-written edge cases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.rescue.rescuemap import Block, Phase, RescueMap, Status

MAX_SIZE = 300
STATUSES = st.sampled_from(list(Status))


# -- the naive model: one status per byte ------------------------------------------------------


def runs(model: list[Status]) -> list[Block]:
    """Maximal runs of equal statuses, i.e. the blocks the map must hold."""
    out: list[Block] = []
    start = 0
    for i in range(1, len(model) + 1):
        if i == len(model) or model[i] != model[start]:
            out.append(Block(start, i - start, model[start]))
            start = i
    return out


def naive_next(model: list[Status], status: Status, pos: int) -> Block | None:
    q = max(pos, 0)
    while q < len(model) and model[q] != status:
        q += 1
    if q >= len(model):
        return None
    end = q
    while end < len(model) and model[end] == status:
        end += 1
    return Block(q, end - q, status)


def naive_prev(model: list[Status], status: Status, end: int) -> Block | None:
    q = min(end, len(model)) - 1
    while q >= 0 and model[q] != status:
        q -= 1
    if q < 0:
        return None
    start = q
    while start > 0 and model[start - 1] == status:
        start -= 1
    return Block(start, q + 1 - start, status)


def naive_blocks(model: list[Status], pos: int, end: int) -> list[Block]:
    lo, hi = max(pos, 0), min(end, len(model))
    out = []
    for b in runs(model):
        a, z = max(b.pos, lo), min(b.end, hi)
        if z > a:
            out.append(Block(a, z - a, b.status))
    return out


def check_invariants(m: RescueMap, model: list[Status]) -> None:
    blocks = list(m)
    assert m.size == len(model)
    assert len(m) == len(blocks)
    expected_pos = 0
    for i, b in enumerate(blocks):
        assert b.pos == expected_pos, "blocks must be contiguous from 0"
        assert b.size > 0, "no empty block"
        if i:
            assert blocks[i - 1].status != b.status, "adjacent blocks must be merged"
        expected_pos = b.end
    assert expected_pos == m.size
    assert blocks == runs(model)

    s = m.summary()
    model_runs = runs(model)
    assert s.size == len(model)
    assert s.fragments == len(model_runs)
    for status in Status:
        assert s.bytes[status] == model.count(status) == m.bytes_in(status)
        n_runs = sum(1 for r in model_runs if r.status == status)
        assert s.areas[status] == n_runs == m.count(status)
    assert s.rescued == model.count(Status.FINISHED)


def interesting_positions(model: list[Status]) -> set[int]:
    """Every run boundary and its neighbours: where the answers to queries can change."""
    points = {-1, 0, 1, len(model) - 1, len(model), len(model) + 1}
    for r in runs(model):
        points.update((r.pos - 1, r.pos, r.pos + 1, r.end - 1, r.end))
    return points


def check_queries(m: RescueMap, model: list[Status], extra: list[int]) -> None:
    points = sorted(interesting_positions(model) | set(extra))
    for p in points:
        if 0 <= p < len(model):
            r = next(r for r in runs(model) if r.pos <= p < r.end)
            assert m.block_at(p) == r
            assert m.status_at(p) == model[p]
        else:
            with pytest.raises(IndexError):
                m.block_at(p)
        for status in Status:
            assert m.next_block(status, p) == naive_next(model, status, p), (status, p)
            assert m.prev_block(status, p) == naive_prev(model, status, p), (status, p)
    for a in points[::3]:
        for z in points[::2]:
            assert list(m.blocks(a, z)) == naive_blocks(model, a, z), (a, z)
    assert list(m.blocks()) == runs(model)


# -- property: random operation sequences -------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_operations_match_model(data: st.DataObject) -> None:
    size = data.draw(st.integers(0, MAX_SIZE), label="size")
    initial = data.draw(STATUSES, label="initial")
    m = RescueMap(size, initial)
    model = [initial] * size
    model_pos = 0
    check_invariants(m, model)

    for _ in range(data.draw(st.integers(1, 25), label="steps")):
        op = data.draw(st.sampled_from(["set", "set", "set", "bad_set", "resize", "replace", "pos"]))
        n = len(model)
        if op == "set":
            pos = data.draw(st.integers(0, n))
            length = data.draw(st.integers(-2, n - pos))
            status = data.draw(STATUSES)
            m.set_status(pos, length, status)
            if length > 0:
                model[pos : pos + length] = [status] * length
        elif op == "bad_set":
            pos = data.draw(st.integers(-5, n + 5))
            length = data.draw(st.integers(1, 10))
            if pos >= 0 and pos + length <= n:
                continue
            before = list(m)
            with pytest.raises(IndexError):
                m.set_status(pos, length, data.draw(STATUSES))
            assert list(m) == before
        elif op == "resize":
            new = data.draw(st.integers(0, MAX_SIZE))
            if new < n and Status.FINISHED in model[new:]:
                before = list(m)
                with pytest.raises(ValueError):
                    m.resize(new)
                assert list(m) == before and m.size == n
            else:
                m.resize(new)
                model = model[:new] + [Status.NON_TRIED] * (new - n)
                if new < n:
                    model_pos = min(model_pos, new)
        elif op == "replace":
            old, new_st = data.draw(STATUSES), data.draw(STATUSES)
            m.replace_status(old, new_st)
            model = [new_st if s == old else s for s in model]
        else:
            model_pos = data.draw(st.integers(0, n))
            m.current_pos = model_pos
        check_invariants(m, model)
        assert m.current_pos == model_pos
        check_queries(m, model, data.draw(st.lists(st.integers(-3, MAX_SIZE + 3), max_size=4)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), STATUSES), max_size=30))
def test_from_blocks_merges_and_matches_model(parts: list[tuple[int, Status]]) -> None:
    triples, model, pos = [], [], 0
    for length, status in parts:
        triples.append((pos, pos + length, status))
        model += [status] * length
        pos += length
    m = RescueMap.from_blocks(pos, triples)
    check_invariants(m, model)
    check_queries(m, model, [])
    c = m.copy()
    check_invariants(c, model)


# -- hand-written edge cases ----------------------------------------------------------------------


def as_tuples(m: RescueMap) -> list[tuple[int, int, str]]:
    return [(b.pos, b.size, b.status.value) for b in m]


def test_new_map_is_one_block_or_empty() -> None:
    assert as_tuples(RescueMap(100)) == [(0, 100, "?")]
    assert as_tuples(RescueMap(7, Status.FINISHED)) == [(0, 7, "+")]
    empty = RescueMap(0)
    assert list(empty) == [] and len(empty) == 0
    assert empty.next_block(Status.NON_TRIED, 0) is None
    assert empty.prev_block(Status.NON_TRIED, 10) is None
    with pytest.raises(ValueError):
        RescueMap(-1)


def test_set_at_start_end_and_whole_map() -> None:
    m = RescueMap(100)
    m.set_status(0, 10, Status.FINISHED)
    assert as_tuples(m) == [(0, 10, "+"), (10, 90, "?")]
    m.set_status(90, 10, Status.BAD_SECTOR)
    assert as_tuples(m) == [(0, 10, "+"), (10, 80, "?"), (90, 10, "-")]
    m.set_status(0, 100, Status.NON_SCRAPED)
    assert as_tuples(m) == [(0, 100, "/")]
    assert m.summary().fragments == 1


def test_set_merges_with_both_neighbours() -> None:
    m = RescueMap(30)
    m.set_status(0, 10, Status.FINISHED)
    m.set_status(20, 10, Status.FINISHED)
    assert len(m) == 3
    m.set_status(10, 10, Status.FINISHED)
    assert as_tuples(m) == [(0, 30, "+")]


def test_noop_updates_leave_map_alone() -> None:
    m = RescueMap(50)
    m.set_status(10, 5, Status.FINISHED)
    before = as_tuples(m)
    m.set_status(20, 10, Status.NON_TRIED)  # already non-tried
    m.set_status(11, 2, Status.FINISHED)  # already finished
    m.set_status(5, 0, Status.BAD_SECTOR)  # empty range
    m.set_status(5, -3, Status.BAD_SECTOR)  # negative size
    m.set_status(500, 0, Status.BAD_SECTOR)  # empty range even out of bounds
    assert as_tuples(m) == before


def test_set_out_of_range_raises() -> None:
    m = RescueMap(10)
    for pos, size in [(-1, 2), (9, 2), (10, 1), (0, 11)]:
        with pytest.raises(IndexError):
            m.set_status(pos, size, Status.FINISHED)
    assert as_tuples(m) == [(0, 10, "?")]


def test_replace_status_merges() -> None:
    m = RescueMap(60)
    for i in range(0, 60, 20):
        m.set_status(i, 10, Status.NON_TRIMMED)
    m.set_status(10, 10, Status.NON_TRIED)
    assert as_tuples(m) == [
        (0, 10, "*"),
        (10, 10, "?"),
        (20, 10, "*"),
        (30, 10, "?"),
        (40, 10, "*"),
        (50, 10, "?"),
    ]
    m.replace_status(Status.NON_TRIMMED, Status.NON_TRIED)
    assert as_tuples(m) == [(0, 60, "?")]
    m.replace_status(Status.NON_TRIED, Status.NON_TRIED)
    assert as_tuples(m) == [(0, 60, "?")]
    m.replace_status(Status.BAD_SECTOR, Status.FINISHED)  # no such blocks
    assert as_tuples(m) == [(0, 60, "?")]


def test_copy_is_independent_and_keeps_position() -> None:
    m = RescueMap(40)
    m.set_status(0, 10, Status.FINISHED)
    m.current_pos, m.phase, m.pass_ = 12, Phase.TRIMMING, 3
    c = m.copy()
    assert as_tuples(c) == as_tuples(m)
    assert (c.current_pos, c.phase, c.pass_) == (12, Phase.TRIMMING, 3)
    c.set_status(10, 30, Status.BAD_SECTOR)
    assert as_tuples(m) == [(0, 10, "+"), (10, 30, "?")]
    assert m.bytes_in(Status.BAD_SECTOR) == 0


def test_resize_grow_and_shrink() -> None:
    m = RescueMap(10)
    m.resize(20)
    assert as_tuples(m) == [(0, 20, "?")]
    m.set_status(0, 20, Status.FINISHED)
    m.resize(25)
    assert as_tuples(m) == [(0, 20, "+"), (20, 5, "?")]
    m.current_pos = 24
    m.resize(20)
    assert as_tuples(m) == [(0, 20, "+")]
    assert m.current_pos == 20
    with pytest.raises(ValueError):
        m.resize(5)
    assert as_tuples(m) == [(0, 20, "+")]


def test_failed_shrink_leaves_map_intact() -> None:
    m = RescueMap(30)
    m.set_status(20, 5, Status.FINISHED)  # ? [0,20) + [20,25) ? [25,30)
    with pytest.raises(ValueError):
        m.resize(10)
    assert as_tuples(m) == [(0, 20, "?"), (20, 5, "+"), (25, 5, "?")]
    assert m.size == 30


def test_resize_negative_is_refused() -> None:
    m = RescueMap(10)
    with pytest.raises(ValueError):
        m.resize(-1)
    assert as_tuples(m) == [(0, 10, "?")]


def test_from_blocks_rejects_bad_layouts() -> None:
    s = Status.FINISHED
    for size, blocks in [
        (10, [(0, 5, s), (6, 10, s)]),  # gap
        (10, [(0, 6, s), (5, 10, s)]),  # overlap
        (10, [(0, 0, s), (0, 10, s)]),  # empty block
        (10, [(1, 10, s)]),  # not from 0
        (10, [(0, 9, s)]),  # short of size
    ]:
        with pytest.raises(ValueError):
            RescueMap.from_blocks(size, blocks)
    m = RescueMap.from_blocks(10, [(0, 3, s), (3, 7, s), (7, 10, Status.BAD_SECTOR)])
    assert as_tuples(m) == [(0, 7, "+"), (7, 3, "-")]
    assert RescueMap.from_blocks(0, []).size == 0


def test_queries_clip_to_ranges() -> None:
    m = RescueMap.from_blocks(
        100, [(0, 40, Status.FINISHED), (40, 60, Status.BAD_SECTOR), (60, 100, Status.FINISHED)]
    )
    assert m.next_block(Status.FINISHED, 10) == Block(10, 30, Status.FINISHED)
    assert m.next_block(Status.FINISHED, 40) == Block(60, 40, Status.FINISHED)
    assert m.next_block(Status.BAD_SECTOR, 60) is None
    assert m.prev_block(Status.FINISHED, 50) == Block(0, 40, Status.FINISHED)
    assert m.prev_block(Status.FINISHED, 70) == Block(60, 10, Status.FINISHED)
    assert m.prev_block(Status.BAD_SECTOR, 40) is None
    assert list(m.blocks(35, 65)) == [
        Block(35, 5, Status.FINISHED),
        Block(40, 20, Status.BAD_SECTOR),
        Block(60, 5, Status.FINISHED),
    ]
    assert list(m.blocks(50, 50)) == []
    assert list(m.blocks(90, 1000)) == [Block(90, 10, Status.FINISHED)]
