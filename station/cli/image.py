"""`station image` and `station demo`: a rescue (the engine, or a hand-off to an imager) with a
progress view.  Light at import: the engine, the job and rich are imported when a command runs."""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from station.cli.common import fail
from station.rescue.option_flags import OPTION_FLAGS, OptionFlag, options_from_flags
from station.rescue.options import RescueOptions


def register(sub) -> None:
    im = sub.add_parser("image", help="image a drive or file with the rescue engine (resumable)")
    im.add_argument("source")
    im.add_argument("dest")
    im.add_argument("mapfile", nargs="?", help="GNU ddrescue-format mapfile [DEST.map]")
    add_image_format_options(im)
    _add_rescue_options(im)
    im.add_argument(
        "--files-first", nargs="+", action="extend", metavar="GLOB",
        help="partition tables and filesystem metadata first, then the files matching GLOB ('*.docx', "
        "/p1/Users/ann), then the used blocks, then the rest; one map, one session, resumable",
    )  # fmt: skip
    add_image_options(im)
    im.set_defaults(func=cmd_image)

    dm = sub.add_parser("demo", help="image the built-in demo failing drive (for training)")
    dm.add_argument("--dir", help="where to put demo.img and demo.img.map [XDG data dir]")
    dm.add_argument("--json", action="store_true", help="one JSON object per progress line")
    dm.add_argument("--fresh", action="store_true", help="start over instead of resuming")
    dm.set_defaults(func=cmd_demo)


def _add_rescue_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per progress line on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing destination")
    g = p.add_argument_group("rescue options (as GNU ddrescue's)")
    for f in OPTION_FLAGS:
        if f.kind is None:
            g.add_argument(*f.flags, dest=f.dest, action="store_true", default=None, help=f.help)
        else:
            g.add_argument(*f.flags, dest=f.dest, type=_value_of(f), help=f.help)
    g.add_argument("-m", "--domain-mapfile", help="rescue only the finished blocks of this mapfile")
    g.add_argument("-H", "--test-mode", metavar="MAPFILE",
                   help="simulate errors where MAPFILE is not finished (ddrescue -H)")  # fmt: skip


def _value_of(f: OptionFlag) -> Callable[[str], Any]:
    """The flag's parser for argparse: a bad value is refused (exit 2) naming the flag and what
    it accepts, e.g. `argument -c/--cluster-size: 'abc' is not a whole number of sectors...`."""

    def parse(text: str) -> Any:
        try:
            return f.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = f.dest  # argparse names a parser in some of its own messages
    return parse


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


def add_image_format_options(p: argparse.ArgumentParser) -> None:
    """--format and --hash: what the image is written as, and the hashes taken while writing it."""
    from station.images.hashing import hash_choice

    def hashes(text: str) -> tuple[str, ...]:
        try:
            return hash_choice(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    g = p.add_argument_group("image")
    g.add_argument(
        "--format",
        choices=["raw", "zst"],
        help="raw (with its mapfile) or zst (compressed, sealed when finished) [zst for DEST.zst, else raw]",
    )
    g.add_argument(
        "--hash",
        type=hashes,
        metavar="ALGOS",
        help="whole-image hashes taken while imaging: sha256, md5, sha256,md5 or none [sha256]",
    )


def _image_spec(a: argparse.Namespace):
    """The ImageSpec of --format and --hash (an unknown --format was refused by argparse)."""
    from station.images.hashing import DEFAULT_ALGORITHMS
    from station.jobs.image_output import ImageSpec, format_for

    hashes = a.hash if a.hash is not None else DEFAULT_ALGORITHMS
    return ImageSpec(format_for(a.dest, a.format), hashes)


def _options_from_args(a: argparse.Namespace) -> RescueOptions:
    """The rescue options of `station image`'s flags (the table), then the domain mapfile (-m)."""
    from station.jobs.imaging import domain_from_mapfile, intersect

    o = options_from_flags(vars(a))
    if a.domain_mapfile:
        dm = domain_from_mapfile(a.domain_mapfile)
        o.domain = intersect(o.domain, dm) if o.domain else dm
        if not o.domain:
            from station.media.base import Refused

            raise Refused(f"domain mapfile {a.domain_mapfile} has no finished blocks")
    return o


def cmd_image(a: argparse.Namespace, source=None, title: str | None = None) -> int:
    from station.cli.health import health_options
    from station.jobs.imaging import prepare
    from station.media.base import Refused

    if getattr(a, "imager", None):  # a hardware session: checked and handed off to the imager
        return cmd_image_imager(a)
    try:
        options = _options_from_args(a)
        if source is None and not os.path.exists(a.source):  # "demo", "sim:PRESET": as the TUI lists them
            from station.jobs.drives import open_virtual

            source = open_virtual(a.source)
            if source is not None and title is None:
                title = f"{a.source} (virtual drive) → {a.dest}"
        job = prepare(
            a.source, a.dest, a.mapfile, options=options, force=a.force,
            test_mode=getattr(a, "test_mode", None), source=source, health=health_options(a),
            image=_image_spec(a), files_first=getattr(a, "files_first", None),
        )  # fmt: skip
        if getattr(a, "relay", None):  # power-cycle recovery through a relay
            from station.jobs.power import recovery_from_args

            try:
                job.recover = recovery_from_args(a, job.source)
            except Refused:
                job.discard()
                raise
    except Refused as e:
        return fail(str(e))
    except ValueError as e:
        return fail(f"bad option: {e}")
    return run_with_view(job, a, title or f"{a.source} → {a.dest}")


def run_with_view(job, a: argparse.Namespace, title: str, report: Callable | None = None) -> int:
    """Run the job in a worker thread; the main thread handles signals and the display.

    `report(result)` prints the job's own last lines, also with --json (default: a rescue's
    figures and hashes, not with --json)."""
    from station.core.events import (
        Finished,
        ImageStats,
        Notice,
        Paused,
        PowerCycled,
        Progress,
        ReadHung,
        Resumed,
        StageStarted,
        TaskProgress,
    )
    from station.media.base import Refused
    from station.views.events import describe

    noted = (Notice, ReadHung, PowerCycled, StageStarted)  # shown under the panel (its last three)
    printed = (TaskProgress, Finished) if report is not None else (Progress, StageStarted, Finished)  # --json

    events: queue.SimpleQueue = queue.SimpleQueue()
    cancel = threading.Event()
    box: dict = {}

    def work() -> None:
        try:
            box["result"] = job.run(emit=events.put, cancel=cancel)
        except Refused as e:
            box["refused"] = str(e)
        except BaseException as e:  # reported below, never lost in the thread
            box["error"] = e
        finally:
            events.put(None)

    def on_signal(signum, frame) -> None:
        cancel.set()

    old = [signal.SIGINT, signal.SIGTERM]
    for s in old:
        signal.signal(s, on_signal)
    resuming = job.resume_note()
    if resuming and not a.json and not a.quiet:  # what this run goes on from, before its panel
        print(resuming, file=sys.stderr, flush=True)
    worker = threading.Thread(target=work, name="station-engine")
    worker.start()
    shown: dict = {"progress": None, "image": None, "task": None}
    notes: list[str] = []
    paused: list[str] | None = None  # the reasons while the job is held (SMART: a hot drive...)
    live = None
    if not a.json and not a.quiet and sys.stdout.isatty():
        from rich.live import Live

        from station.cli.progress import progress_panel

        def panel():
            return progress_panel(shown["progress"], title, notes, shown["image"], shown["task"], paused)

        live = Live(panel(), refresh_per_second=4, transient=False)
        live.start()
    try:
        while True:
            try:
                e = events.get(timeout=0.25)
            except queue.Empty:
                continue
            if e is None:
                break
            kind = {Progress: "progress", ImageStats: "image", TaskProgress: "task"}.get(type(e))
            if kind:
                shown[kind] = e
            elif isinstance(e, (*noted, Paused, Resumed)):
                if isinstance(e, Paused | Resumed):
                    paused = list(e.reasons) if isinstance(e, Paused) else None
                notes.append(describe(e) or "")
            if a.json and isinstance(e, printed):
                print(json.dumps(e.to_dict()), flush=True)
            if live is not None:
                live.update(panel())
    finally:
        worker.join()
        if live is not None:
            live.update(panel())
            live.stop()
        # The job is over and its map saved: a held or repeated Ctrl-C from here on must not turn
        # a clean stop into a death by signal while the summary prints and the process exits.
        # SIG_IGN, not a Python handler: the interpreter resets those to SIG_DFL as it shuts down.
        for s in old:
            signal.signal(s, signal.SIG_IGN)
    if "refused" in box:
        return fail(box["refused"])
    if "error" in box:
        raise box["error"]
    r = box["result"]
    if report is not None:  # its own, --json or not
        report(r)
    elif not a.json:
        _rescue_report(job, a.quiet)(r)
    return r.exit_status


def _rescue_report(job, quiet: bool) -> Callable:
    """The last lines of a rescue: its figures, then (unless quiet: one line) the image's hashes."""

    def report(r) -> None:
        from station.core.units import fmt_bytes, fmt_percent

        s = r.summary
        print(
            f"{r.outcome}: {r.reason}. rescued {fmt_bytes(s.rescued)} of {fmt_bytes(s.size)} "
            f"({fmt_percent(s.rescued, s.size)}), bad {fmt_bytes(s.bytes['-'])}, "
            f"{r.read_errors} read errors; map {job.map_path}",
            file=sys.stderr,
        )
        if quiet:
            return
        from station.views.images import hash_lines

        result = job.session.record.result if job.session is not None else None
        for line in hash_lines(result):
            print(line, file=sys.stderr)

    return report


def cmd_demo(a: argparse.Namespace) -> int:
    from pathlib import Path

    from station.core.session import data_home
    from station.sim.demo import demo_drive

    d = Path(a.dir) if a.dir else data_home() / "station" / "demo"
    d.mkdir(parents=True, exist_ok=True)
    dest = d / "demo.img"
    if a.fresh:
        for p in (dest, Path(str(dest) + ".map"), Path(str(dest) + ".map.bak")):
            p.unlink(missing_ok=True)
    from station.cli import build_parser

    args = build_parser().parse_args(["image", "demo", str(dest), "--save-interval", "5"])
    args.json = a.json
    print(f"Imaging the built-in demo drive into {dest} (Ctrl-C stops; rerun resumes)", file=sys.stderr)
    return cmd_image(args, source=demo_drive(), title="demo drive → " + str(dest))


# Options of the software engine that a hardware imager cannot honour: refused, not ignored.
_ENGINE_ONLY = {
    "test_mode": "-H/--test-mode",
    "domain_mapfile": "-m/--domain-mapfile",
    "files_first": "--files-first (the imager reads in its own order)",
    "input_position": "-i/--input-position",
    "size": "-s/--size",
    "reverse": "-R/--reverse",
    "retry_passes": "-r/--retry-passes",
    "direct": "-d/--direct",
    "relay": "--relay (the imager powers its own source)",
    "format": "--format (the imager writes its target drive as it is)",
    "hash": "--hash (the imager takes its own hashes)",
}


def cmd_image_imager(a: argparse.Namespace) -> int:
    """`station image --imager DRIVER:PORT SOURCE DEST [MAPFILE]`: a hardware session."""
    from station.jobs.handoff import prepare_handoff
    from station.media.base import Refused

    for name, flag in _ENGINE_ONLY.items():
        if getattr(a, name, None):
            return fail(f"{flag} does not apply to a hardware imager")
    try:
        save_interval = min(options_from_flags(vars(a)).save_interval, 5.0)
        job = prepare_handoff(a.imager, a.source, a.dest, a.mapfile, save_interval=save_interval)
    except Refused as e:
        return fail(str(e))
    d = job.description
    if not a.json and not a.quiet:
        print(
            f"Handing off to {d.vendor} {d.model} (firmware {d.firmware}) on {a.imager}; map {job.map_path}",
            file=sys.stderr,
        )
    return run_with_view(job, a, f"{a.imager} {job.source} → {job.dest}")
