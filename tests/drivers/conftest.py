"""Fixtures for the hardware tests: small virtual drives, emulators on real pseudo-terminals.

Every emulator a test starts is stopped at teardown; every test has its own session store.
`bounded` runs a call in a thread and fails the test (instead of hanging the suite) if it does
not return in time: nothing here may hang.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from drvkit import model_text

from drivers.emulate.imager import ImagerCore
from drivers.emulate.lcus import LcusEmulator
from drivers.emulate.serial_imager import Fault, SerialImagerEmulator
from station.sim.drive import SimDrive
from station.sim.model import load_model


@pytest.fixture(autouse=True)
def xdg_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-data"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


@pytest.fixture
def make_model(tmp_path: Path) -> Callable[..., str]:
    """make_model(size=, bad=, cluster=, hang=) -> path of a small model TOML."""
    n = [0]

    def make(**kw: Any) -> str:
        n[0] += 1
        p = tmp_path / f"model{n[0]}.toml"
        p.write_text(model_text(**kw))
        return str(p)

    return make


class Emulators:
    """Starts emulators and stops them all at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self._stop: list[Callable[[], None]] = []

    def imager(
        self,
        model: str,
        *,
        time_scale: float = 0.0,
        faults: tuple[str, ...] = (),
        target: str | None = None,
        **kw,
    ) -> tuple[SerialImagerEmulator, ImagerCore, SimDrive]:
        drive = SimDrive(load_model(model), time_scale=time_scale)
        core = ImagerCore(drive, target, **kw)
        emu = SerialImagerEmulator(core, [Fault.parse(f) for f in faults])
        emu.start()
        self._stop += [emu.stop, core.close]
        return emu, core, drive

    def lcus(self, channels: int = 4, **kw) -> LcusEmulator:
        emu = LcusEmulator(channels, **kw)
        emu.start()
        self._stop.append(emu.stop)
        return emu

    def close(self) -> None:
        for f in reversed(self._stop):
            try:
                f()
            except Exception:
                pass


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[Emulators]:
    e = Emulators(tmp_path)
    yield e
    e.close()
