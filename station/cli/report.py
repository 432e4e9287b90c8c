"""`station report IMAGE_OR_SESSION`: the report of an image, for the customer and the lab."""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path

from station.cli.catalog import guarded
from station.cli.common import fail


def register(sub) -> None:
    rp = sub.add_parser(
        "report",
        help="the report of an image: case, drive, health, work, map, bad areas, hashes, files hit",
        description="Write the report of the image IMAGE_OR_SESSION names (an image path or a session id): "
        "self-contained HTML (--html), the same facts as JSON (--json), a PDF through headless Chromium "
        "(--pdf). Without any of them, the HTML goes to the station's reports folder; its path is printed.",
    )
    rp.add_argument("target", metavar="IMAGE_OR_SESSION")
    rp.add_argument("--html", metavar="OUT", type=Path, help="write the report as one HTML file")
    rp.add_argument("--json", metavar="OUT", type=Path, help="write the report's facts as JSON")
    rp.add_argument("--pdf", metavar="OUT", type=Path, help="print the report to PDF (needs chromium)")
    rp.add_argument(
        "--no-files",
        action="store_true",
        help="do not look for the files hit (a slow walk of big filesystems)",
    )
    rp.set_defaults(func=functools.partial(guarded, cmd_report))


def _check_out(path: Path | None, what: str) -> str | None:
    """Why this output path cannot be written (None: it can)."""
    if path is None:
        return None
    if path.is_dir():
        return f"--{what} {path}: is a directory"
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f"--{what} {path}: no such directory {parent}"
    if not os.access(parent, os.W_OK):
        return f"--{what} {path}: cannot write in {parent}"
    return None


def cmd_report(a: argparse.Namespace) -> int:
    from station.catalog import Catalog
    from station.report import build_report, default_report_path, write_report

    outs = {"html": a.html, "json": a.json, "pdf": a.pdf}
    for what, path in outs.items():
        why = _check_out(path, what)
        if why:
            return fail(why)
    if len({p.resolve() for p in outs.values() if p is not None}) < sum(p is not None for p in outs.values()):
        return fail("give each of --html, --json and --pdf its own file")
    with Catalog.open() as cat:
        image = cat.resolve(a.target)
        report = build_report(cat, image, files=not a.no_files)
    html = a.html
    if html is None and a.json is None and a.pdf is None:
        html = default_report_path(image.id)
        html.parent.mkdir(parents=True, exist_ok=True)
    written = write_report(report, html=html, json=a.json, pdf=a.pdf)
    for path in written:
        print(path)
    return 0
