"""The engine's rarer endings, each with the exact line it leaves: saves that fail during the run,
a source that cannot be reopened (with and without a recover hook), a recover hook that gives up,
a destination that fails a write, an option change that cannot apply, skips that change between
passes.  Scripted drives and a FakeClock, as in test_engine.
"""

from __future__ import annotations

import errno

from station.core.control import RunControl
from station.core.events import Event, Finished, MapSaved, Notice, PowerCycled, SourceReopened
from station.rescue.engine import Engine, RecoveryFailed, RunResult
from station.rescue.options import KiB, RescueOptions
from station.rescue.rescuemap import RescueMap, Status
from station.sim.scripted import FakeClock, Fault, ScriptedSource

S = 512
SECTORS = 256


class CountingSink:
    """A destination that keeps nothing: these tests look at how runs end, not at the bytes."""

    path = "null"

    def __init__(self, size: int) -> None:
        self.syncs = 0

    def write_at(self, pos: int, data: memoryview) -> None:
        pass

    def sync(self) -> None:
        self.syncs += 1

    def close(self) -> None:
        pass


def run_engine(
    faults: list[Fault] | None = None,
    *,
    src: ScriptedSource | None = None,
    sink: CountingSink | None = None,
    save_map=None,
    recover=None,
    control: RunControl | None = None,
    **opts,
) -> tuple[Engine, RunResult, list[Event]]:
    clock = src.clock if src is not None else FakeClock()
    src = src or ScriptedSource(SECTORS * S, faults or [], clock=clock)
    base = dict(cluster_size=4 * KiB, max_read_size=16 * KiB, skip_size=4 * KiB, read_timeout=10.0)
    base.update(opts)
    events: list[Event] = []
    engine = Engine(
        src, sink or CountingSink(SECTORS * S), RescueMap(SECTORS * S), RescueOptions(**base),
        emit=events.append, save_map=save_map, clock=clock, control=control, recover=recover,
    )  # fmt: skip
    result = engine.run()
    return engine, result, events


def notices(events: list[Event]) -> list[str]:
    return [e.message for e in events if isinstance(e, Notice)]


def test_a_sync_failing_during_the_run_stops_it_and_the_result_says_the_map_was_not_updated() -> None:
    class SyncFailsAtThird(CountingSink):
        def sync(self) -> None:
            super().sync()
            if self.syncs >= 3:
                raise OSError(errno.EIO, "Input/output error")

    saved: list[int] = []
    _, result, events = run_engine(
        sink=SyncFailsAtThird(SECTORS * S), save_map=lambda m: saved.append(len(m)), save_interval=1e-6
    )
    assert result.outcome == "failed"
    assert result.reason == (
        "destination sync failed: Input/output error; "
        "could not sync the destination (Input/output error); the mapfile was not updated"
    )
    assert len(saved) == 2 and sum(isinstance(e, MapSaved) for e in events) == 2
    assert notices(events) == ["destination sync failed (Input/output error); map left as it was"] * 2


def test_a_map_save_failing_during_the_run_stops_it() -> None:
    calls: list[int] = []

    def save_map(m: RescueMap) -> None:
        calls.append(1)
        if len(calls) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")

    _, result, events = run_engine(save_map=save_map, save_interval=1e-6)
    assert result.outcome == "failed"
    assert result.reason == (
        "could not save the mapfile: No space left on device; "
        "could not save the mapfile (No space left on device); the mapfile was not updated"
    )
    assert notices(events) == ["could not save the mapfile: No space left on device"] * 2


def test_a_failed_final_map_save_turns_a_finished_run_into_a_failed_one() -> None:
    def save_map(m: RescueMap) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    _, result, events = run_engine(save_map=save_map)
    assert result.outcome == "failed"
    assert result.reason == "could not save the mapfile (Read-only file system); the mapfile was not updated"
    fin = [e for e in events if isinstance(e, Finished)]
    assert len(fin) == 1 and fin[0].outcome == "failed" and fin[0].reason == result.reason


class Unreopenable(ScriptedSource):
    def reopen(self) -> None:
        super().reopen()
        raise OSError(errno.ENODEV, "No such device")


def test_a_source_that_cannot_be_reopened_ends_the_run() -> None:
    src = Unreopenable(SECTORS * S, [Fault(100 * S, 101 * S, "bad")], clock=FakeClock())
    _, result, events = run_engine(src=src, reopen_on_error=True)
    assert result.outcome == "failed" and result.exit_status == 1
    assert result.reason == "source vanished: cannot reopen it (No such device)"
    assert src.reopens == 1 and not any(isinstance(e, SourceReopened) for e in events)


def test_a_source_that_cannot_be_reopened_is_power_cycled_by_the_recover_hook() -> None:
    src = Unreopenable(SECTORS * S, [Fault(100 * S, 101 * S, "bad")], clock=FakeClock())
    reasons: list[str] = []

    def recover(reason: str) -> str:
        reasons.append(reason)
        return "relay cycled"

    engine, result, events = run_engine(src=src, reopen_on_error=True, recover=recover)
    assert result.outcome == "finished"
    cycles = [e for e in events if isinstance(e, PowerCycled)]
    assert len(cycles) == len(reasons) == engine.power_cycles == src.reopens >= 1
    assert cycles[0].cycles == 1 and cycles[0].detail == "relay cycled"
    assert reasons[0] == "source vanished: cannot reopen it (No such device)"
    assert (
        notices(events)[0] == "source vanished: cannot reopen it (No such device): power-cycling the source"
    )
    assert result.summary.bytes[Status.BAD_SECTOR] == S


class Vanishing(ScriptedSource):
    """Fails every read at or past sector 100 with ENODEV: the drive has gone."""

    def read_into(self, pos: int, buf: memoryview) -> int:
        if pos + len(buf) > 100 * S:
            self.reads.append((pos, len(buf), False))
            raise OSError(errno.ENODEV, "No such device")
        return super().read_into(pos, buf)


def test_a_recover_hook_that_gives_up_ends_the_run_as_source_not_responding() -> None:
    src = Vanishing(SECTORS * S, [], clock=FakeClock())

    def recover(reason: str) -> str:
        raise RecoveryFailed("no relay answered")

    engine, result, events = run_engine(src=src, recover=recover)
    assert result.outcome == "failed"
    assert result.reason == "source not responding: no relay answered"
    assert notices(events) == ["source gone (No such device): power-cycling the source"]
    assert engine.power_cycles == 0 and result.read_errors == 1
    assert result.summary.bytes[Status.NON_TRIED] > 0  # the range keeps its status


def test_a_write_error_on_the_destination_fails_the_run() -> None:
    class Broken(CountingSink):
        def write_at(self, pos: int, data: memoryview) -> None:
            if pos + len(data) > 64 * S:
                raise OSError(errno.EIO, "Input/output error")

    _, result, _ = run_engine(sink=Broken(SECTORS * S))
    assert result.outcome == "failed"
    assert result.reason == "write error on destination: Input/output error"
    assert result.summary.bytes[Status.FINISHED] <= 64 * S


def test_an_option_change_that_cannot_apply_is_refused_with_a_notice() -> None:
    control = RunControl()
    control.set_options(read_timeout=-1.0)
    engine, result, events = run_engine(control=control)
    assert result.outcome == "finished"
    assert notices(events) == ["option change refused: read timeout must be a positive number of seconds"]
    assert engine.opts.read_timeout == 10.0


def test_a_skip_size_change_recomputes_the_largest_skip() -> None:
    control = RunControl()
    control.set_options(skip_size=128 * KiB)
    engine, result, events = run_engine([Fault(10 * S, 12 * S, "bad")], control=control)
    assert result.outcome == "finished"
    assert notices(events) == ["options changed: skip size 131072"]
    assert engine.max_skip == 128 * KiB  # at least the skip; 1% of the domain is less
