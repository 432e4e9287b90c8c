"""`station seal`, `verify`, `convert` and `export`: images after the rescue.

Verification, conversion and export run as jobs (station.jobs.verify, station.jobs.convert) with
the same view as `station image` (a progress panel, Ctrl-C stops cleanly, --json lines), and
each is a session.  Exit status: 0 done (verify: the image matches), 1 stopped early or verify
found a difference (the byte ranges are named), 2 bad input (one line, nothing created).
"""

from __future__ import annotations

import argparse
import json
import sys

from station.cli.common import fail
from station.core.exits import EXIT_OK, EXIT_STOPPED


def register(sub) -> None:
    se = sub.add_parser("seal", help="seal a zst image's working file into a standard seekable zstd file")
    se.add_argument("image")
    se.add_argument("mapfile", nargs="?", help="the rescue's mapfile [IMAGE.map if it exists]")
    se.set_defaults(func=cmd_seal)

    ve = _image_command(sub, "verify", cmd_verify, "check an image against its recorded hashes or its source")
    ve.add_argument("--against", metavar="SOURCE", help="re-read SOURCE where the map says finished, compare")
    ve.add_argument("--hashes", metavar="FILE", help="a raw image's hashes file [IMAGE.hashes.json]")

    co = _image_command(sub, "convert", cmd_convert, "raw image + map to a sealed zst image, or zst to raw")
    co.add_argument("out", help="OUT.zst for a zst image, any other name for raw (its map: OUT.map)")
    co.add_argument("--out-map", help="where a raw output's mapfile goes [OUT.map]")
    co.add_argument("--to", choices=["raw", "zst"], help="the output's format [by OUT's extension]")
    co.add_argument("--hash", default="sha256", help="a zst output's hashes: sha256, md5, both [sha256]")

    ex = _image_command(sub, "export", cmd_export, "export an image to E01 (EnCase) through ewfacquirestream")
    ex.add_argument("out", help="OUT.E01 (further segments: OUT.E02...)")
    fields = (("--case", "case number"), ("--evidence", "evidence number"), ("--examiner", "examiner"),
              ("--description", "description"), ("--notes", "notes"))  # fmt: skip
    for flag, what in fields:
        ex.add_argument(flag, default="", help=f"the E01 header's {what}")


def _image_command(sub, name: str, func, what: str) -> argparse.ArgumentParser:
    """A command over one image: IMAGE, --map, and the job view's --json and -q."""
    p = sub.add_parser(name, help=what)
    p.add_argument("image")
    p.add_argument("--map", help="the image's mapfile [a sealed zst's own, else IMAGE.map if it exists]")
    p.add_argument("--json", action="store_true", help="progress and the result as JSON lines on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=func)
    return p


# -- seal ---------------------------------------------------------------------------------------------


def cmd_seal(a: argparse.Namespace) -> int:
    from station.core.units import fmt_bytes, fmt_percent
    from station.jobs.seal import seal_image, sealed_already
    from station.media.base import Refused

    try:
        meta = sealed_already(a.image) if a.mapfile is None else None
        if meta is not None:
            said = ", ".join(f"{k} {v}" for k, v in sorted(meta.get("hashes", {}).items()))
            print(f"{a.image} is sealed already" + (f": {said}" if said else ""))
            return EXIT_OK
        with _Bar("sealing", quiet=not sys.stderr.isatty()) as progress:
            r = seal_image(a.image, a.mapfile, command=sys.argv, progress=progress)
    except Refused as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"{a.image}: sealing failed: {e.strerror or e}; the working file is as it was")
    print(f"sealed {a.image}: {fmt_bytes(r.file_size)} ({fmt_percent(r.file_size, r.image_size)} of raw)")
    for algo, digest in sorted(r.hashes.items()):
        print(f"{algo} {digest}")
    return EXIT_OK


class _Bar:
    """A rich progress bar on stderr for a step that is not a job; its callback is (done, total)."""

    def __init__(self, what: str, quiet: bool) -> None:
        self.what, self.quiet = what, quiet
        self._progress = None

    def __enter__(self):
        if self.quiet:
            return None
        from rich.console import Console
        from rich.progress import Progress

        self._progress = Progress(console=Console(stderr=True), transient=True)
        self._progress.start()
        task = self._progress.add_task(self.what, total=None)
        progress = self._progress

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


# -- verify -------------------------------------------------------------------------------------------


def cmd_verify(a: argparse.Namespace) -> int:
    from station.cli.image import run_with_view
    from station.jobs.verify import prepare_verify
    from station.media.base import Refused

    try:
        job = prepare_verify(a.image, a.map, against=a.against, hashes_path=a.hashes, command=sys.argv)
    except Refused as e:
        return fail(str(e))
    title = f"verify {a.image} against " + (a.against or "its recorded hashes")
    status = run_with_view(job, a, title, report=lambda r: _verify_report(job, a.json))
    if status != EXIT_OK:
        return status
    return EXIT_OK if job.outcome == "match" else EXIT_STOPPED


def _verify_report(job, as_json: bool) -> None:
    """What the verification found: match, or the byte ranges that differ and why."""
    from station.core.units import fmt_bytes

    v = job.verification
    if v is None:
        print("verification stopped before its end", file=sys.stderr)
        return
    if as_json:
        print(json.dumps(v.to_dict()), flush=True)
        return
    if v.outcome == "match":
        said = "".join(f"; {k} {h}" for k, h in sorted(v.actual.items()))
        print(f"match: {fmt_bytes(v.checked)} checked{said}")
        return
    count = v.unknown.get("differing_count", len(v.differing))
    print(f"{v.outcome.upper()}: {count} byte range(s) differ" if v.differing else v.outcome.upper())
    for lo, hi in v.differing[:20]:
        print(f"  bytes {lo}-{hi} ({lo:#x}-{hi:#x}, {fmt_bytes(hi - lo)})")
    if count > 20:
        print(f"  ... and {count - 20} more")
    for lo, hi in v.unreadable[:20]:
        print(f"  source unreadable at bytes {lo}-{hi}")
    for line in v.problems[:5]:
        print(f"  {line}")
    if len(v.problems) > 5:
        print(f"  ... and {len(v.problems) - 5} more problems of that kind")
    for k in sorted(v.expected):
        print(f"  {k} recorded {v.expected[k]}, now {v.actual.get(k, '-')}")


# -- convert and export -------------------------------------------------------------------------------


def cmd_convert(a: argparse.Namespace) -> int:
    from station.images.hashing import hash_choice
    from station.jobs.convert import prepare_convert

    try:
        hashes = hash_choice(a.hash)
    except ValueError as e:
        return fail(f"--hash: {e}")
    return _run_conversion(a, lambda: prepare_convert(
        a.image, a.out, to=a.to, map_path=a.map, out_map=a.out_map, hashes=hashes, command=sys.argv,
    ), f"convert {a.image} → {a.out}")  # fmt: skip


def cmd_export(a: argparse.Namespace) -> int:
    from station.images.convert import CaseFields
    from station.jobs.convert import prepare_convert

    if not a.out.upper().endswith(".E01"):
        return fail(f"{a.out}: name the export OUT.E01")
    case = CaseFields(a.case, a.evidence, a.examiner, a.description, a.notes)
    return _run_conversion(
        a,
        lambda: prepare_convert(a.image, a.out, to="e01", map_path=a.map, case=case, command=sys.argv),
        f"export {a.image} → {a.out}",
    )


def _run_conversion(a: argparse.Namespace, prepare, title: str) -> int:
    from station.cli.image import run_with_view
    from station.media.base import Refused
    from station.views.images import hash_lines

    try:
        job = prepare()
    except Refused as e:
        return fail(str(e))

    def report(r) -> None:
        result = job.session.record.result if job.session is not None else None
        if a.json:
            print(json.dumps(result.to_dict() if result is not None else {}), flush=True)
            return
        print(f"{r.outcome}: {r.reason}", file=sys.stderr)
        for line in hash_lines(result):
            print(line)

    return run_with_view(job, a, title, report=report)
