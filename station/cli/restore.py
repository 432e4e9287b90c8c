"""`station restore`, `station clone` and `station verify TARGET --against IMAGE`: images back onto
drives, many at once, and the proof that a drive holds what its image holds.

Light at import: the jobs, rich and the filesystem reader are imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
import threading
from typing import Any

from station.cli.common import fail


def register(sub) -> None:
    rs = sub.add_parser("restore", help="write an image onto one or more drives or files at once, verified")
    rs.add_argument("image", help="a raw image (with IMAGE.map if there is one) or a zst image")
    rs.add_argument("targets", nargs="+", metavar="TARGET", help="drives or image files to write")
    rs.add_argument("--map", dest="image_map", metavar="MAPFILE", help="the image's rescue map [IMAGE.map]")
    rs.add_argument(
        "--fill",
        choices=["zero", "skip", "marker"],
        default="zero",
        help="areas never read: zeros, the target's own bytes, or a text naming each sector [zero]",
    )
    rs.add_argument(
        "--used-only",
        action="store_true",
        help="write only the filesystems' used blocks; the rest is zeroed the cheapest way the target allows",
    )
    rs.add_argument("--no-verify", action="store_true", help="do not read the targets back afterwards")
    rs.add_argument("-f", "--force", action="store_true", help="overwrite drives and existing files")
    rs.add_argument(
        "--stall-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="drop a target that takes longer than this over one write, sync or read [120]",
    )
    rs.add_argument(
        "--json", action="store_true", help="one JSON object per event on stdout, then the targets"
    )
    rs.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    rs.set_defaults(func=cmd_restore)

    from station.cli.image import _add_rescue_options

    cl = sub.add_parser(
        "clone", help="rescue a drive straight onto one or more drives (map in the session store)"
    )
    cl.add_argument("source")
    cl.add_argument("targets", nargs="+", metavar="TARGET")
    cl.add_argument(
        "--no-verify", action="store_true", help="do not read the targets back and compare them afterwards"
    )
    _add_rescue_options(cl)
    cl.set_defaults(func=cmd_clone)

    # `station verify IMAGE [--against SOURCE]` (station.cli.images, registered before this module)
    # also checks a restored target: `station verify TARGET --against IMAGE`.
    _join_verify(sub.choices["verify"])


# -- station restore ------------------------------------------------------------------------------


def cmd_restore(a: argparse.Namespace) -> int:
    from station.jobs.restore import RestoreSettings, prepare_restore
    from station.media.base import Refused

    settings = RestoreSettings(
        fill=a.fill, used_only=a.used_only, verify=not a.no_verify, force=a.force, stall_after=a.stall_timeout
    )
    if a.stall_timeout <= 0:
        return fail("--stall-timeout: give a number of seconds above 0")
    try:
        job = prepare_restore(a.image, a.targets, image_map=a.image_map, settings=settings)
    except Refused as e:
        return fail(str(e))
    title = f"{a.image} → {len(a.targets)} target{'s' if len(a.targets) > 1 else ''}"
    return _run(job, a, title)


def _run(job, a: argparse.Namespace, title: str) -> int:
    """The job in a worker thread; this thread keeps the display (or JSON lines) and the signals."""
    from station.core.events import Finished, Progress, TargetsProgress, TargetState
    from station.media.base import Refused

    events: queue.SimpleQueue = queue.SimpleQueue()
    cancel = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = job.run(emit=events.put, cancel=cancel)
        except BaseException as e:  # reported below, never lost in the thread
            outcome["error"] = e
        finally:
            events.put(None)

    handlers = {s: signal.signal(s, lambda *_: cancel.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    threading.Thread(target=work, name="station-restore").start()
    board = _Board(title)
    live = _live(board, a)
    shown = (Progress, TargetsProgress, TargetState, Finished)
    try:
        while (e := events.get()) is not None:
            board.take(e)
            if a.json and isinstance(e, shown):
                print(json.dumps(e.to_dict()), flush=True)
            if live is not None:
                live.update(board.render())
    finally:
        if live is not None:
            live.stop()
        for s in handlers:
            signal.signal(s, signal.SIG_IGN)  # the job is over: a late Ctrl-C must not kill the summary
    if "error" in outcome:
        if isinstance(outcome["error"], Refused):
            return fail(str(outcome["error"]))
        raise outcome["error"]
    r = outcome["result"]
    targets = job.session.record.targets or []
    if a.json:
        print(json.dumps({"kind": "targets", "targets": [t.to_dict() for t in targets]}), flush=True)
    else:
        _print_table(targets)
        print(f"{r.outcome}: {r.reason}", file=sys.stderr)
    return r.exit_status


def _live(board: _Board, a: argparse.Namespace):
    if a.json or getattr(a, "quiet", False) or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.live import Live

    live = Live(board.render(), console=Console(stderr=True), refresh_per_second=4, transient=True)
    live.start()
    return live


class _Board:
    """What the display shows: the overall progress, one row per target, the last notes."""

    def __init__(self, title: str) -> None:
        from station.views.targets import TargetBoard

        self.title = title
        self.progress = None
        self.targets = TargetBoard()
        self.notes: list[str] = []

    def take(self, e) -> None:
        from station.core.events import Progress
        from station.views.events import describe

        if isinstance(e, Progress):
            self.progress = e
        elif not self.targets.take(e):
            line = describe(e)
            if line:
                self.notes.append(line)

    def render(self):
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        from station.core.units import fmt_bytes, fmt_percent, fmt_rate

        t = Table(box=None, expand=True)
        for col in ("target", "state", "done", "rate"):
            t.add_column(col)
        for r in self.targets.ordered():
            style = "red" if r.bad else "green" if r.state == "verified" else ""
            done = f"{fmt_bytes(r.done)} of {fmt_bytes(r.total)} ({fmt_percent(r.done, r.total)})"
            t.add_row(r.target, Text(r.state, style=style), done, fmt_rate(r.rate))
        p = self.progress
        head = Text(f"{p.phase}: {fmt_bytes(p.pos)} of {fmt_bytes(p.size)}" if p else "starting…")
        return Panel(Group(head, t, *[Text(n, style="yellow") for n in self.notes[-3:]]), title=self.title)


def _print_table(targets) -> None:
    """Which target ended how, on stderr."""
    from station.core.units import fmt_bytes, fmt_duration
    from station.jobs.verify_target import check_words

    rows = [("target", "drive", "state", "written", "time", "check")]
    for t in targets:
        drive = " ".join(x for x in (t.model, t.serial) if x) or "-"
        state = t.state + (f": {t.error}" if t.error else "")
        secs = fmt_duration(t.seconds) if t.seconds is not None else "-"
        rows.append((t.path, drive, state, fmt_bytes(t.bytes_written or 0), secs, check_words(t.check)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[5], file=sys.stderr)
    for t in targets:
        for line in t.layout or []:
            print(f"{t.path}: {line}", file=sys.stderr)


# -- station clone ----------------------------------------------------------------------------------


def cmd_clone(a: argparse.Namespace) -> int:
    import os

    from station.cli.health import health_options
    from station.cli.image import _options_from_args, run_with_view
    from station.jobs.clone import prepare_clone
    from station.media.base import Refused

    source = None
    try:
        options = _options_from_args(a)
        if not os.path.exists(a.source):  # "demo", "sim:PRESET": as the workstation lists them
            from station.jobs.drives import open_virtual

            source = open_virtual(a.source)
        job = prepare_clone(
            a.source, a.targets, options=options, force=a.force, source=source, health=health_options(a),
            verify=not a.no_verify,
        )  # fmt: skip
    except Refused as e:
        return fail(str(e))
    except ValueError as e:
        return fail(f"bad option: {e}")
    if not a.json and not a.quiet:
        print(f"Cloning {a.source} onto {', '.join(a.targets)}; map {job.map_path}", file=sys.stderr)
    status = run_with_view(job, a, f"{a.source} → {' + '.join(a.targets)}")
    if job.session is not None and not a.json:
        _print_table(job.session.record.targets or [])
    return status


# -- station verify TARGET --against IMAGE --------------------------------------------------------------


def _join_verify(parser: argparse.ArgumentParser) -> None:
    """One `station verify`: its `--against` may name the image a target was restored from.

    The other command checks an image (IMAGE, with its map or a zst) against its recorded hashes
    or `--against SOURCE`, the drive it came from.  When the first name is no image of a rescue (no
    map beside it, not zst) and `--against` names an image, the question is a restored target's:
    it goes to `cmd_verify`, with `--fill` and `--used-only` as the target was restored.
    """
    theirs = parser.get_default("func")
    g = parser.add_argument_group("a restored target (station verify TARGET --against IMAGE)")
    g.add_argument("--fill", choices=["zero", "skip", "marker"], default="zero", help="as restored [zero]")
    g.add_argument("--used-only", action="store_true", help="as restored: only the used blocks are checked")

    def verify(a: argparse.Namespace) -> int:
        first = getattr(a, "image", None) or getattr(a, "target", None)
        against = getattr(a, "against", None)
        target_options = a.used_only or a.fill != "zero"  # only a restored target is checked so
        if first and against and (target_options or _restored_target(first, against)):
            b = argparse.Namespace(
                target=first, against=against, image_map=getattr(a, "map", None),
                fill=a.fill, used_only=a.used_only, json=getattr(a, "json", False),
            )  # fmt: skip
            return cmd_verify(b)
        return theirs(a)

    parser.set_defaults(func=verify)


def _restored_target(first: str, against: str) -> bool:
    """Whether `station verify FIRST --against AGAINST` asks about a target restored from an image:
    FIRST is no image of a rescue (no map beside it, not zst), and AGAINST is one, or FIRST is a
    drive and AGAINST an image file."""
    import os
    import stat

    from station.images.formats import image_format

    if os.path.exists(first + ".map") or image_format(first) == "zst":
        return False  # FIRST is an image of a rescue: checked against its source
    if image_format(against) == "zst" or os.path.exists(against + ".map"):
        return True
    try:
        return stat.S_ISBLK(os.stat(first).st_mode) and stat.S_ISREG(os.stat(against).st_mode)
    except OSError:
        return False


def cmd_verify(a: argparse.Namespace) -> int:
    from station.jobs.restore import verify_against_image
    from station.jobs.verify_target import check_words
    from station.media.base import Refused

    try:
        check = verify_against_image(
            a.target, a.against, image_map=a.image_map, fill=a.fill, used_only=a.used_only
        )
    except Refused as e:
        return fail(str(e))
    if a.json:
        print(json.dumps({"target": a.target, "image": a.against, **check.to_dict()}))
    else:
        print(f"{a.target}: {check_words(check)}")
        if check.actual:
            print(f"  {check.algorithm} {check.actual} (the image's: {check.expected})")
    return {"ok": 0, "mismatch": 1}.get(check.state, 1)
