"""The SMART monitor: thresholds pause and resume a real RunControl; polls wait for hung reads.

Most tests drive `poll_once` by hand over a list of readings (the real baseline from a
recording, with the counters a failing drive would show), so every step is deterministic.
One runs the thread against the stand-in smartctl whose recording changes between polls.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import pytest

from station.core.control import RunControl
from station.core.events import Event, Notice, SmartPolled
from station.health.errors import SmartError, SmartTimeout
from station.health.monitor import HOLDER, HealthMonitor, MonitorLimits, difference, health_fields
from station.health.smart import SmartReading, read_device

ATA = "-d ata --all /dev/sdau"


@pytest.fixture
def baseline(fake_smartctl) -> SmartReading:
    fake_smartctl.add("ata_hdd")
    return read_device("/dev/sdau", timeout=20)


def later(r: SmartReading, **attrs: int | None) -> SmartReading:
    """The same drive with some counters changed (a reading taken later)."""
    return dataclasses.replace(r, attributes={**r.attributes, **attrs}, taken=r.taken + 1)


class Script:
    """A reading source that hands out prepared readings (or raises prepared errors)."""

    def __init__(self) -> None:
        self.next: list[SmartReading | Exception] = []
        self.calls = 0

    def __call__(self) -> SmartReading:
        self.calls += 1
        item = self.next.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def make(
    baseline: SmartReading, *, busy: Callable[[], float] = lambda: 0.0, **limits
) -> tuple[HealthMonitor, Script, RunControl, list[Event]]:
    script, control, events = Script(), RunControl(), []
    mon = HealthMonitor(
        script,
        control,
        baseline,
        limits=MonitorLimits(**limits),
        emit=events.append,
        now=lambda: 1.0,
        busy=busy,
    )
    return mon, script, control, events


def notices(events: list[Event]) -> list[str]:
    return [e.message for e in events if isinstance(e, Notice)]


def test_hot_drive_pauses_until_it_cools(baseline):
    mon, script, control, events = make(baseline, max_temp=60, cool_margin=3)
    script.next = [later(baseline, temperature_c=t) for t in (59, 61, 58, 57)]
    assert mon.poll_once() == "polled" and not control.paused  # 59: within the limit
    mon.poll_once()  # 61
    assert control.paused
    assert control.reasons() == ["SMART: drive at 61 °C, above the limit of 60 °C"]
    assert "imaging paused until it cools to 57 °C" in notices(events)[-1]
    mon.poll_once()  # 58: cooler, but not by the margin
    assert control.paused
    mon.poll_once()  # 57
    assert not control.paused
    assert notices(events)[-1] == "SMART: drive cooled to 57 °C: the temperature hold is released"
    polled = [e for e in events if isinstance(e, SmartPolled)]
    assert [e.attributes["temperature_c"] for e in polled] == [59, 61, 58, 57]
    assert all(e.verdict in ("GOOD", "WARNING") for e in polled)


def test_pending_growth_pauses_and_acknowledge_moves_the_baseline(baseline):
    mon, script, control, events = make(baseline, max_pending_growth=100)
    script.next = [later(baseline, pending_sectors=n) for n in (50, 100, 150, 240)]
    mon.poll_once()
    assert not control.paused  # grew by 50
    mon.poll_once()
    assert control.paused and "pending sectors grew by 100 (0 → 100)" in control.reasons()[0]
    mon.acknowledge()  # the technician goes on: 100 is the new normal
    assert not control.paused
    mon.poll_once()  # 150: grew by 50 since the new baseline
    assert not control.paused
    mon.poll_once()  # 240: grew by 140
    assert control.paused and "(100 → 240)" in control.reasons()[0]
    assert "SMART: pending sectors accepted as the new baseline" in notices(events)


def test_pending_count_falling_back_releases(baseline):
    mon, script, control, _ = make(baseline, max_pending_growth=10)
    script.next = [later(baseline, pending_sectors=n) for n in (12, 4)]
    mon.poll_once()
    assert control.paused
    mon.poll_once()
    assert not control.paused


def test_two_holds_release_one_at_a_time_and_leave_others_alone(baseline):
    mon, script, control, _ = make(baseline, max_temp=60, max_pending_growth=10)
    control.pause("user", "technician paused")
    script.next = [
        later(baseline, temperature_c=65, pending_sectors=20),
        later(baseline, temperature_c=50, pending_sectors=20),
        later(baseline, temperature_c=50, pending_sectors=0),
    ]
    mon.poll_once()
    assert len(control.reasons()) == 2  # the technician's and ours (one holder, both reasons)
    assert "65 °C" in control.reasons()[1] and "pending sectors grew by 20" in control.reasons()[1]
    mon.poll_once()
    assert "65 °C" not in control.reasons()[1] and "pending" in control.reasons()[1]
    mon.poll_once()
    assert control.reasons() == ["technician paused"]  # ours gone, the technician's kept


def test_limits_off(baseline):
    mon, script, control, _ = make(baseline, max_temp=None, max_pending_growth=None)
    script.next = [later(baseline, temperature_c=80, pending_sectors=5000)]
    mon.poll_once()
    assert not control.paused


def test_no_poll_while_a_read_is_outstanding(baseline):
    outstanding = [5.0]
    mon, script, control, _ = make(baseline, busy=lambda: outstanding[0], busy_after=2.0, recheck=1.0)
    script.next = [later(baseline, temperature_c=70)]
    assert mon.poll_once() == "deferred"
    assert script.calls == 0 and mon.deferred == 1
    assert mon.next_wait("deferred") == 1.0  # tried again soon, not a whole interval later
    outstanding[0] = 0.01  # the read came back; a healthy read takes milliseconds
    assert mon.poll_once() == "polled" and script.calls == 1 and control.paused


def test_timeouts_back_off_and_success_resets(baseline):
    mon, script, _, events = make(baseline, interval=10.0, max_backoff=4)
    script.next = [SmartTimeout("/dev/sdau: smartctl did not answer"), SmartTimeout("x"), SmartTimeout("x")]
    script.next.append(later(baseline))
    waits = []
    for _ in range(4):
        waits.append(mon.next_wait(mon.poll_once()))
    assert waits == [20.0, 40.0, 40.0, 10.0]
    assert mon.failures == 3 and mon.polls == 1
    assert "next poll in 20 s" in notices(events)[0]


def test_other_failures_are_reported_and_polling_goes_on(baseline):
    mon, script, control, events = make(baseline)
    script.next = [SmartError("/dev/sdau: no such device"), ValueError("parser gap"), later(baseline)]
    assert [mon.poll_once() for _ in range(3)] == ["failed", "failed", "polled"]
    assert notices(events)[:2] == [
        "SMART poll failed: /dev/sdau: no such device",
        "SMART poll failed (ValueError: parser gap)",
    ]
    assert not control.paused


def test_changes_that_do_not_pause_are_reported(baseline):
    mon, script, control, events = make(baseline)
    failed = dataclasses.replace(later(baseline, reallocated_sectors=3, crc_errors=2), smart_status="FAILED")
    script.next = [failed]
    mon.poll_once()
    said = notices(events)
    assert "SMART: the drive's own assessment turned to FAILED; keep imaging, do nothing else" in said
    assert "SMART: reallocated sectors 0 → 3" in said
    assert "SMART: interface CRC errors 0 → 2 (check the cable or bridge)" in said
    assert not control.paused
    assert [e.verdict for e in events if isinstance(e, SmartPolled)] == ["FAILING"]


def test_stop_releases_our_hold(baseline):
    mon, script, control, _ = make(baseline, max_temp=60)
    control.pause("user", "technician paused")
    script.next = [later(baseline, temperature_c=70)]
    mon.poll_once()
    assert len(control.reasons()) == 2
    mon.stop()
    assert control.reasons() == ["technician paused"]


def test_the_hold_is_ours_by_name(baseline):
    """Other parties (a TUI resume button) can let go of the SMART hold by its holder name."""
    mon, script, control, _ = make(baseline, max_temp=60)
    script.next = [later(baseline, temperature_c=70)]
    mon.poll_once()
    control.resume(HOLDER)
    assert not control.paused


def test_difference():
    before = {"pending_sectors": 0, "temperature_c": 38, "crc_errors": None, "power_on_hours": 252}
    after = {"pending_sectors": 12, "temperature_c": 38, "crc_errors": None, "power_on_hours": 253}
    assert difference(before, after) == ["pending sectors 0 → 12", "power on hours 252 → 253"]


def test_health_fields_include_nvme_counters(fake_smartctl):
    fake_smartctl.add("nvme")
    f = health_fields(read_device("/dev/nvme0", timeout=20))
    assert (f["media_errors"], f["available_spare"], f["percentage_used"], f["temperature_c"]) == (
        0,
        100,
        28,
        42,
    )


def test_monitor_thread_with_a_changing_drive(fake_smartctl, baseline):
    """The real thing: a thread polling the stand-in smartctl while its recording changes."""
    control, events = RunControl(), []
    lock = threading.Lock()

    def emit(e: Event) -> None:
        with lock:
            events.append(e)

    healthy = fake_smartctl.text(ATA)

    def at(temp: int) -> str:
        text = fake_smartctl.set_attr(healthy, 190, f"{temp} (Min/Max 22/{temp})")
        return fake_smartctl.set_attr(text, 194, f"{temp} (0 16 0 0 0)")

    mon = HealthMonitor(
        lambda: read_device("/dev/sdau", timeout=10, interface="ata"),
        control,
        baseline,
        limits=MonitorLimits(interval=0.05, paused_interval=0.05, max_temp=60, cool_margin=3),
        emit=emit,
    )
    mon.start()
    try:
        fake_smartctl.put(ATA, at(64))
        assert wait_for(lambda: control.paused), "the hot drive did not pause the job"
        assert "64 °C" in control.reasons()[0]
        fake_smartctl.put(ATA, at(55))
        assert wait_for(lambda: not control.paused), "the cooled drive did not release the job"
    finally:
        mon.stop()
    assert mon.polls >= 2
    with lock:
        temps = [e.attributes["temperature_c"] for e in events if isinstance(e, SmartPolled)]
    assert 64 in temps and temps[-1] == 55


def wait_for(cond: Callable[[], bool], limit: float = 10.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()
