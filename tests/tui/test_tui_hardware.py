"""Imagers and relays in the workstation, over real pseudo-terminals: the drivers registry's
discovery in the devices list, a port attached by hand, and a session handed off to the
emulated serial imager from the new-session form, shown live like a software session."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.widgets import DataTable, Input, Select, Static
from tuikit import run, text_of, virtual_drive, wait_for

from drivers.emulate.imager import ImagerCore
from drivers.emulate.lcus import LcusEmulator
from drivers.emulate.serial_imager import SerialImagerEmulator
from station.jobs.drives import Drive, driver_devices
from station.rescue.mapfile import read_mapfile
from station.rescue.rescuemap import Status
from station.sim.drive import SimDrive
from station.sim.model import load_model
from station.tui.screens.devices import DevicesScreen
from station.tui.screens.dialogs import PortScreen, TypedConfirmScreen
from station.tui.screens.live import LiveScreen
from station.tui.screens.new_session import NewSessionScreen
from station.tui.widgets.sector_map import SectorMap

CH340, FTDI = (0x1A86, 0x7523), (0x0403, 0x6001)
TINY = """name = "tiny"
size = "4Mi"
seed = 3
[geometry]
heads = 2
zones = 1
outer_spt = 256
inner_spt = 256
[[defects]]
kind = "bad_sectors"
count = 12
cluster = 8
"""


def port(device: str, ids: tuple[int, int]) -> SimpleNamespace:
    """What pyserial's list_ports says of a USB-serial adapter (ptys are not listed by it)."""
    return SimpleNamespace(device=device, vid=ids[0], pid=ids[1], serial_number=None)


class Bench:
    """Emulated devices on ptys, stopped at teardown."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._stop: list = []

    def imager(self, time_scale: float = 0.0) -> tuple[SerialImagerEmulator, ImagerCore]:
        model = self.tmp / "tiny.toml"
        model.write_text(TINY)
        core = ImagerCore(SimDrive(load_model(str(model)), time_scale=time_scale), str(self.tmp / "t1.img"))
        emu = SerialImagerEmulator(core)
        emu.start()
        self._stop += [emu.stop, core.close]
        return emu, core

    def lcus(self) -> LcusEmulator:
        board = LcusEmulator(4)
        board.start()
        self._stop.append(board.stop)
        return board

    def close(self) -> None:
        for f in reversed(self._stop):
            try:
                f()
            except Exception:
                pass


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    b = Bench(tmp_path)
    yield b
    b.close()


def attached_text(app) -> str:
    return text_of(app.screen.query_one("#attached", Static))


def test_discovery_lists_relays_imagers_and_the_drives_on_imager_ports(make_app, bench) -> None:
    board = bench.lcus()
    emu, core = bench.imager()
    ports = [port(board.port, CH340), port(emu.port, FTDI)]
    app = make_app([virtual_drive()], attached=[functools.partial(driver_devices, ports=ports)])

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: not screen.searching, 15, "discovery")
            listed = attached_text(app)
            assert f"relay  lcus:{board.port}  LCUS-4 relay board" in listed
            assert f"imager serial-imager:{emu.port}  Station SI-2 emulated imager" in listed
            table = screen.query_one("#drives", DataTable)
            key = f"serial-imager:{emu.port}:S1"
            assert table.row_count == 2
            row = [str(c) for c in table.get_row(key)]
            assert row[1] == "Virtual tiny" and row[2] == core.drive.model.serial and row[3] == "4194 kB"
            assert row[4] == "on imager" and row[5] == "-" and row[6] == "source only"
            assert [d.kind for d in app.devices] == ["relay", "imager"]

    run(go())


def test_a_port_named_by_hand_is_probed_through_the_registry(make_app, bench, tmp_path: Path) -> None:
    emu, core = bench.imager()
    app = make_app([virtual_drive()], attached=[])  # nothing discovered: ptys are not listed

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await wait_for(pilot, lambda: not app.screen.searching, 5)
            assert "none attached" in attached_text(app)
            await pilot.press("a")
            await pilot.pause()
            assert isinstance(app.screen, PortScreen)
            app.screen.query_one("#port", Input).value = str(tmp_path / "no-such-port")
            await pilot.press("enter")
            await pilot.pause(0.5)
            assert app.ports == [] and app.devices == [], "a port where nothing answers is not kept"
            app.action_attach()  # as the command palette's "Attach device at port" does
            await pilot.pause()
            assert isinstance(app.screen, PortScreen)
            app.screen.query_one("#port", Input).value = emu.port
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.devices, 10, "the probe")
            assert app.ports == [emu.port]
            assert f"imager serial-imager:{emu.port}" in attached_text(app)
            table = app.screen.query_one("#drives", DataTable)
            assert table.row_count == 2 and table.get_row(f"serial-imager:{emu.port}:S1")
            await pilot.press("r")  # a rescan probes the named port again
            await wait_for(pilot, lambda: not app.screen.searching, 10, "the rescan")
            assert table.row_count == 2 and f"serial-imager:{emu.port}" in attached_text(app)

    run(go())


def test_a_session_handed_off_to_the_imager_runs_live_like_a_software_one(
    make_app, bench, tmp_path: Path
) -> None:
    emu, core = bench.imager(time_scale=0.015)
    app = make_app([], attached=[functools.partial(driver_devices, ports=[port(emu.port, FTDI)])])
    mapfile = tmp_path / "handoff.map"

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            table = app.screen.query_one("#drives", DataTable)
            await wait_for(pilot, lambda: table.row_count == 1, 15, "the imager's drive")
            await pilot.press("enter")
            await pilot.pause()
            form = app.screen
            assert isinstance(form, NewSessionScreen)
            assert form.query_one("#method", Select).value == f"imager:serial-imager:{emu.port}"
            assert form.query_one("#target-port", Select).value == "T1"
            form.query_one("#mapfile", Input).value = str(mapfile)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirmScreen), 10, "the confirmation")
            app.screen.query_one("#typed", Input).value = "T1"
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), 5, "the live screen")
            live = app.live
            seen: set[int] = set()

            def watch() -> bool:
                if live.progress is not None:
                    seen.add(live.progress.rescued)
                return not live.running

            await wait_for(pilot, watch, 30, "the hand-off's end")
            assert len(seen) >= 4, "the counters moved as the imager worked"
            assert live.result.outcome == "finished" and live.state == "finished"
            await pilot.press("o")
            await pilot.pause(0.3)
            assert isinstance(app.screen, LiveScreen), "no engine options for an imager"
            snap = app.screen.query_one(SectorMap).snapshot
            assert snap is not None and Status.BAD_SECTOR in snap.cells
            assert "SMART: not read by the station" in text_of(app.screen.query_one("#smart", Static))
            assert any("finished" in line for line in live.log)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, DevicesScreen)

    run(go())
    m = read_mapfile(str(mapfile))
    assert [(b.pos, b.size, b.status) for b in m] == [(b.pos, b.size, b.status) for b in core.map]
    assert m.bytes_in(Status.BAD_SECTOR) > 0 and m.bytes_in(Status.FINISHED) == app.live.progress.rescued
    (s,) = app.store.list()
    assert s.record.method == "serial-imager" and s.state == "finished"
    assert s.record.command[:3] == ["station", "image", "--imager"]
    assert s.record.source.serial == core.drive.model.serial


def test_a_relay_picked_for_a_software_session_power_cycles_a_hung_drive(
    make_app, bench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from station.jobs.power import RelaySettings
    from station.rescue.profiles import PROFILES, Profile
    from station.sim.source import SimSource

    model = tmp_path / "dying.toml"
    model.write_text(TINY + "[failure]\nhang_after_errors = 12\n")
    drive = SimDrive(load_model(str(model)))
    board = bench.lcus()
    board.wire(3, drive, "nc")  # the drive's power goes through relay 3's normally-closed contact
    dying = Drive(path="sim:dying-tiny", kind="virtual", size=drive.model.size, model="dying tiny",
                  name="dying-tiny", opener=lambda: SimSource(drive, path="sim:dying-tiny"))  # fmt: skip
    # a hung read is noticed in 0.15 s instead of 30
    monkeypatch.setitem(PROFILES, "default", Profile("default", "short read timeout", {"read_timeout": 0.15}))
    app = make_app(
        [virtual_drive(), dying],
        attached=[functools.partial(driver_devices, ports=[port(board.port, CH340)])],
        relay_settings=RelaySettings(hold=0.02, wait=5, max_cycles=50),
    )
    image = tmp_path / "dying.img"

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await wait_for(pilot, lambda: not app.screen.searching and app.devices, 15, "the relay")
            await pilot.press("enter")  # the scripted drive first: it cannot be power-cycled
            await pilot.pause()
            form = app.screen
            form.query_one("#relay", Select).value = f"lcus:{board.port}"
            form.query_one("#image-path", Input).value = str(tmp_path / "scripted.img")
            await pilot.press("ctrl+s")
            error = form.query_one("#error", Static)
            await wait_for(pilot, lambda: "is not a drive" in text_of(error), 10, "the refusal")
            assert app.live is None and not (tmp_path / "scripted.img").exists()
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("down")
            await pilot.press("enter")
            await pilot.pause()
            form = app.screen
            form.query_one("#relay", Select).value = f"lcus:{board.port}"
            form.query_one("#relay-channel", Input).value = "3"
            form.query_one("#image-path", Input).value = str(image)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), 10, "the live screen")
            live = app.live
            await wait_for(pilot, lambda: not live.running, 40, "the job's end")
            assert live.result.outcome == "finished", live.result.reason
            cycled = [line for line in live.log if "power cycle" in line]
            assert cycled and f"drive {drive.model.serial} back" in cycled[0]

    run(go())
    assert drive.stats.power_cycles >= 1
    assert board.switches[:2] == [(3, True), (3, False)], "cut, then restored, through relay 3"
    (rec,) = [s.record for s in app.store.list()]
    assert rec.result.power_cycles == drive.stats.power_cycles
    m = read_mapfile(str(image) + ".map")
    assert m.bytes_in(Status.BAD_SECTOR) == sum(b - a for a, b in drive.bad_ranges()) * 512
