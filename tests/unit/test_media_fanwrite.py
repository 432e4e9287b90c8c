"""The fan-out: bounded memory, order, a failing or stalled lane dropped, the rest going on."""

from __future__ import annotations

import threading
import time

import pytest

from station.media.fanout import FanoutSink
from station.media.fanwrite import Fanout, Lane, Piece, Ring


def test_slots_in_flight_never_exceed_the_ring_whatever_the_lanes() -> None:
    ring = Ring(3, 4096)
    seen: dict[str, list[int]] = {}
    lanes = []
    for name in "abcdefgh":  # eight lanes, three slots
        seen[name] = []
        lanes.append(Lane(name, lambda p, name=name: (seen[name].append(p.pos), time.sleep(0.001))))
    fan = Fanout(ring, lanes)
    in_use = 0
    peak = 0
    for i in range(40):
        slot = ring.take(5)
        assert slot is not None, "a slot never came back"
        in_use = ring.count - ring._free.qsize()
        peak = max(peak, in_use)
        fan.put(Piece(i * 4096, 4096, slot))
    fan.end()
    while not fan.over:
        time.sleep(0.01)
    assert peak <= 3
    assert all(v == [i * 4096 for i in range(40)] for v in seen.values()), "each lane in order"
    assert ring._free.qsize() == 3, "every slot back in the ring"


def test_a_failing_lane_is_dropped_and_the_others_finish() -> None:
    ring = Ring(2, 16)
    done: list[int] = []
    finished = threading.Event()

    def bad(p: Piece) -> None:
        if p.pos >= 32:
            raise OSError(5, "Input/output error")

    lanes = [Lane("bad", bad), Lane("good", lambda p: done.append(p.pos), finished.set)]
    fan = Fanout(ring, lanes)
    for i in range(10):
        slot = ring.take(5)
        assert slot is not None
        fan.put(Piece(i * 16, 16, slot))
    fan.end()
    while not fan.over:
        time.sleep(0.01)
    assert lanes[0].state == "failed" and lanes[0].error == "input/output error" and lanes[0].done_to == 32
    assert lanes[1].state == "done" and done == [i * 16 for i in range(10)] and finished.is_set()


def test_a_stalled_lane_is_dropped_by_the_check_and_releases_its_slots() -> None:
    ring = Ring(2, 16)
    hang = threading.Event()
    lanes = [Lane("stuck", lambda p: hang.wait(10)), Lane("fine", lambda p: None)]
    fan = Fanout(ring, lanes)
    fan.put(Piece(0, 16, ring.take(1)))
    time.sleep(0.1)
    assert fan.check(0.05, time.monotonic()) == [lanes[0]]
    assert lanes[0].state == "stalled" and "no answer" in (lanes[0].error or "")
    for i in range(1, 6):  # the ring still turns: the stuck lane holds nothing
        slot = ring.take(2)
        assert slot is not None
        fan.put(Piece(i * 16, 16, slot))
    fan.end()
    hang.set()
    while not fan.over:
        time.sleep(0.01)
    assert lanes[1].state == "done" and lanes[1].done_to == 96


class _Sink:
    def __init__(self, path: str, fail_at: int | None = None) -> None:
        self.path, self.fail_at, self.data, self.synced = path, fail_at, {}, 0

    def write_at(self, pos: int, data: memoryview) -> None:
        if self.fail_at is not None and pos >= self.fail_at:
            raise OSError(5, "Input/output error")
        self.data[pos] = bytes(data)

    def sync(self) -> None:
        self.synced += 1

    def close(self) -> None:
        pass


def test_fanout_sink_drops_a_failing_target_and_raises_only_when_none_is_left() -> None:
    a, b = _Sink("a"), _Sink("b", fail_at=10)
    dropped: list[str] = []
    fan = FanoutSink([a, b], on_drop=lambda path, e: dropped.append(path))
    fan.write_at(0, memoryview(b"x" * 10))
    fan.write_at(10, memoryview(b"y" * 10))
    fan.sync()
    assert dropped == ["b"] and fan.dropped == {"b": "input/output error"}
    assert a.data == {0: b"x" * 10, 10: b"y" * 10} and a.synced == 1 and b.synced == 0
    assert fan.written == {"a": 20, "b": 10}
    a.fail_at = 0
    with pytest.raises(OSError):
        fan.write_at(20, memoryview(b"z"))
