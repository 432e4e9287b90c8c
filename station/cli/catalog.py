"""`station images / label / drive / catalog`: the catalog of every session and image of this station.

The catalog is brought level with the session store at each command (station.catalog.sync), so
what any terminal imaged is found at once.  Every refusal is one line and exit status 2, with
nothing changed.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from station.cli.common import fail, json_out

if TYPE_CHECKING:
    from station.catalog import ImageEntry

SINCE_HELP = "created on or after DATE: YYYY-MM-DD, YYYY-MM-DDTHH:MM (local time), or Nd (N days ago)"


COMMANDS = {  # name: (one line for `station --help`, the description for `station NAME --help`)
    "images": (
        "the images in the catalog: find them by text, drive, case or date",
        "Every image this station made, newest first, with its drive, case and label. Sessions already "
        "in the store are imported on first use; new ones as soon as they are saved.",
    ),
    "label": (
        "set an image's case number, customer, label, tags and note",
        "Label the image IMAGE_OR_SESSION names (an image path, or the id of a session that wrote or "
        "read it). Without options, print its labels. An empty value clears a field.",
    ),
    "drive": (
        "every session of a drive, by its serial number, oldest first",
        "Every session of the drive with serial SERIAL, oldest first: was it here before?",
    ),
    "catalog": (
        "where the catalog is and what it holds; `rebuild` recreates it from the session store",
        "Without an action: the catalog's place and counts. `rebuild`: forget everything and import the "
        "session store again (labels are kept with the sessions, so none is lost).",
    ),
}


def register(sub) -> None:
    im = _command(sub, "images", cmd_images, json_help="one JSON array, an object per image")
    im.add_argument(
        "--search", metavar="TEXT", help="every word somewhere: path, drive, case, customer, label, tag"
    )
    im.add_argument("--serial", metavar="S", help="images of the drive with this serial number")
    im.add_argument("--case", metavar="C", help="images of this case or ticket number")
    im.add_argument("--since", metavar="DATE", help=SINCE_HELP)

    lb = _command(sub, "label", cmd_label, json_help="print the image as `station images --json` does")
    lb.add_argument("target", metavar="IMAGE_OR_SESSION")
    lb.add_argument("--case", metavar="C", help="case or ticket number")
    lb.add_argument("--customer", metavar="NAME")
    lb.add_argument("--label", metavar="L", help="a short name for the image")
    lb.add_argument("--tag", metavar="T", action="append", default=[], help="add a tag (again for more)")
    lb.add_argument("--untag", metavar="T", action="append", default=[], help="remove a tag")
    lb.add_argument("--note", metavar="TEXT")

    dr = _command(sub, "drive", cmd_drive, json_help="one JSON array, an object per session")
    dr.add_argument("serial", metavar="SERIAL")

    ca = _command(sub, "catalog", cmd_catalog)
    ca.add_argument("action", nargs="?", choices=["info", "rebuild"], default="info")


def _command(
    sub, name: str, func: Callable[[argparse.Namespace], int], json_help: str | None = None
) -> argparse.ArgumentParser:
    summary, description = COMMANDS[name]
    p = sub.add_parser(name, help=summary, description=description)
    p.set_defaults(func=functools.partial(guarded, func))
    if json_help:
        p.add_argument("--json", action="store_true", help=json_help)
    return p


def guarded(func: Callable[[argparse.Namespace], int], a: argparse.Namespace) -> int:
    """Run a command; what the catalog, a lookup or the report refuse is one line, exit 2."""
    try:
        return func(a)
    except Exception as e:
        return refusal(e)


def refusal(e: Exception) -> int:
    """One line for what the catalog, a lookup or the report refused; anything else goes on."""
    import sqlite3

    from station.catalog import CatalogError
    from station.report.chromium import RenderError

    if isinstance(e, BrokenPipeError):
        raise e  # station.cli.main: the reader left
    if isinstance(e, CatalogError | LookupError | ValueError | RenderError):
        return fail(" ".join(str(e).split()))
    if isinstance(e, sqlite3.Error | OSError):
        return fail(f"catalog: {type(e).__name__}: {' '.join(str(e).split())}")
    raise e


def when(t: float | None) -> str:
    from station.catalog.entries import local_time

    return local_time(t)


# -- station images ---------------------------------------------------------------------------------


def cmd_images(a: argparse.Namespace) -> int:
    from station.catalog import Catalog, ImageQuery, parse_since

    since = parse_since(a.since) if a.since is not None else None
    query = ImageQuery(search=a.search, serial=a.serial, case=a.case, since=since)
    with Catalog.open() as cat:
        images = cat.images(query)
        total = cat.count_images() if not images else len(images)
    if a.json:
        return json_out([i.to_json() for i in images])
    if not images:
        print("no images yet: `station image SOURCE DEST` makes one" if not total else "no image matches")
        return 0
    print_images(images)
    return 0


def print_images(images: list[ImageEntry]) -> None:
    from station.cli.fs import columns
    from station.core.units import fmt_bytes

    rows = []
    for i in images:
        drive = " ".join(
            x for x in (i.source.model, f"s/n {i.source.serial}" if i.source.serial else "") if x
        )
        fmt = (i.format or "?") + (" (replaced)" if i.replaced else "")
        size = fmt_bytes(i.size) if i.size else "-"
        rows.append([when(i.created), i.case or "-", i.label or "-", drive or "-", size, fmt, i.path])
    for line in columns(["created", "case", "label", "drive", "size", "format", "path"], rows, right={4}):
        print(line)


# -- station label ----------------------------------------------------------------------------------


def cmd_label(a: argparse.Namespace) -> int:
    from station.catalog import Catalog, LabelEdit

    edit = LabelEdit(
        case=a.case, customer=a.customer, label=a.label, note=a.note,
        add_tags=tuple(a.tag), remove_tags=tuple(a.untag),
    )  # fmt: skip
    edit.check()  # before anything is opened or changed
    with Catalog.open() as cat:
        image = cat.resolve(a.target)
        if not edit.empty:
            image = cat.label(image, edit)
    if a.json:
        return json_out(image.to_json())
    print(f"{image.path}  (image {image.id}, {image.sessions} session{'s' if image.sessions != 1 else ''})")
    for name, value in (
        ("case", image.case), ("customer", image.customer), ("label", image.label),
        ("tags", " ".join(image.tags)), ("note", image.note),
    ):  # fmt: skip
        print(f"  {name + ':':<10}{value or '-'}")
    return 0


# -- station drive ----------------------------------------------------------------------------------


def cmd_drive(a: argparse.Namespace) -> int:
    from station.catalog import Catalog

    if not a.serial.strip():
        return fail("drive: give the drive's serial number")
    with Catalog.open() as cat:
        sessions = cat.drive_sessions(a.serial)
        paths = {s.image_id: img.path for s in sessions if s.image_id and (img := cat.image(s.image_id))}
    if a.json:
        return json_out([{**s.to_json(), "image_path": paths.get(s.image_id)} for s in sessions])
    if not sessions:
        print(f"drive {a.serial}: never seen here (no session of a drive with this serial)")
        return 0
    first = sessions[0]
    print(
        f"drive {first.source.serial}: {first.source.model or 'unknown model'}, {len(sessions)} session"
        f"{'s' if len(sessions) != 1 else ''}, first {when(first.started)}, last {when(sessions[-1].started)}"
    )
    for s in sessions:
        print("  " + s.line(paths.get(s.image_id)))
    return 0


# -- station catalog --------------------------------------------------------------------------------


def cmd_catalog(a: argparse.Namespace) -> int:
    from station.catalog import Catalog

    with Catalog.open(sync=a.action != "rebuild") as cat:
        if a.action == "rebuild":
            report = cat.rebuild()
            skipped = f" ({report.unreadable} unreadable records kept as such)" if report.unreadable else ""
            counts = f"{report.read} sessions, {cat.count_images()} images{skipped}"
            print(f"catalog rebuilt from {cat.store_root}: {counts}")
        else:
            sessions = cat.db.one("SELECT count(*) FROM sessions")
            print(f"catalog: {cat.where}")
            print(f"store:   {cat.store_root}")
            print(f"{sessions[0] if sessions else 0} sessions, {cat.count_images()} images")
    return 0
