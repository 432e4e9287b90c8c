"""`station sim`: serve a virtual failing drive over FUSE, verify an image of one, list presets.

Registered through station.cli.FEATURE_COMMANDS; everything heavy is imported inside the
command functions.
"""

from __future__ import annotations

import argparse
import json
import sys

from station.cli.common import fail, json_out


def _seconds_or_none(text: str) -> float | None:
    if text.lower() in ("none", "never", "inf"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None


def register(sub) -> None:
    sim = sub.add_parser("sim", help="virtual failing drives: serve over FUSE, verify images, presets")
    sim.set_defaults(func=lambda a: (sim.print_help(), 0)[1])
    ss = sim.add_subparsers(dest="sim_command", parser_class=type(sim))

    sv = ss.add_parser(
        "serve",
        help="serve a virtual drive as MOUNTPOINT/drive over FUSE (until Ctrl-C)",
        description="Mount MOUNTPOINT with `drive` (the virtual drive, read-only), `stats.json` "
        "(live counters) and `power` (write off, on or cycle). Runs in the foreground until "
        "SIGINT or SIGTERM, then detaches the loop device and unmounts.",
    )
    sv.add_argument(
        "model", help="a preset name (station sim presets), a model TOML, a ddrescue test mapfile"
    )
    sv.add_argument("mountpoint", help="an empty directory")
    sv.add_argument("--loop", action="store_true", help="also attach it as a read-only loop device (root)")
    sv.add_argument("--time-scale", type=float, default=0.0, metavar="X",
                    help="really sleep X times the simulated time of each read [0]")  # fmt: skip
    sv.add_argument("--hang-timeout", type=_seconds_or_none, default=30.0, metavar="SECONDS",
                    help="a read into a drive that stopped answering fails (ETIMEDOUT) after this "
                    "many real seconds without a power cycle; 'none' waits for ever [30]")  # fmt: skip
    sv.add_argument("--allow-other", action="store_true", help="let other users read the mount")
    sv.add_argument("--json", action="store_true", help="say where the drive is as one JSON line")
    sv.set_defaults(func=cmd_serve)

    vf = ss.add_parser(
        "verify",
        help="check an image against the virtual drive it was made from",
        description="Every byte MAPFILE calls finished ('+') must hold the drive's content. Exit 0 "
        "when all are right, 1 when some are wrong (or claimed from unreadable sectors), 2 for bad input.",
    )
    vf.add_argument("model", help="the model the image was made from (preset, TOML or test mapfile)")
    vf.add_argument("image")
    vf.add_argument("mapfile", help="GNU ddrescue-format mapfile of the image")
    vf.add_argument("--json", action="store_true")
    vf.set_defaults(func=cmd_verify)

    ps = ss.add_parser("presets", help="list the preset virtual drives")
    ps.add_argument("--json", action="store_true")
    ps.set_defaults(func=cmd_presets)


def _load(spec: str):
    from station.sim.model import ModelError, load_model

    try:
        return load_model(spec), None
    except ModelError as e:
        return None, str(e)


def cmd_serve(a: argparse.Namespace) -> int:
    import os

    from station.sim.fuse import DriveServer, ServeError, check_serve, serve_forever

    model, err = _load(a.model)
    if model is None:
        return fail(err)
    try:
        check_serve(a.mountpoint, loop=a.loop, time_scale=a.time_scale, hang_timeout=a.hang_timeout)
    except ServeError as e:
        return fail(str(e))
    server = DriveServer(
        model,
        a.mountpoint,
        loop=a.loop,
        time_scale=a.time_scale,
        hang_timeout=a.hang_timeout,
        allow_other=a.allow_other,
    )

    def announce(s: DriveServer) -> None:
        if a.json:
            info = {
                "drive": s.drive_path,
                "loop_device": s.loop_device,
                "stats": os.path.join(s.mountpoint, "stats.json"),
                "power": os.path.join(s.mountpoint, "power"),
                "model": model.name,
                "size": model.size,
                "sector_size": model.sector_size,
                "pid": os.getpid(),
                "probe_reads_discarded": s.probe_reads,
            }
            print(json.dumps(info), flush=True)
            return
        where = s.drive_path + (f" and {s.loop_device}" if s.loop_device else "")
        print(
            f"serving {model.name} ({_size(model.size)}) at {where}; "
            f"stats.json and power in {s.mountpoint}; Ctrl-C stops",
            flush=True,
        )

    try:
        status = serve_forever(server, announce)
    except ServeError as e:
        print(f"station: {e}", file=sys.stderr)
        return 1
    gone = [server.mountpoint] + ([server.loop_device] if server.loop_device else [])
    print(f"stopped: {', '.join(gone)} released", file=sys.stderr)
    if server.alive:
        # A reader still holds the (unmounted) file, so the FUSE loop still runs.  Exiting
        # closes /dev/fuse, which ends the connection; skip the interpreter's shutdown, which
        # would wait on, or pull the interpreter from under, the loop's threads.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _size(n: int) -> str:
    """Binary units, as models are written: 512 MiB, 1.5 GiB."""
    for unit, k in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k:
            return f"{n / k:.4g} {unit}"
    return f"{n} B"


def cmd_verify(a: argparse.Namespace) -> int:
    from station.sim.verify import VerifyError, verify

    model, err = _load(a.model)
    if model is None:
        return fail(err)
    try:
        v = verify(model, a.image, a.mapfile)
    except VerifyError as e:
        return fail(str(e))
    if a.json:
        print(json.dumps(v.to_dict(), indent=2))
        return 0 if v.ok else 1
    pct = 100.0 * v.rescued_readable_bytes / v.readable_bytes if v.readable_bytes else 100.0
    print(f"{v.model}: {v.readable_bytes} readable bytes of {v.size}")
    rows = [
        ("finished", v.finished_bytes, f"({pct:.4g}% of the readable bytes)", []),
        ("missed", v.missed_bytes, "(readable, not finished)", []),
        ("wrong", v.wrong_bytes, "(finished, but not the drive's content)", v.first_wrong),
        ("impossible", v.impossible_bytes, "(finished inside unreadable sectors)", v.first_impossible),
    ]
    for label, n, note, offsets in rows:
        print(f"  {label:<10} {n:>14} bytes {note}{_offsets(offsets) if n else ''}")
    if v.ok:
        print("OK: every finished byte matches the drive")
        return 0
    print("WRONG: the image does not match the drive where its map says it is finished")
    return 1


def _offsets(offsets: list[int]) -> str:
    if not offsets:
        return ""
    return "; first at " + ", ".join(f"{o:#x}" for o in offsets)


def cmd_presets(a: argparse.Namespace) -> int:
    from station.sim.model import load_model, preset_names

    rows = []
    for name in preset_names():
        m = load_model(name)
        rows.append(
            {
                "name": name,
                "size": m.size,
                "sector_size": m.sector_size,
                "hang_after_errors": m.hang_after_errors,
                "description": m.description,
            }
        )
    if a.json:
        return json_out(rows)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {_size(r['size']):>8}  {r['description']}")
    return 0
