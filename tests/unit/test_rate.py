"""The rate meter: current and average rates, the remaining-time rule and the Progress event."""

from __future__ import annotations

import pytest

from station.rescue.rate import PROGRESS_INTERVAL, RateMeter, remaining_time
from station.rescue.rescuemap import Phase, RescueMap, Status
from station.sim.scripted import FakeClock

MB = 1_000_000


def started(size: int) -> tuple[FakeClock, RateMeter, RescueMap]:
    """A meter started at 0 on a fake clock, and a map of `size` bytes."""
    clock = FakeClock()
    meter = RateMeter(clock)
    meter.start()
    return clock, meter, RescueMap(size)


def test_current_rate_is_the_last_second_of_good_reads_and_average_the_whole_run() -> None:
    clock, meter, m = started(100 * MB)
    assert meter.progress(m, 0) is not None  # the run's first report, at its start
    for _ in range(8):  # 1 MB every 0.25 s for 2 s, reported as it goes
        clock.advance(0.25)
        meter.add(MB)
        p = meter.progress(m, read_errors=3)
    assert p is not None
    # the reads after 1.0 s are within the last second: 4 MB over 1.0 s
    assert p.current_rate == pytest.approx(4 * MB)
    assert p.average_rate == pytest.approx(8 * MB / 2.0)
    assert p.elapsed == p.t == pytest.approx(2.0)
    assert p.since_last_good == 0.0 and p.read_errors == 3
    assert meter.rescued == 8 * MB


def test_a_burst_of_good_reads_before_a_slow_error_is_not_lost_between_reports() -> None:
    """A simulator's failing drive: 4 MB in 30 ms, then a read error that takes 2 s.  Reports come
    after reads, so the next one is at 2.05 s; the burst counts over the time since the last."""
    clock, meter, m = started(100 * MB)
    meter.progress(m, 0, force=True)  # the phase's first report
    for _ in range(4):
        clock.advance(0.0075)
        meter.add(MB)
    clock.advance(2.02)  # the failing read
    p = meter.progress(m, 1)
    assert p is not None and p.current_rate == pytest.approx(4 * MB / 2.05)
    clock.advance(2.0)  # another failing read, nothing rescued since the last report
    p = meter.progress(m, 2)
    assert p is not None and p.current_rate == 0.0


def test_paused_time_is_left_out_of_elapsed_the_rates_and_the_last_good_read() -> None:
    clock, meter, m = started(100 * MB)
    clock.advance(1.0)
    meter.add(3 * MB)
    meter.progress(m, 0)
    clock.advance(1.0)
    meter.pause()
    clock.advance(600.0)  # ten minutes paused
    p = meter.progress(m, 0, force=True)
    assert p is not None and meter.is_paused
    assert p.current_rate == 0.0 and p.elapsed == pytest.approx(2.0) and p.t == pytest.approx(602.0)
    assert p.average_rate == pytest.approx(1.5 * MB) and p.since_last_good == pytest.approx(1.0)
    assert meter.resume() == pytest.approx(600.0) and not meter.is_paused
    clock.advance(1.0)
    meter.add(MB)
    p = meter.progress(m, 0)
    assert p is not None and p.elapsed == pytest.approx(3.0) and p.since_last_good == 0.0
    assert p.average_rate == pytest.approx(4 * MB / 3.0)
    assert p.current_rate == pytest.approx(MB / 1.0)  # the last second of running time
    clock.advance(4.0)
    assert meter.since_last_good(clock()) == pytest.approx(4.0)


def test_current_rate_span_has_a_floor_and_is_zero_without_recent_reads() -> None:
    clock, meter, m = started(10 * MB)
    clock.advance(0.1)
    meter.add(MB)
    p = meter.progress(m, 0)  # 0.1 s into the run: over PROGRESS_INTERVAL, not over 0.1 s
    assert p is not None and p.current_rate == pytest.approx(MB / PROGRESS_INTERVAL)
    clock.advance(2.0)
    p = meter.progress(m, 0)
    assert p is not None and p.current_rate == 0.0 and p.since_last_good == pytest.approx(2.0)


def test_progress_events_are_throttled_unless_forced() -> None:
    clock = FakeClock()
    meter = RateMeter(clock, interval=0.5)
    meter.start()
    m = RescueMap(MB)
    assert meter.progress(m, 0) is not None
    clock.advance(0.4)
    assert meter.progress(m, 0) is None
    assert meter.progress(m, 0, force=True) is not None
    clock.advance(0.5)
    assert meter.progress(m, 0) is not None


def test_remaining_time_like_ddrescue() -> None:
    m = RescueMap(10 * MB)
    m.set_status(0, 4 * MB, Status.FINISHED)
    assert remaining_time(m.summary(), 2 * MB) == pytest.approx(3.0)  # 6 MB non-tried at 2 MB/s
    assert remaining_time(m.summary(), 0.0) is None  # no rate yet
    m.set_status(4 * MB, 6 * MB, Status.NON_TRIMMED)
    assert remaining_time(m.summary(), 2 * MB) is None  # only finer work left: unknown
    m.set_status(4 * MB, 6 * MB, Status.BAD_SECTOR)
    assert remaining_time(m.summary(), 2 * MB) == 0.0  # nothing pending


def test_progress_carries_the_map() -> None:
    clock, meter, m = started(10 * MB)
    m.set_status(0, MB, Status.FINISHED)
    m.set_status(2 * MB, MB, Status.NON_SCRAPED)
    m.set_status(5 * MB, 512, Status.BAD_SECTOR)
    m.phase, m.pass_, m.current_pos = Phase.TRIMMING, 2, 4096
    p = meter.progress(m, 0)
    assert p is not None
    assert (p.phase, p.pass_, p.pos, p.size) == ("trimming", 2, 4096, 10 * MB)
    assert (p.rescued, p.non_scraped, p.bad, p.bad_areas) == (MB, MB, 512, 2)
    assert p.non_tried == 10 * MB - 2 * MB - 512 and p.non_trimmed == 0
    assert p.since_last_good is None and p.remaining is None  # no rate yet


def test_a_follower_feeds_running_totals() -> None:
    """A job that sees the map's rescued total (a hardware imager's) rather than reads."""
    clock = FakeClock()
    meter = RateMeter(clock)
    meter.start(rescued=4 * MB)  # a resumed job: these were rescued before
    clock.advance(0.5)
    meter.reached(4 * MB)  # nothing new
    assert meter.rescued == 0 and meter.last_good is None
    meter.reached(6 * MB)
    clock.advance(0.5)
    meter.reached(7 * MB)
    assert meter.rescued == 3 * MB and meter.last_good == pytest.approx(1.0)
    m = RescueMap(10 * MB)
    m.set_status(0, 7 * MB, Status.FINISHED)
    p = meter.progress(m, 0)
    assert p is not None and p.average_rate == pytest.approx(3 * MB / 1.0)
    assert p.remaining == pytest.approx(3 * MB / (3 * MB))


def test_paused_time_is_not_time_without_a_good_read_and_slow_threshold() -> None:
    clock = FakeClock()
    meter = RateMeter(clock)
    meter.start()
    meter.pause()
    clock.advance(5.0)
    meter.resume()
    assert meter.last_good is None and meter.since_last_good(clock()) == 0.0
    clock.advance(2.0)
    meter.add(MB)
    clock.advance(1.0)
    meter.pause()
    clock.advance(9.0)
    meter.resume()
    assert meter.since_last_good(clock()) == pytest.approx(1.0)
    assert meter.slow_threshold(None, 0.0) is None
    assert meter.slow_threshold(123.0, 0.0) == 123.0
    assert meter.slow_threshold(0, 30.0) is None  # the average is not known this early
    assert meter.slow_threshold(0, 2.0) == pytest.approx(MB / 3.0 / 10)  # 3 s of running time
