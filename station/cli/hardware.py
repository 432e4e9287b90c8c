"""The hardware commands: `station drivers`, `station relay`, and `station emulate` (its devices
come from the plugin group station.emulators: the built-in ones from the drivers package).

Light at import (argparse only): pyserial, pyusb and the drivers are imported inside the commands.
"""

from __future__ import annotations

import argparse
import json

from station.cli.common import fail


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
    from station.hw.registry import EMULATORS, plugins

    for name, register_emulator, error in plugins(EMULATORS):
        if register_emulator is None:
            broken = es.add_parser(name, help=f"(broken: {error})")
            broken.set_defaults(func=lambda a, e=error: fail(e))
            continue
        register_emulator(es)


def cmd_drivers(a: argparse.Namespace) -> int:
    from station.hw.registry import Registry

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
    from station.hw.api import DriverError
    from station.hw.registry import Registry

    if a.hold < 0:
        return fail("--hold must be zero or more seconds")
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
        return fail(str(e))
    state = (
        "unknown (the board does not report it)"
        if states is None
        else ("on" if states.get(a.channel) else "off")
    )
    print(f"{a.driver} {a.port} relay {a.channel}: {state}")
    return 0
