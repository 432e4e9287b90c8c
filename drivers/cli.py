"""The hardware commands: `station drivers`, `station relay`, `station emulate`, and the
hardware options of `station image` (--imager, --relay).

Light at import (argparse only): every `station` invocation imports this module to build its
parser; pyserial, pyusb, the simulator and the drivers are imported inside the commands.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_BAD_INPUT = 2


def _fail(message: str) -> int:
    print(f"station: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def register(sub) -> None:
    """Add the hardware subcommands to `station`'s subparsers."""
    dr = sub.add_parser("drivers", help="installed hardware drivers and the devices they find")
    dr.add_argument("--json", action="store_true")
    dr.add_argument(
        "--probe",
        action="append",
        default=[],
        metavar="PORT",
        help="also ask every serial driver about this port (a pty, an unlisted adapter)",
    )
    dr.add_argument("--no-discover", action="store_true", help="list the drivers only")
    dr.set_defaults(func=cmd_drivers)

    rl = sub.add_parser("relay", help="switch a power relay: on, off, cycle (activate, hold, deactivate)")
    rl.add_argument("driver", help="a power driver: lcus, dcttech, ...")
    rl.add_argument("port", help="its port: /dev/ttyUSB0 (lcus), a board serial or '' (dcttech)")
    rl.add_argument("channel", type=int, help="relay channel, from 1")
    rl.add_argument("action", choices=["on", "off", "cycle", "status"])
    rl.add_argument("--hold", type=float, default=5.0, help="seconds the power stays cut in a cycle [5]")
    rl.add_argument(
        "--polarity",
        choices=["nc", "no"],
        default="nc",
        help="the drive is fed through the relay's normally-closed (nc) or open (no) contact [nc]",
    )
    rl.set_defaults(func=cmd_relay)

    em = sub.add_parser("emulate", help="emulated hardware on a pseudo-terminal, for tests and training")
    es = em.add_subparsers(dest="device", required=True, parser_class=type(em))
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
    lc = es.add_parser("lcus", help="an LCUS relay board")
    lc.add_argument("--channels", type=int, default=4, help="1, 2, 4 or 8 [4]")
    lc.add_argument("--no-query", action="store_true", help="do not answer state queries (as some LCUS-1)")
    lc.set_defaults(func=cmd_emulate_lcus)


def add_image_options(p: argparse.ArgumentParser) -> None:
    """`station image` options for hardware: handing off to an imager, power-cycle recovery."""
    g = p.add_argument_group("hardware")
    g.add_argument(
        "--imager",
        metavar="DRIVER:PORT",
        help="hand the session to this imager; SOURCE and DEST are its ports (e.g. S1 T1)",
    )
    g.add_argument(
        "--relay",
        metavar="DRIVER:PORT:CHANNEL",
        help="power-cycle the source through this relay when it stops answering",
    )
    g.add_argument(
        "--relay-polarity",
        choices=["nc", "no"],
        default="nc",
        help="the drive is fed through the normally-closed (nc) or open (no) contact [nc]",
    )
    g.add_argument("--power-hold", type=float, default=5.0, help="seconds the power stays cut [5]")
    g.add_argument(
        "--power-wait",
        type=float,
        default=60.0,
        help="seconds to wait for the drive to come back after a cycle [60]",
    )
    g.add_argument("--max-power-cycles", type=int, default=10, help="give up after this many cycles [10]")


# Options of the software engine that a hardware imager cannot honour: refused, not ignored.
_ENGINE_ONLY = {
    "test_mode": "-H/--test-mode",
    "domain_mapfile": "-m/--domain-mapfile",
    "input_position": "-i/--input-position",
    "size": "-s/--size",
    "reverse": "-R/--reverse",
    "retry_passes": "-r/--retry-passes",
    "direct": "-d/--direct",
    "relay": "--relay (the imager powers its own source)",
}


def cmd_image_imager(a: argparse.Namespace) -> int:
    """`station image --imager DRIVER:PORT SOURCE DEST [MAPFILE]`: a hardware session."""
    from station.cli import _run_with_view
    from station.handoff import prepare_handoff
    from station.media.base import Refused

    for name, flag in _ENGINE_ONLY.items():
        if getattr(a, name, None):
            return _fail(f"{flag} does not apply to a hardware imager")
    try:
        job = prepare_handoff(a.imager, a.source, a.dest, a.mapfile, save_interval=min(a.save_interval, 5.0))
    except Refused as e:
        return _fail(str(e))
    d = job.description
    if not a.json and not a.quiet:
        print(
            f"Handing off to {d.vendor} {d.model} (firmware {d.firmware}) on {a.imager}; map {job.map_path}",
            file=sys.stderr,
        )
    return _run_with_view(job, a, f"{a.imager} {job.source} → {job.dest}")


def cmd_drivers(a: argparse.Namespace) -> int:
    from drivers.registry import Registry

    reg = Registry()
    entries = reg.entries()
    devices, problems = ([], []) if a.no_discover else reg.discover()
    for port in a.probe:
        found, why = reg.probe(port)
        devices += found
        problems += why
    if a.json:
        print(
            json.dumps(
                {
                    "drivers": [e.to_dict() for e in entries],
                    "devices": [d.to_dict() for d in devices],
                    "problems": problems,
                },
                indent=2,
            )
        )
        return 0
    print("drivers:")
    for e in entries:
        status = e.kind or "broken"
        line = f"  {e.name:<16} {status:<7} {e.origin}"
        if e.error:
            line += f"  ({e.error})"
        print(line)
    print("devices:")
    if not devices:
        print("  none found" + ("" if a.no_discover else " (serial ports and USB were searched)"))
    for d in devices:
        ids = f" [{d.vid:04X}:{d.pid:04X}]" if d.vid is not None and d.pid is not None else ""
        serial = f", serial {d.serial}" if d.serial else ""
        print(f"  {d.driver:<16} {d.port}{ids}  {d.description}{serial}")
    if problems:
        print("problems:")
        for p in problems:
            print(f"  {p}")
    return 0


def cmd_relay(a: argparse.Namespace) -> int:
    from drivers.api import DriverError
    from drivers.registry import Registry

    if a.hold < 0:
        return _fail("--hold must be zero or more seconds")
    try:
        cls = Registry().power(a.driver)
        with cls(a.port) as relay:
            relay.check_channel(a.channel)
            if a.action == "on":
                relay.on(a.channel)
            elif a.action == "off":
                relay.off(a.channel)
            elif a.action == "cycle":
                relay.cycle(a.channel, a.hold, a.polarity)
            states = relay.states()
    except DriverError as e:
        return _fail(str(e))
    state = (
        "unknown (the board does not report it)"
        if states is None
        else ("on" if states.get(a.channel) else "off")
    )
    print(f"{a.driver} {a.port} relay {a.channel}: {state}")
    return 0


def _serve_until_signalled(done=None) -> None:
    """Block until SIGINT or SIGTERM (or `done()` turns true)."""
    import signal
    import threading

    stop = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stop.set())
    while not stop.wait(0.2):
        if done is not None and done():
            break


def cmd_emulate_imager(a: argparse.Namespace) -> int:
    from drivers.emulate.imager import ImagerCore
    from drivers.emulate.serial_imager import Fault, SerialImagerEmulator
    from station.sim.drive import SimDrive
    from station.sim.model import ModelError, load_model

    if a.time_scale < 0:
        return _fail("--time-scale must be zero or more")
    try:
        faults = [Fault.parse(f) for f in a.fault]
        model = load_model(a.drive)
    except (ValueError, ModelError) as e:
        return _fail(str(e))
    try:
        core = ImagerCore(
            SimDrive(model, time_scale=a.time_scale), a.target, serial=a.serial, protocol=a.protocol
        )
    except OSError as e:
        return _fail(f"target {a.target}: {e.strerror}")
    emu = SerialImagerEmulator(core, faults)
    print(emu.start(), flush=True)
    print(
        f"emulated imager {a.serial}: S1 holds {model.name} ({model.size} bytes), T1 -> {core.target_path}; "
        "Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    try:
        _serve_until_signalled(emu.unplugged.is_set)
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
    return 0


def cmd_emulate_lcus(a: argparse.Namespace) -> int:
    from drivers.emulate.lcus import LcusEmulator

    if a.channels not in (1, 2, 4, 8):
        return _fail("an LCUS board has 1, 2, 4 or 8 channels")

    def show(ch: int, on: bool) -> None:
        print(f"relay {ch} {'on' if on else 'off'}", file=sys.stderr, flush=True)

    emu = LcusEmulator(a.channels, on_change=show, answer_queries=not a.no_query)
    print(emu.start(), flush=True)
    try:
        _serve_until_signalled()
    finally:
        emu.stop()
    return 0
