"""`station bench MODEL`: compare imaging methods on fresh copies of one virtual failing drive."""

from __future__ import annotations

import argparse
import sys

from station.cli.common import fail


def register(sub) -> None:
    b = sub.add_parser("bench", help="compare imaging methods on a virtual failing drive")
    b.add_argument(
        "model", help="a preset name (station sim presets), a model .toml or a ddrescue test mapfile"
    )
    b.add_argument(
        "--methods",
        default=None,
        help="engine[:PROFILE][:zst],ddrescue[=PATH][:ARGS],dd[:BS],imager [engine,ddrescue,dd]",
    )
    b.add_argument("--out", default=None, help="directory for images, maps, bench.json and bench.png")
    b.add_argument("--full", action="store_true", help="run every method to its own end (not only to 100%%)")
    b.add_argument(
        "--max-sim-seconds", type=float, default=None, help="stop a method after this simulated time"
    )
    b.add_argument(
        "--max-wall-seconds", type=float, default=1800.0, help="stop a method after this real time"
    )
    b.add_argument(
        "--time-scale", type=float, default=0.0,
        help="the drive really sleeps this many seconds per simulated second (real-time runs) [0]",
    )  # fmt: skip
    b.add_argument("--no-keep", action="store_true", help="remove each image once it is checked")
    b.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    b.set_defaults(func=cmd_bench)


def cmd_bench(a: argparse.Namespace) -> int:
    from pathlib import Path

    from station.bench.methods import DEFAULT_METHODS, BenchError, parse_methods, run_bench, write_chart
    from station.sim.model import ModelError, load_model

    try:
        model = load_model(a.model)
        methods = parse_methods(a.methods or _default_methods(DEFAULT_METHODS))
    except (ModelError, BenchError) as e:
        return fail(str(e))
    if a.max_sim_seconds is not None and not a.max_sim_seconds > 0:
        return fail("--max-sim-seconds must be positive")
    if not (a.time_scale >= 0 and a.time_scale < float("inf")):
        return fail("--time-scale must be 0 or more")
    out = Path(a.out) if a.out else Path.cwd() / f"bench-{model.name}"
    if out.exists() and not out.is_dir():
        return fail(f"--out {out} is not a directory")
    bar = _ProgressBar(enabled=not a.json and sys.stderr.isatty())
    try:
        report = run_bench(
            a.model, methods, out, full=a.full, max_sim_seconds=a.max_sim_seconds,
            max_wall_seconds=a.max_wall_seconds, progress=bar.update, time_scale=a.time_scale,
            keep_images=not a.no_keep,
        )  # fmt: skip
    except BenchError as e:
        bar.close()
        return fail(str(e))
    bar.close()
    try:
        write_chart(report, out / "bench.png")
        chart = str(out / "bench.png")
    except ImportError:
        chart = "(no chart: matplotlib is not installed)"
    if a.json:
        import json

        print(json.dumps(report.to_dict() | {"chart": chart}, indent=2))
    else:
        print_table(report)
        print(f"\nresults: {out / 'bench.json'}   chart: {chart}")
    return 0 if all(r.correct is not False for r in report.results) else 1


def _default_methods(default: str) -> str:
    import shutil

    return ",".join(m for m in default.split(",") if m != "ddrescue" or shutil.which("ddrescue"))


def print_table(report) -> None:
    from rich.console import Console
    from rich.table import Table

    from station.core.units import fmt_bytes

    t = Table(
        title=f"{report.model}: {report.description}",
        caption="milestones: simulated time / read errors when that share of readable data was first read",
        title_justify="left",
        caption_justify="left",
    )
    t.add_column("method")
    for f in (0.9, 0.99, 0.999, 1.0):
        t.add_column(f"{f * 100:g}%", justify="right")
    t.add_column("rescued", justify="right")
    t.add_column("errors", justify="right")
    t.add_column("wall", justify="right")
    t.add_column("right")
    t.add_column("ended")
    for r in report.results:
        cells = []
        for f in (0.9, 0.99, 0.999, 1.0):
            m = r.milestone(f)
            cells.append(f"{m['seconds']:.0f}s/{m['read_errors']}" if m else "never")
        right = {True: "yes", False: "NO", None: "-"}[r.correct]
        t.add_row(
            r.method, *cells,
            f"{100 * r.rescued_bytes / max(1, report.readable_bytes):.2f}%",
            str(r.stats.get("read_errors", 0)), f"{r.wall_seconds:.1f}s", right, r.outcome,
        )  # fmt: skip
    console = Console() if sys.stdout.isatty() else Console(width=150)
    console.print(t)
    console.print(f"readable: {fmt_bytes(report.readable_bytes)} of {fmt_bytes(report.size)}")


class _ProgressBar:
    """One rich progress bar per method: rescued % of the readable bytes."""

    def __init__(self, enabled: bool) -> None:
        self.progress = None
        self.tasks: dict[str, int] = {}
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("{task.description:<24}"), BarColumn(), TextColumn("{task.percentage:>6.2f}%")
            )
            self.progress.start()

    def update(self, label: str, fraction: float) -> None:
        if self.progress is None:
            return
        if label not in self.tasks:
            self.tasks[label] = self.progress.add_task(label, total=100.0)
        self.progress.update(self.tasks[label], completed=100.0 * fraction)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
