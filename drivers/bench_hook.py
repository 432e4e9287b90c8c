"""The emulated hardware imager as a `station bench` method.

`run_imager_job` runs one full imaging job of a model on an in-process emulated imager, the
whole way a technician's session goes: the imager firmware (drivers.emulate.imager) behind a
real pty (or the virtual USB backend), the serial-imager (or usb-imager) driver, and the
handoff (station.jobs.handoff) writing the GNU ddrescue mapfile.  It returns the final map and the
SimDrive (its stats hold the milestones every bench method is measured by).

`run_emulated_imager` adapts it to station.bench.methods's runner signature
(`_run_imager(m, model_spec, work, limits, progress) -> MethodResult`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.rescue.engine import RunResult
from station.rescue.rescuemap import RescueMap
from station.sim.drive import SimDrive, Stats


@dataclass
class ImagerRun:
    map: RescueMap  # the mapfile as the handoff left it (read back from disk)
    stats: Stats  # the drive's counters and milestones
    drive: SimDrive
    result: RunResult  # the session's outcome (stopped, with the reason, when stop_when fired)
    image: Path  # the target drive T1's backing file
    mapfile: Path
    wall_seconds: float
    stopped_by: str | None  # what stop_when returned, if it stopped the job

    @property
    def readable_bytes(self) -> int:
        return self.drive.readable_sectors * self.drive.sector_size


def run_imager_job(
    model_spec: str,
    work: str | Path,
    *,
    time_scale: float = 0.0,
    stop_when: Callable[[SimDrive], str | None] | None = None,
    on_progress: Callable[[float], None] | None = None,
    transport: str = "serial",
) -> ImagerRun:
    """Image a fresh drive of `model_spec` with the emulated imager; files go to `work`.

    `stop_when(drive)` is asked after every read the imager makes; a non-empty reason aborts the
    job there (the imager's own stop button).  `on_progress(fraction)` gets the fraction of the
    readable bytes read so far, a few times a second.  `transport`: "serial" or "usb".
    """
    from drivers.emulate.imager import ImagerCore
    from drivers.emulate.serial_imager import SerialImagerEmulator
    from drivers.emulate.usb import UsbImagerDevice, virtual_backend
    from drivers.serial_imager import SerialImager
    from drivers.usb_imager import UsbImager
    from station.core.events import Progress
    from station.core.session import SessionStore
    from station.jobs.handoff import prepare_handoff
    from station.rescue.mapfile import read_mapfile
    from station.sim.model import load_model

    if transport not in ("serial", "usb"):
        raise ValueError(f"transport is serial or usb, not {transport!r}")
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    image, mapfile = work / "image", work / "image.map"
    drive = SimDrive(load_model(model_spec), time_scale=time_scale)
    why: list[str] = []

    def stop(d: SimDrive) -> str | None:
        if why:
            return why[0]
        reason = stop_when(d) if stop_when else None
        if reason:
            why.append(reason)
        return reason

    core = ImagerCore(drive, str(image), stop_when=stop)
    started = time.monotonic()
    emu = None
    try:
        if transport == "serial":
            emu = SerialImagerEmulator(core)
            spec = f"serial-imager:{emu.start()}"
            driver: Any = SerialImager(emu.port)
        else:
            driver = UsbImager("", backend=virtual_backend(UsbImagerDevice(core)))
            spec = f"usb-imager:{driver.port}"
        job = prepare_handoff(
            spec, "S1", "T1", str(mapfile), driver=driver, store=SessionStore(work / "sessions"),
            command=["station", "bench", "imager", model_spec],
        )  # fmt: skip
        job.poll_interval = 0.05
        readable = max(1, drive.readable_sectors * drive.sector_size)

        def emit(e) -> None:
            if on_progress is not None and isinstance(e, Progress):
                on_progress(drive.stats.covered / readable)

        result = job.run(emit=emit)
    finally:
        if emu is not None:
            emu.stop()
        core.close()
    wall = time.monotonic() - started
    if on_progress is not None:
        on_progress(drive.stats.covered / max(1, drive.readable_sectors * drive.sector_size))
    return ImagerRun(
        read_mapfile(mapfile), drive.stats, drive, result, image, mapfile, wall, why[0] if why else None
    )


def run_emulated_imager(
    m: Any, model_spec: str, work: Path, limits: Any, progress: Callable[[str, float], None]
):
    """station.bench.methods's runner for the `imager` method (`imager:usb` for the USB transport)."""
    from station.bench.methods import MethodResult
    from station.rescue.rescuemap import Status
    from station.sim.verify import verify

    started = time.monotonic()
    run = run_imager_job(
        model_spec, work, stop_when=lambda d: limits.reached_drive(d, started),
        on_progress=lambda f: progress(m.label, f), transport=m.arg or "serial",
    )  # fmt: skip
    verdict = verify(run.drive.model, str(run.image), str(run.mapfile))
    readable = run.readable_bytes
    return MethodResult(
        m.label, "imager", run.stopped_by or run.result.outcome, run.stats.to_dict(readable),
        run.map.bytes_in(Status.FINISHED), readable, run.wall_seconds, verdict.ok,
        verdict.wrong_bytes + verdict.impossible_bytes,
        note=run.result.reason, image=str(run.image), mapfile=str(run.mapfile),
    )  # fmt: skip
