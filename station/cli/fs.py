"""`station ls / extract / mount / affected / domain`: inside an image, through station.fs.

Paths inside an image name their partition first, as Linux and `station mount` do:
`/p1/docs/report.txt` is /docs/report.txt in partition 1 (p5 is the first logical partition of
an MBR disk); `--partition N` takes the path as inside partition N instead.  An image with no
partition table (a filesystem alone) takes paths as they are: `/docs/report.txt`.

The map: `--map MAPFILE`, else IMAGE.map beside the image if there is one, else none (every byte
counts as rescued); each command says which.  Every refusal is one line and exit status 2, before
anything is created.  Heavy imports (TSK, numpy, FUSE) stay inside the command functions.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from station.cli.common import fail, json_out
from station.media.base import Refused

if TYPE_CHECKING:
    from station.fs import Disk, Entry, Filesystem
    from station.fs.ranges import Areas
    from station.images.reader import ImageReader

PATHS = (
    "paths inside the image start with the partition, /p1/docs/a.txt (p5...: logical partitions); "
    "without a partition table, /docs/a.txt"
)
MAP_HELP = "the image's GNU ddrescue mapfile [IMAGE.map if it exists; else none: all counts as rescued]"


TEXTS = {  # command: (one line for `station --help`, the description for `station CMD --help`)
    "ls": (
        "partitions, then a directory inside an image, with the bytes not rescued",
        "The partition table (number, start, size, type, filesystem, label), then the directory at "
        "PATH (each filesystem's root without PATH), as ls -l: kind, size, time modified, bytes in "
        f"areas bad or not yet rescued, name. {PATHS}.",
    ),
    "extract": (
        "copy files and directories out of an image (times kept)",
        "Copy files and directories (with all they hold) into DIR, each by its name (a partition's "
        "root, /p1, as DIR/p1). Times are kept. A file with bytes not rescued is written whole, "
        "zeros there, and listed at the end. Exit 0 when every file is complete, 1 when some are "
        f"not, 2 for bad input (nothing written). {PATHS}.",
    ),
    "mount": (
        "serve an image read-only over FUSE: the disk and each partition as files",
        "Mount MOUNTPOINT with `disk` (the whole image) and p1, p2, p5... (each partition), "
        "read-only, for mount -o ro,loop, fls, photorec or a VM. Unrescued bytes read as zeros "
        "(--eio: fail with EIO, as the drive did). Runs until Ctrl-C or SIGTERM, then unmounts.",
    ),
    "affected": (
        "the files, directories and filesystem metadata hit by bytes not rescued",
        "Every file, directory and piece of filesystem metadata with allocated bytes in areas that "
        "are bad, non-tried, non-trimmed or non-scraped: most affected first, deleted files apart, "
        "then what could not be read.",
    ),
    "domain": (
        "a ddrescue domain mapfile: filesystem metadata, used blocks or chosen files",
        "Write a GNU ddrescue domain mapfile (finished where to read) for `station image -m "
        "DOMAIN` or `ddrescue -m DOMAIN`. From a partly rescued image, --metadata also covers where "
        "metadata starts (the first MiB of the disk and of each partition); run it again as the "
        "rescue goes on. Globs match paths inside each filesystem (`*` crosses /; without / the "
        "name alone); /p1/docs/* one partition only.",
    ),
}


def register(sub) -> None:
    ls = _command(sub, "ls", cmd_ls)
    ls.add_argument("path", nargs="?", help="a directory or file inside the image, /p1/docs")
    ls.add_argument("--partition", type=int, metavar="N", help="PATH is inside partition N")
    ls.add_argument("--json", action="store_true", help="one JSON object")

    ex = _command(sub, "extract", cmd_extract)
    ex.add_argument("paths", nargs="+", metavar="PATH")
    ex.add_argument("--to", required=True, metavar="DIR", help="a new or empty directory")
    ex.add_argument("--partition", type=int, metavar="N", help="the PATHs are inside partition N")

    mt = _command(sub, "mount", cmd_mount)
    mt.add_argument("mountpoint", help="an empty directory")
    mt.add_argument("--eio", action="store_true", help="reads that touch unrescued bytes fail (EIO)")
    mt.add_argument("--allow-other", action="store_true", help="let other users read the mount")
    mt.add_argument("--json", action="store_true", help="say what is served as one JSON line")

    af = _command(sub, "affected", cmd_affected, map_option=False)
    af.add_argument("mapfile", nargs="?", help=MAP_HELP)
    af.add_argument("--map", dest="map_option", metavar="MAPFILE", help="the same as MAPFILE")
    out = af.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help='one object: {"files": [...], "deleted": ...}')
    out.add_argument("--csv", action="store_true", help="one row per entry (notes on stderr)")

    dm = _command(sub, "domain", cmd_domain, image="source")
    what = dm.add_mutually_exclusive_group(required=True)
    what.add_argument("--metadata", action="store_true", help="partition tables, structures, directories")
    what.add_argument("--used", action="store_true", help="every allocated block (as partclone images)")
    what.add_argument("--files", nargs="+", metavar="GLOB", help="the chosen files (and all they hold)")
    dm.add_argument("-o", "--output", required=True, metavar="DOMAIN.map", help="the domain mapfile to write")
    dm.add_argument("--force", action="store_true", help="replace an existing DOMAIN.map")


def _command(
    sub, name: str, func, *, image: str = "image", map_option: bool = True
) -> argparse.ArgumentParser:
    """A subcommand taking an image first (IMAGE_OR_SOURCE for domain) and, mostly, --map."""
    summary, description = TEXTS[name]
    p = sub.add_parser(name, help=summary, description=description)
    if image == "source":
        p.add_argument("source", metavar="IMAGE_OR_SOURCE", help="an image (with its map), or the drive")
    else:
        p.add_argument("image", help="a raw image (or a drive)")
    if map_option:
        p.add_argument("--map", metavar="MAPFILE", help=MAP_HELP)
    p.set_defaults(func=func)
    return p


# -- refusals ---------------------------------------------------------------------------------------


def refusing(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Refusals, TSK's and the filesystem's errors, and any surprise become one line (exit 2)."""

    @functools.wraps(func)
    def run(a: argparse.Namespace) -> int:
        from station.fs import FsError

        try:
            return func(a)
        except BrokenPipeError:
            raise  # station.cli.main: the reader left
        except KeyboardInterrupt:
            print("station: interrupted", file=sys.stderr)
            return 1
        except (Refused, FsError, OSError, ValueError) as e:  # MapfileError is a ValueError
            return fail(_one_line(e))
        except Exception as e:  # a damaged structure we did not foresee: still one line
            return fail(f"{a.image if 'image' in a else a.source}: {type(e).__name__}: {_one_line(e)}")

    return run


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    return " ".join(str(e).split()) or type(e).__name__


# -- opening an image -------------------------------------------------------------------------------


def open_image(path: str, map_path: str | None) -> ImageReader:
    """The one place these commands open images: raw + map, or zst (sealed or still being written)."""
    from station.images.formats import open_image as open_any

    return open_any(path, map_path)


@dataclass
class Opened:
    image: str
    reader: ImageReader
    map_path: str | None
    map_note: str  # which map, and why: for the technician


def load(image: str, given_map: str | None) -> Opened:
    """Check the image and its map, choose the map, open the image; Refused says what is wrong."""
    stored = _check_image(image)
    if given_map:
        if not os.path.exists(given_map):
            raise Refused(f"{given_map}: no such mapfile")
        if os.path.isdir(given_map):
            raise Refused(f"{given_map}: is a directory, not a mapfile")
        map_path, note = given_map, f"map: {given_map}"
    elif os.path.isfile(image + ".map"):
        map_path, note = image + ".map", f"map: {image}.map (found beside the image; --map to use another)"
    else:
        map_path, note = None, f"no map (no --map, no {image}.map): every byte counts as rescued"
    reader = open_image(image, map_path)
    if map_path is None and reader.rescue_map is not None:
        note = "map: the one carried inside the image"
    try:
        _check_map(reader, map_path, image, stored)
    except Refused:
        reader.close()
        raise
    return Opened(image, reader, map_path, note)


def _check_map(reader: ImageReader, map_path: str | None, image: str, stored: int) -> None:
    """Refuse an empty map, or one that calls bytes rescued past a raw image's end."""
    from station.images.reader import RawImageReader
    from station.rescue.rescuemap import Status

    m = reader.rescue_map
    if m is None or map_path is None:
        return
    if m.size == 0:
        raise Refused(f"{map_path}: empty mapfile (it covers no bytes)")
    if isinstance(reader, RawImageReader):  # a zst image knows its own size
        past = [b for b in m.blocks(min(stored, m.size), m.size) if b.status == Status.FINISHED]
        if past:
            raise Refused(
                f"{map_path}: says bytes up to {past[-1].end} are rescued, but {image} holds "
                f"only {stored}: not this image's map?"
            )


def _check_image(path: str) -> int:
    """The image's size on disk (a drive's size); Refused for what cannot be an image."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise Refused(f"{path}: no such file") from None
    except OSError as e:
        raise Refused(f"{path}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise Refused(f"{path}: is a directory, not an image")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise Refused(f"{path}: not a file or a drive")
    if stat.S_ISREG(st.st_mode):
        if st.st_size == 0:
            raise Refused(f"{path}: empty file, not an image")
        return st.st_size
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise Refused(f"{path}: {e.strerror}") from None
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def open_disk(op: Opened, *, unread_ok: bool = False) -> Disk:
    """Partitions and filesystems; Refused when there is nothing to read (unless unread_ok and the
    image's first sectors are simply not rescued yet)."""
    from station.fs import open_disk as open_

    disk = open_(op.reader)
    if not disk.filesystems and disk.table.scheme == "none":
        if not op.reader.unrescued(0, min(65536, op.reader.size)):
            raise Refused(f"{op.image}: no partition table and no filesystem found: not a disk image?")
        if not unread_ok:
            raise Refused(
                f"{op.image}: its first sectors are not rescued yet, so nothing in it can be read "
                "(station domain --metadata says what to rescue first)"
            )
    return disk


# -- paths inside the image -------------------------------------------------------------------------

_PARTITION_PATH = re.compile(r"/p(\d+)(/.*)?\Z")


def locate(op: Opened, disk: Disk, path: str | None, partition: int | None) -> tuple[Filesystem, str]:
    """The filesystem and the path inside it that a command-line PATH names."""
    inner = "/" + (path or "").strip("/")
    if partition is not None:
        return _filesystem(op, disk, partition), inner
    if disk.table.scheme == "none":
        return _filesystem(op, disk, 0), inner
    m = _PARTITION_PATH.match(inner)
    if m is None:
        first = disk.table.partitions[0].number if disk.table.partitions else 1
        raise Refused(
            f"{path}: {op.image} has partitions ({_numbers(disk)}): start the path with one, "
            f"as /p{first}{inner.rstrip('/')}, or give --partition N"
        )
    return _filesystem(op, disk, int(m[1])), m[2] or "/"


def entry_at(op: Opened, disk: Disk, fs: Filesystem, inner: str) -> Entry:
    """The entry at a path inside fs; Refused naming the image and the path as the user wrote it."""
    from station.fs import FsError

    try:
        return fs.entry(inner)
    except FsError as e:
        msg = str(e)
        if msg.startswith("/"):
            msg = shown(disk, fs.partition.number, msg)
        raise Refused(f"{op.image}: {msg}") from None


def _numbers(disk: Disk) -> str:
    return ", ".join(f"p{p.number}" for p in disk.table.partitions) or "none"


def _filesystem(op: Opened, disk: Disk, number: int) -> Filesystem:
    for fs in disk.filesystems:
        if fs.partition.number == number:
            return fs
    if any(p.number == number for p in disk.table.partitions):
        why = [n for n in disk.notes if n.startswith(f"partition {number}:")]
        raise Refused(f"{op.image}: " + (why[0] if why else f"partition {number}: no filesystem recognised"))
    if number == 0:
        raise Refused(f"{op.image} has partitions ({_numbers(disk)}): --partition 0 names none of them")
    raise Refused(f"{op.image}: partition {number}: no such partition (it has {_numbers(disk)})")


def shown(disk: Disk, partition: int, inner: str) -> str:
    """A path as the commands take it: /p1/docs, or /docs on a disk without partitions."""
    if disk.table.scheme == "none" or partition == 0:
        return inner
    return f"/p{partition}" + ("" if inner == "/" else inner)


# -- text output ------------------------------------------------------------------------------------


def columns(header: list[str], rows: list[list[str]], right: set[int], indent: str = "") -> list[str]:
    """Rows aligned under a header, as ls -l aligns them (numbers right, the last column free)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for r in [header, *rows]:
        cells = [
            c.rjust(widths[i]) if i in right else (c if i == len(r) - 1 else c.ljust(widths[i]))
            for i, c in enumerate(r)
        ]
        out.append(indent + "  ".join(cells).rstrip())
    return out


def when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


KINDS = {"file": "file", "dir": "dir", "symlink": "link", "metadata": "meta", "other": "other"}


def print_notes(notes: list[str], file=None) -> None:
    if notes:
        print("notes:", file=file)
        for n in dict.fromkeys(notes):
            print(f"  {n}", file=file)


# -- station ls -------------------------------------------------------------------------------------


def partition_rows(disk: Disk, areas: Areas) -> list[dict]:
    from station.fs.ranges import total

    fs_of = {fs.partition.number: fs for fs in disk.filesystems}
    rows = []
    for p in disk.table.partitions:
        fs = fs_of.get(p.number)
        d = p.to_dict()
        d["filesystem"] = fs.type if fs else None
        d["label"] = fs.label if fs else None
        d["unrescued_bytes"] = total(areas.within(p.start, p.end))
        rows.append(d)
    return rows


def entry_row(disk: Disk, fs: Filesystem, e: Entry, areas: Areas) -> dict:
    from station.fs import SYMLINK
    from station.fs.affected import hit
    from station.fs.tsk import FsError

    h = hit(e, areas)
    row = {
        "name": e.name,
        "path": e.path,
        "shown": shown(disk, e.partition, e.path),
        "partition": e.partition,
        "kind": e.kind,
        "size": e.size,
        "inode": e.inode,
        "deleted": e.deleted,
        "mtime": e.mtime,
        "atime": e.atime,
        "ctime": e.ctime,
        "crtime": e.crtime,
        "allocated_bytes": e.allocated_bytes,
        "unrescued_bytes": h.affected_bytes if h else 0,
        "record_unrescued": bool(h and h.record),
    }
    if e.kind == SYMLINK:
        try:
            row["link"] = fs.link_target(e)
        except FsError:
            row["link"] = None
    return row


@refusing
def cmd_ls(a: argparse.Namespace) -> int:
    from station.fs import DIR
    from station.fs.ranges import unrescued_areas

    op = load(a.image, a.map)
    disk = open_disk(op)
    areas = unrescued_areas(op.reader.rescue_map)
    if a.path is None and a.partition is None:
        targets = [(fs, "/") for fs in disk.filesystems]
    else:
        targets = [locate(op, disk, a.path, a.partition)]
    listings = []
    for fs, inner in targets:
        top = entry_at(op, disk, fs, inner)
        entries = fs.list(top.path) if top.kind == DIR else [top]
        listings.append(
            {
                "path": shown(disk, fs.partition.number, top.path),
                "partition": fs.partition.number,
                "filesystem": fs.type,
                "kind": top.kind,
                "entries": [entry_row(disk, fs, e, areas) for e in entries],
            }
        )
    parts = partition_rows(disk, areas)
    notes = disk.all_notes()
    if a.json:
        doc = {
            "image": op.image,
            "map": op.map_path,
            "size": op.reader.size,
            "scheme": disk.table.scheme,
            "unrescued_bytes": areas.bytes,
            "partitions": parts,
            "listings": listings,
            "notes": notes,
        }
        return json_out(doc)
    from station.core.units import fmt_bytes

    print(op.map_note)
    scheme = {"mbr": "MBR", "gpt": "GPT", "none": "no partition table"}[disk.table.scheme]
    print(f"{op.image}: {op.reader.size} bytes ({fmt_bytes(op.reader.size)}), {scheme}, "
          f"{areas.bytes} bytes not rescued")  # fmt: skip
    rows = [
        [
            str(p["number"]),
            str(p["start"]),
            str(p["size"]),
            fmt_bytes(p["size"]),
            " ".join(x for x in (p["type"][:8], p["description"]) if x),
            p["filesystem"] or "-",
            str(p["unrescued_bytes"]),
            p["label"] or p["name"] or "",
        ]
        for p in parts
    ]
    head = ["#", "start", "bytes", "size", "type", "filesystem", "unrescued", "label"]
    for line in columns(head, rows, right={0, 1, 2, 3, 6}, indent="  "):
        print(line)
    marked = False
    for ls in listings:
        print(f"\n{ls['path']}:" if ls["kind"] == "dir" else "")
        rows = []
        for r in ls["entries"]:
            name = r["name"] if ls["kind"] == "dir" else r["shown"]
            if r.get("link") is not None:
                name += f" -> {r['link']}"
            if r["deleted"]:
                name += "  (deleted)"
            bad = str(r["unrescued_bytes"]) + ("!" if r["record_unrescued"] else "")
            marked |= r["record_unrescued"]
            rows.append([KINDS.get(r["kind"], r["kind"]), str(r["size"]), when(r["mtime"]), bad, name])
        if not rows:
            print("  (empty)")
            continue
        for line in columns(["kind", "size", "modified", "unrescued", "name"], rows, right={1, 3}):
            print(line)
    if marked:
        print("! its record (inode, MFT entry) is not rescued either")
    if notes:
        print()
    print_notes(notes)
    return 0


# -- station extract --------------------------------------------------------------------------------


@refusing
def cmd_extract(a: argparse.Namespace) -> int:
    from pathlib import Path

    from station.core.units import fmt_bytes
    from station.fs import DIR, FILE, SYMLINK, extract

    op = load(a.image, a.map)
    disk = open_disk(op)
    to = Path(a.to)
    chosen: list[tuple[Filesystem, str, Path, str]] = []  # fs, path inside, where it lands, as shown
    for p in a.paths:
        fs, inner = locate(op, disk, p, a.partition)
        e = entry_at(op, disk, fs, inner)
        name = shown(disk, fs.partition.number, e.path)
        if e.kind not in (FILE, DIR, SYMLINK):
            raise Refused(f"{name}: filesystem metadata ({e.kind}), not a file or directory")
        if e.path == "/":  # a partition's root lands in DIR/pN, a lone filesystem's in DIR
            dest = to / f"p{fs.partition.number}" if disk.table.scheme != "none" else to
        else:
            dest = to / e.name
        chosen.append((fs, e.path, dest, name))
    for i, (fs, inner, dest, name) in enumerate(chosen):
        for fs2, inner2, dest2, name2 in chosen[:i]:
            if fs is fs2 and (_under(inner, inner2) or _under(inner2, inner)):
                raise Refused(f"{name} and {name2}: one holds the other, give one of them")
            if dest == dest2 or to in (dest, dest2):
                raise Refused(f"{name2} and {name} would both be written to {dest}")
    if to.exists() or to.is_symlink():
        if not to.is_dir():
            raise Refused(f"{to}: exists and is not a directory")
        if any(to.iterdir()):
            raise Refused(f"{to}: not empty (extract into a new or empty directory)")
    to.mkdir(parents=True, exist_ok=True)

    incomplete: list[list[str]] = []
    notes: list[str] = []
    files = size = 0
    for fs, inner, dest, _ in chosen:
        report = extract(fs, ["/"], dest) if inner == "/" else extract(fs, [inner], dest.parent)
        notes += [f"partition {fs.partition.number} ({fs.type}): {n}" for n in report.notes]
        for i in report.items:
            files += i.kind == FILE
            size += i.size if i.kind == FILE else 0
            if not i.complete:
                incomplete.append([shown(disk, fs.partition.number, i.path), _missing(i)])
    dirs = sum(1 for d in to.rglob("*") if d.is_dir() and not d.is_symlink())
    print(op.map_note)
    print(f"extracted {files} files ({size} bytes, {fmt_bytes(size)}) and {dirs} directories "
          f"from {op.image} into {to}")  # fmt: skip
    if incomplete:
        print(f"{len(incomplete)} incomplete (zeros where the image has no data):")
        for line in columns(["", ""], incomplete, right=set(), indent="  ")[1:]:
            print(line)
    print_notes(notes)
    return 1 if incomplete else 0


def _under(path: str, top: str) -> bool:
    return path == top or top == "/" or path.startswith(top.rstrip("/") + "/")


def _missing(item) -> str:
    """What an incomplete extracted file lacks, in a few words."""
    if item.error:
        return f"not written whole: {item.error}"
    at = ", ".join(f"{lo}-{hi}" for lo, hi in item.missing[:3])
    more = f" and {len(item.missing) - 3} more ranges" if len(item.missing) > 3 else ""
    return f"{item.missing_bytes} of {item.size} bytes missing, at {at}{more}"


# -- station mount ----------------------------------------------------------------------------------


@refusing
def cmd_mount(a: argparse.Namespace) -> int:
    from station.fs.mount import ImageServer, MountError
    from station.media.fusekit import check_mount_target, serve_until_signal

    op = load(a.image, a.map)
    try:
        check_mount_target(a.mountpoint, error=MountError)
    except MountError as e:
        return fail(str(e))
    described = _describe_partitions(op)
    server = ImageServer(op.reader, a.mountpoint, eio=a.eio, allow_other=a.allow_other)

    def announce() -> None:
        files = dict(server.fs.files) if server.fs else {}
        if a.json:
            info = {
                "mountpoint": server.mountpoint,
                "files": list(files),
                "sizes": {name: size for name, (_, size) in files.items()},
                "image": op.image,
                "map": op.map_path,
                "eio": a.eio,
                "pid": os.getpid(),
            }
            print(json.dumps(info), flush=True)
            return
        print(op.map_note)
        how = "fail with EIO" if a.eio else "read as zeros"
        print(f"serving {op.image} read-only at {server.mountpoint} (unrescued bytes {how}):")
        rows = [[name, str(size), described.get(name, "")] for name, (_, size) in files.items()]
        for line in columns(["file", "bytes", ""], rows, right={1}, indent="  ")[1:]:
            print(line)
        part = next((n for n in files if n != "disk"), "disk")
        print(f"Ctrl-C stops; e.g. mount -o ro,loop {os.path.join(server.mountpoint, part)} /mnt", flush=True)

    try:
        status = serve_until_signal(server.start, server.stop, lambda: server.alive, announce)
    except MountError as e:
        print(f"station: {e}", file=sys.stderr)
        return 1
    print(f"stopped: {server.mountpoint} unmounted", file=sys.stderr)
    if server.alive:  # a reader still holds a file: exiting closes /dev/fuse (as sim serve does)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _describe_partitions(op: Opened) -> dict[str, str]:
    """What each served file holds: "the whole image", "ext4 'DATA' (0x83 Linux)"..."""
    from station.fs import open_disk as open_

    disk = open_(op.reader)
    fs_of = {fs.partition.number: fs for fs in disk.filesystems}
    out = {"disk": "the whole image"}
    for p in disk.table.partitions:
        fs = fs_of.get(p.number)
        what = (fs.type + (f" '{fs.label}'" if fs.label else "")) if fs else "no filesystem recognised"
        kind = " ".join(x for x in (p.type[:8], p.description) if x)
        out[f"p{p.number}"] = f"{what} ({kind})" if kind else what
    if 0 in fs_of:
        out["disk"] += f": {out.pop('p0')}"
    return out


# -- station affected -------------------------------------------------------------------------------


CSV_FIELDS = [
    "path", "partition", "kind", "size", "allocated_bytes", "affected_bytes", "record_affected",
    "deleted", "inode", "mtime", "ranges",
]  # fmt: skip


@refusing
def cmd_affected(a: argparse.Namespace) -> int:
    from station.fs import affected

    if a.mapfile and a.map_option and a.mapfile != a.map_option:
        raise Refused("two mapfiles given (MAPFILE and --map): give one")
    op = load(a.image, a.mapfile or a.map_option)
    disk = open_disk(op)
    report = affected(op.reader, disk=disk)
    if a.json:
        return json_out({"image": op.image, "map": op.map_path, **report.to_dict()})
    if a.csv:
        return _affected_csv(op, report)
    hits = sorted(report.files, key=_most_affected)
    print(op.map_note)
    in_entries = sum(h.affected_bytes for h in report.files)
    print(f"{op.image}: {report.unrescued_bytes} bytes not rescued; {len(report.files)} of "
          f"{report.entries_checked} entries hit ({in_entries} bytes in them)")  # fmt: skip
    if hits:
        print()
        _hit_table(disk, hits)
    elif report.unrescued_bytes:
        print("no file, directory or filesystem structure has a byte in the areas not rescued")
    if report.deleted:
        print("\ndeleted (still named in their directories; their blocks may have been reused):")
        _hit_table(disk, sorted(report.deleted, key=_most_affected))
    if report.notes:
        print()
    print_notes(report.notes)
    return 0


def _most_affected(h) -> tuple:
    return (-h.affected_bytes, not h.record, h.entry.partition, h.entry.path)


def _hit_table(disk: Disk, hits: list) -> None:
    rows = []
    for h in hits:
        e = h.entry
        extra = "  (record too)" if h.record and h.ranges else "  (record only)" if h.record else ""
        path = shown(disk, e.partition, e.path) + extra
        rows.append([str(h.affected_bytes), str(e.size), KINDS.get(e.kind, e.kind), path])
    for line in columns(["unrescued", "size", "kind", "path"], rows, right={0, 1}, indent="  "):
        print(line)


def _affected_csv(op: Opened, report) -> int:
    import csv

    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for h in report.files + report.deleted:
        d = h.to_dict()
        d["mtime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(d["mtime"])) if d["mtime"] else ""
        d["ranges"] = " ".join(f"{pos}:{size}" for pos, size in d["ranges"])
        d["record_affected"] = str(d["record_affected"]).lower()
        d["deleted"] = str(d["deleted"]).lower()
        w.writerow([d[k] for k in CSV_FIELDS])
    print(op.map_note, file=sys.stderr)
    print_notes(report.notes, file=sys.stderr)
    return 0


# -- station domain ---------------------------------------------------------------------------------


@refusing
def cmd_domain(a: argparse.Namespace) -> int:
    from station.core.units import fmt_bytes
    from station.fs import resolve, used_domain, write_domain

    op = load(a.source, a.map)
    _check_output(a.output, a.force, op)
    disk = open_disk(op, unread_ok=True)
    if a.used:
        notes: list[str] = []
        ranges = used_domain(disk, notes)
        notes = disk.all_notes() + notes
        what = "used blocks"
    else:
        res = resolve(op.reader, a.files, disk=disk, used=False)
        ranges, notes = (res.files, res.notes) if a.files else (res.metadata, res.notes)
        what = "files " + " ".join(a.files) if a.files else "metadata"
        if a.files and not ranges:
            unknown = [n for n in notes if "not (yet) rescued" in n or "no filesystem" in n]
            hint = f"; {len(unknown)} directories or partitions not readable yet (--metadata first)"
            hint = hint if unknown else ""
            raise Refused(f"nothing in {op.image} matches {' '.join(a.files)}{hint}")
    write_domain(a.output, ranges, op.reader.size)
    size = sum(hi - lo for lo, hi in ranges)
    n = f"{len(ranges)} range" + ("s" if len(ranges) != 1 else "")
    print(op.map_note)
    print(f"wrote {a.output}: {what}, {size} bytes ({fmt_bytes(size)}) in {n} of {op.reader.size}")
    print(f"use it: station image SOURCE IMAGE -m {a.output}, or ddrescue -m {a.output} SOURCE IMAGE MAPFILE")
    print_notes(notes)
    return 0


def _check_output(path: str, force: bool, op: Opened) -> None:
    """A domain mapfile may not replace the image or its map, nor anything without --force."""
    out = os.path.abspath(path)
    if os.path.isdir(out):
        raise Refused(f"{path}: is a directory")
    if not os.path.isdir(os.path.dirname(out)):
        raise Refused(f"{path}: no such directory {os.path.dirname(out)}")
    if os.path.exists(out):
        for mine in filter(None, (op.image, op.map_path)):
            if os.path.samefile(out, mine):
                raise Refused(f"{path}: is the {'image' if mine == op.image else 'image map'} itself")
        if not force:
            raise Refused(f"{path}: exists (--force replaces it)")
