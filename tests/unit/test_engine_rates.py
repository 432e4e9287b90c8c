"""The engine's rates as views show them: on a simulator's failing drive, and across a pause."""

from __future__ import annotations

import threading

from station.core.control import RunControl
from station.core.events import Event, Paused, Progress, Resumed
from station.rescue.engine import Engine
from station.rescue.options import RescueOptions
from station.rescue.rescuemap import RescueMap
from station.sim.drive import SimDrive
from station.sim.model import load_model
from station.sim.scripted import FakeClock, ScriptedSource
from station.sim.source import SimSource


class NullSink:
    path = "null"

    def write_at(self, pos: int, data) -> None:
        pass

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_the_current_rate_of_a_simulator_drive_is_not_zero() -> None:
    """dead-head: bursts of good reads between failed reads that take seconds each.  Every report
    came after a slow failed read, and the old meter's one-second window had aged the burst out."""
    drive = SimDrive(load_model("dead-head"))
    src = SimSource(drive)
    events: list[Event] = []
    cancel = threading.Event()

    def emit(e: Event) -> None:
        events.append(e)
        if drive.clock() > 60:  # a simulated minute of copying is enough
            cancel.set()

    rmap = RescueMap(src.size)
    Engine(src, NullSink(), rmap, RescueOptions(), emit=emit, clock=drive.clock, cancel=cancel).run()
    progress = [e for e in events if isinstance(e, Progress) and e.elapsed > 1]
    assert progress and progress[-1].average_rate > 100_000
    moving = [p for p in progress if p.current_rate > 0]
    assert len(moving) >= len(progress) // 3, [p.current_rate for p in progress]
    # what the reports say came in adds up to what was rescued (nothing lost between reports)
    said = sum(p.current_rate * (p.elapsed - q.elapsed) for q, p in zip(progress, progress[1:], strict=False))
    rescued = progress[-1].rescued - progress[0].rescued
    assert 0.8 * rescued < said < 1.2 * rescued


def test_paused_time_is_left_out_of_elapsed_and_the_average() -> None:
    clock = FakeClock()
    src = ScriptedSource(64 << 20, [], clock=clock, rate=8e6)
    control = RunControl()
    events: list[Event] = []

    def emit(e: Event) -> None:
        events.append(e)
        if (
            isinstance(e, Progress)
            and e.elapsed >= 2
            and not control.paused
            and not any(isinstance(x, Paused) for x in events)
        ):
            control.pause("technician", "paused by the technician")
        if isinstance(e, Paused):

            def later() -> None:
                clock.advance(3600.0)  # an hour's pause
                control.resume("technician")

            threading.Thread(target=later).start()

    m = RescueMap(src.size)
    result = Engine(src, NullSink(), m, RescueOptions(), emit=emit, clock=clock, control=control).run()
    assert result.outcome == "finished"
    assert any(isinstance(e, Resumed) for e in events)
    last = [e for e in events if isinstance(e, Progress)][-1]
    assert last.t > 3600 and last.elapsed < 20  # 64 MB at 8 MB/s: 8 s of reading
    assert last.average_rate > 3e6
