"""`station emulate imager` and `station emulate lcus`: emulated hardware on a pseudo-terminal.

Registered under the entry-point group station.emulators (each entry is a `register(subparsers)`),
so Station finds them as it would a third party's.  Light at import: argparse only.
"""

from __future__ import annotations

import argparse
import sys

from station.cli.common import fail


def register_imager(es) -> None:
    im = es.add_parser("imager", help="a serial imager with the virtual drive MODEL on its port S1")
    im.add_argument(
        "--drive", required=True, metavar="MODEL", help="a preset name or a model file (station sim)"
    )
    im.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="real seconds per simulated second of the drive (0: as fast as possible) [1]",
    )
    im.add_argument("--target", help="file backing the target drive T1 [a temporary file]")
    im.add_argument("--serial", default="SI2-EMU-0001", help="the imager's serial number")
    im.add_argument("--protocol", type=int, default=1, help="protocol version the firmware reports [1]")
    im.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[@SECONDS]",
        help="mute, garbage, unknown or unplug, from SECONDS after a job starts (from power-on without)",
    )
    im.set_defaults(func=cmd_emulate_imager)


def register_lcus(es) -> None:
    lc = es.add_parser("lcus", help="an LCUS relay board")
    lc.add_argument("--channels", type=int, default=4, help="1, 2, 4 or 8 [4]")
    lc.add_argument("--no-query", action="store_true", help="do not answer state queries (as some LCUS-1)")
    lc.set_defaults(func=cmd_emulate_lcus)


def _stop_on_signals():
    """An Event set by SIGINT or SIGTERM: taken before the emulator says it is ready, so that a
    signal right after that line still stops it cleanly (its temporary target removed)."""
    import signal
    import threading

    stop = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stop.set())
    return stop


def _serve_until_signalled(done=None, stop=None) -> None:
    """Block until SIGINT or SIGTERM (or `done()` turns true)."""
    stop = stop or _stop_on_signals()
    while not stop.wait(0.2):
        if done is not None and done():
            break


def cmd_emulate_imager(a: argparse.Namespace) -> int:
    from drivers.emulate.imager import ImagerCore
    from drivers.emulate.serial_imager import Fault, SerialImagerEmulator
    from station.sim.drive import SimDrive
    from station.sim.model import ModelError, load_model

    if a.time_scale < 0:
        return fail("--time-scale must be zero or more")
    try:
        faults = [Fault.parse(f) for f in a.fault]
        model = load_model(a.drive)
    except (ValueError, ModelError) as e:
        return fail(str(e))
    try:
        core = ImagerCore(
            SimDrive(model, time_scale=a.time_scale), a.target, serial=a.serial, protocol=a.protocol
        )
    except OSError as e:
        return fail(f"target {a.target}: {e.strerror}")
    emu = SerialImagerEmulator(core, faults)
    stop = _stop_on_signals()
    print(emu.start(), flush=True)
    temporary = core.temporary_target
    kept = " (a temporary file, deleted when the emulator stops: --target FILE keeps it)" if temporary else ""
    print(
        f"emulated imager {a.serial}: S1 holds {model.name} ({model.size} bytes), "
        f"T1 -> {core.target_path}{kept}; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    try:
        _serve_until_signalled(emu.unplugged.is_set, stop)
    finally:
        emu.stop()
        core.close()
        st = core.drive.stats if core.drive else None
        if st is not None:
            print(
                f"served {emu.commands} commands; drive: {st.reads} reads, {st.read_errors} errors, "
                f"{st.seconds:.1f} simulated s, {st.power_cycles} power cycles",
                file=sys.stderr,
            )
        if temporary:
            print(
                f"deleted the temporary T1 image {core.target_path} (--target FILE keeps it)", file=sys.stderr
            )
    return 0


def cmd_emulate_lcus(a: argparse.Namespace) -> int:
    from drivers.emulate.lcus import LcusEmulator

    if a.channels not in (1, 2, 4, 8):
        return fail("an LCUS board has 1, 2, 4 or 8 channels")

    def show(ch: int, on: bool) -> None:
        print(f"relay {ch} {'on' if on else 'off'}", file=sys.stderr, flush=True)

    emu = LcusEmulator(a.channels, on_change=show, answer_queries=not a.no_query)
    print(emu.start(), flush=True)
    try:
        _serve_until_signalled()
    finally:
        emu.stop()
    return 0
