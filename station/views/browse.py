"""An image's files for a browser: partitions, a tree, each entry's bytes not rescued, extraction.

`read_listing(image, map_path)` opens the image with its map (the mapfile is read first, then the
image: data is written before the map calls it rescued, so every byte the map calls rescued is
in the image, also while a rescue still writes both) and walks every filesystem once, through
its metadata only.  What comes back is plain data (`Listing`: `Node`s by the path the CLI takes,
`/p1/docs/a.txt`), so a view can draw it, and `station.views.isolated` can carry it out of the
child process that did the walking.  `extract_selection` copies chosen entries out.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from station.core.ranges import Range

if TYPE_CHECKING:
    from station.fs.disk import Disk

STRUCTURES = "$metadata"  # the folder a filesystem's structures are shown in


@dataclass(slots=True)
class Node:
    """One entry of the tree: a partition, a directory, a file, a piece of metadata."""

    path: str  # as the commands take it: /p1/docs/a.txt (/docs/a.txt on a disk without partitions)
    name: str
    kind: str  # file, dir, symlink, metadata, other; "partition" for a partition's root
    size: int
    partition: int
    inner: str  # the path inside its filesystem ("" for what is not in one)
    unrescued: int = 0  # bytes of its own extents not rescued
    record_unrescued: bool = False  # its inode / MFT record is not rescued
    deleted: bool = False
    mtime: float | None = None
    ranges: list[Range] = field(default_factory=list)  # its extents and record on the disk
    children: list[str] = field(default_factory=list)
    below: int = 0  # bytes not rescued of everything under it (its own included)
    note: str = ""  # a partition with no filesystem read, say why

    @property
    def hit(self) -> bool:
        """Whether anything of it (or under it) is not rescued."""
        return self.below > 0 or self.record_unrescued


@dataclass
class Listing:
    """What a browser shows of an image, as it stood when it was read."""

    image: str
    map_path: str | None
    size: int
    unrescued: int  # bytes of the whole image not rescued
    roots: list[str]
    nodes: dict[str, Node]
    notes: list[str]
    read_at: float  # time.time() of the reading
    map_saved: float | None  # the mapfile's mtime (a running rescue saves it every few seconds)

    def ranges_of(self, paths: list[str]) -> list[Range]:
        """The disk ranges of the entries and of everything under them (for "rescue these first")."""
        out: list[Range] = []
        seen: set[str] = set()
        todo = list(paths)
        while todo:
            p = todo.pop()
            if p in seen or p not in self.nodes:
                continue
            seen.add(p)
            n = self.nodes[p]
            out += n.ranges
            todo += n.children
        return sorted(out)

    def unrescued_of(self, paths: list[str]) -> int:
        """Bytes not rescued of the entries and everything under them (each counted once)."""
        tops = [p for p in paths if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in paths)]
        return sum(self.nodes[p].below for p in tops if p in self.nodes)


def shown(scheme: str, partition: int, inner: str) -> str:
    """A path as the commands take it (station.cli.fs): /p1/docs, or /docs without partitions."""
    if scheme == "none" or partition == 0:
        return inner
    return f"/p{partition}" + ("" if inner == "/" else inner)


def open_reader(image: str, map_path: str | None):
    """The image with its map: the given mapfile if it exists, else what open_image finds."""
    from station.images.formats import open_image

    return open_image(image, map_path if map_path and os.path.exists(map_path) else None)


def read_listing(image: str, map_path: str | None) -> Listing:
    """Walk every filesystem of the image (through metadata only) and say what is not rescued."""
    from station.fs.affected import hit
    from station.fs.disk import open_disk
    from station.fs.ranges import unrescued_areas

    saved = _mtime(map_path)
    reader = open_reader(image, map_path)
    try:
        disk = open_disk(reader)
        areas = unrescued_areas(reader.rescue_map)
        nodes: dict[str, Node] = {}
        roots: list[str] = []
        scheme = disk.table.scheme

        def add(e, path: str, parent: str | None, kind: str | None = None, name: str | None = None) -> Node:
            if path in nodes:  # a structure the tree lists too
                return nodes[path]
            h = hit(e, areas)
            n = Node(
                path, name or e.name, kind or e.kind, e.size, e.partition, e.path,
                unrescued=h.affected_bytes if h else 0, record_unrescued=bool(h and h.record),
                deleted=e.deleted, mtime=e.mtime, ranges=list(e.extents) + list(e.record),
            )  # fmt: skip
            nodes[path] = n
            if parent is not None:
                nodes[parent].children.append(path)
            return n

        for e in disk.table_entries():
            roots.append(add(e, e.path, None).path)
        _partitions(disk, nodes, roots, areas, add, scheme)
        for top in roots:
            _sum_below(nodes, top)
        for n in nodes.values():
            n.children.sort(key=lambda p: (nodes[p].kind not in ("dir", "partition"), nodes[p].name.lower()))
        return Listing(
            image, map_path, reader.size, areas.bytes, roots, nodes, disk.all_notes(), time.time(), saved
        )
    finally:
        reader.close()


def _partitions(disk: Disk, nodes, roots, areas, add, scheme: str) -> None:
    """A node per partition (its filesystem's tree under it, structures in $metadata)."""
    from station.fs.entry import METADATA

    fs_of = {fs.partition.number: fs for fs in disk.filesystems}
    numbers = [p.number for p in disk.table.partitions] or ([0] if 0 in fs_of else [])
    for number in numbers:
        fs = fs_of.get(number)
        top = shown(scheme, number, "/")
        part = next((p for p in disk.table.partitions if p.number == number), None)
        if fs is None:
            size = part.size if part is not None else 0
            where = f"partition {number}:" if number else "whole disk:"
            why = next((n for n in disk.notes if n.startswith(where)), "no filesystem read")
            lost = areas.within(part.start, part.end) if part is not None else []
            name = f"p{number}" if number else "whole disk"
            nodes[top] = Node(top, name, "partition", size, number, "", sum(b - a for a, b in lost),
                              note=why.split(": ", 1)[-1])  # fmt: skip
            roots.append(top)
            continue
        label = f" {fs.label}" if fs.label else ""
        name = (f"p{number} " if number else "") + f"{fs.type}{label}"
        walked = fs.walk()
        root = next(walked, None)
        if root is None:
            continue
        add(root, top, None, kind="partition", name=name)
        roots.append(top)
        meta = shown(scheme, number, "/" + STRUCTURES)
        nodes[meta] = Node(meta, STRUCTURES, "dir", 0, number, "")
        nodes[top].children.append(meta)
        for s in fs.structures():
            add(s, shown(scheme, number, s.path), meta)
        for e in walked:
            path = shown(scheme, number, e.path)
            parent = path.rsplit("/", 1)[0] or "/"
            if parent not in nodes:
                parent = top
            add(e, path, meta if e.kind == METADATA and parent == top else parent)


def _sum_below(nodes: dict[str, Node], top: str) -> int:
    """Each node's `below`: its own bytes not rescued and its children's (iteratively: deep trees)."""
    order: list[str] = []
    todo = [top]
    while todo:
        p = todo.pop()
        order.append(p)
        todo += nodes[p].children
    for p in reversed(order):
        n = nodes[p]
        n.below = n.unrescued + sum(nodes[c].below for c in n.children)
    return nodes[top].below


def _mtime(path: str | None) -> float | None:
    try:
        return os.stat(path).st_mtime if path else None
    except OSError:
        return None


@dataclass
class Extraction:
    """What extracting a selection did."""

    dest: str
    files: int = 0
    incomplete: list[tuple[str, int]] = field(default_factory=list)  # path, bytes missing
    errors: list[str] = field(default_factory=list)


def extract_selection(image: str, map_path: str | None, paths: list[str], dest: str) -> Extraction:
    """Copy the entries at `paths` (as a Listing names them) into dest, each under its partition
    and its folders (dest/p1/docs/a.txt), times kept; files with bytes not rescued are still
    written (zeros there) and listed as incomplete."""
    from station.fs.disk import open_disk
    from station.fs.extract import extract

    reader = open_reader(image, map_path)
    out = Extraction(dest)
    try:
        disk = open_disk(reader)
        scheme = disk.table.scheme
        fs_of = {fs.partition.number: fs for fs in disk.filesystems}
        for path in paths:
            number, inner = _split(scheme, path)
            fs = fs_of.get(number)
            if fs is None or inner.split("/")[1:2] == [STRUCTURES]:
                out.errors.append(f"{path}: not a file or folder of a filesystem")
                continue
            where = Path(dest) / (f"p{number}" if scheme != "none" else "")
            folders = inner.strip("/").rpartition("/")[0]  # the folders it is in, kept
            report = extract(fs, [inner], where / folders if folders else where)
            for item in report.items:
                if item.error:
                    out.errors.append(f"{shown(scheme, number, item.path)}: {item.error}")
                elif item.kind == "file":
                    out.files += 1
                    if item.missing_bytes:
                        out.incomplete.append((shown(scheme, number, item.path), item.missing_bytes))
    finally:
        reader.close()
    return out


def _split(scheme: str, path: str) -> tuple[int, str]:
    """(partition, path inside it) of a path as a Listing names it."""
    if scheme == "none":
        return 0, path
    head, _, rest = path.lstrip("/").partition("/")
    return int(head[1:]), "/" + rest
