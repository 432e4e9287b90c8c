"""Real filesystem images for the station.fs tests, made with the filesystems' own tools.

ext2/3/4 with `mkfs.ext* -d`, FAT with `mkfs.vfat` + `mcopy`, NTFS with `mkntfs` and a ntfs-3g
mount, exFAT with `mkfs.exfat` and an exfat-fuse mount, partition tables with `sfdisk` and
`sgdisk`.  Debian has no mkfs for HFS+ (hfsprogs is non-free), so `make_hfsplus` writes a small
HFS+ volume itself, following Apple's TN1150; the tests check it with TSK's `fls`/`istat`.

Every file's content is derived from its path (`content(path, size)`), so a test knows what
every byte should be.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

KiB, MiB = 1024, 1024 * 1024


def content(path: str, size: int) -> bytes:
    """Deterministic bytes for a file: SHA-256 blocks of its path and the block number."""
    out = bytearray()
    i = 0
    seed = path.encode()
    while len(out) < size:
        out += hashlib.sha256(seed + i.to_bytes(8, "little")).digest()
        i += 1
    return bytes(out[:size])


def have(*tools: str) -> bool:
    return all(shutil.which(t) for t in tools)


def run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120, **kw)


def populate(root: Path, files: dict[str, int]) -> None:
    """Write files {"/dir/name": size} with their content under root (directories as needed)."""
    for path, size in files.items():
        p = root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content(path, size))
        os.utime(p, (1_600_000_000, 1_600_000_000 + len(path)))


def make_ext(
    image: Path, size: int, files: dict[str, int], kind: str = "ext4", block_size: int = 1024
) -> None:
    with tempfile.TemporaryDirectory() as d:
        populate(Path(d), files)
        image.unlink(missing_ok=True)
        with open(image, "wb") as f:
            f.truncate(size)
        run(f"mkfs.{kind}", "-q", "-F", "-b", str(block_size), "-E", "root_owner=0:0", "-d", d, str(image))


def make_fat(image: Path, size: int, files: dict[str, int], bits: int = 16) -> None:
    image.unlink(missing_ok=True)
    with open(image, "wb") as f:
        f.truncate(size)
    extra = ["-s", "1", "-S", "512"] if bits == 32 else []
    run("mkfs.vfat", "-F", str(bits), *extra, str(image))
    with tempfile.TemporaryDirectory() as d:
        populate(Path(d), files)
        tops = sorted({p.lstrip("/").split("/")[0] for p in files})
        run("mcopy", "-s", "-m", "-i", str(image), *[os.path.join(d, t) for t in tops], "::/")


@contextlib.contextmanager
def _fuse_mounted(cmd: list[str], mnt: Path) -> Iterator[Path]:
    run(*cmd)
    try:
        yield mnt
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)


def _copy_in(mnt: Path, files: dict[str, int]) -> None:
    populate(mnt, files)
    os.sync()


def make_ntfs(image: Path, size: int, files: dict[str, int], fragment: str | None = None) -> None:
    """NTFS through ntfs-3g.  fragment: a file to write interleaved with a filler (several runs)."""
    image.unlink(missing_ok=True)
    with open(image, "wb") as f:
        f.truncate(size)
    run("mkntfs", "-q", "-F", "-f", "-c", "4096", str(image))
    with tempfile.TemporaryDirectory() as mnt, _fuse_mounted(["ntfs-3g", str(image), mnt], Path(mnt)):
        _copy_in(Path(mnt), files)
        if fragment:
            _fragmented(Path(mnt), fragment)


def _fragmented(mnt: Path, path: str, pieces: int = 6, piece: int = 8192) -> None:
    """Write a file in pieces with a filler file growing between them: several extents."""
    target = mnt / path.lstrip("/")
    data = content(path, pieces * piece)
    with open(target, "wb") as t, open(mnt / "filler.bin", "wb") as filler:
        for i in range(pieces):
            t.write(data[i * piece : (i + 1) * piece])
            t.flush()
            os.fsync(t.fileno())
            filler.write(content("/filler.bin", piece)[:piece])
            filler.flush()
            os.fsync(filler.fileno())


def make_exfat(image: Path, size: int, files: dict[str, int]) -> None:
    image.unlink(missing_ok=True)
    with open(image, "wb") as f:
        f.truncate(size)
    run("mkfs.exfat", "-c", "4K", str(image))
    loop = run("losetup", "--find", "--show", str(image)).stdout.strip()
    try:
        with tempfile.TemporaryDirectory() as mnt, _fuse_mounted(["mount.exfat-fuse", loop, mnt], Path(mnt)):
            _copy_in(Path(mnt), files)
    finally:
        run("losetup", "--detach", loop)


# -- partition tables --------------------------------------------------------------------------


def make_disk(image: Path, size: int, scheme: str, parts: list[tuple[int, Path | None, str]]) -> list[int]:
    """A disk image with a partition table; parts: (size, filesystem image or None, type).

    scheme "mbr": the first two are primary, the rest logical in an extended partition; types
    are MBR hex codes ("83").  scheme "gpt": sgdisk type codes ("8300").  Returns each
    partition's start in bytes, in the order given.
    """
    image.unlink(missing_ok=True)
    with open(image, "wb") as f:
        f.truncate(size)
    starts = []
    pos = MiB
    if scheme == "gpt":
        args = ["sgdisk", "-o"]
        for i, (psize, _, ptype) in enumerate(parts, 1):
            args += [f"-n{i}:{pos // 512}:{(pos + psize) // 512 - 1}", f"-t{i}:{ptype}"]
            starts.append(pos)
            pos += psize
        run(*args, str(image))
    else:
        lines = ["label: dos"]
        for i, (psize, _, ptype) in enumerate(parts):
            if i == 2:
                rest = sum(p[0] + MiB for p in parts[2:])
                lines.append(f"start={pos // 512}, size={rest // 512}, type=5")
            if i >= 2:
                pos += MiB  # room for the EBR
            lines.append(f"start={pos // 512}, size={psize // 512}, type={ptype}")
            starts.append(pos)
            pos += psize
        run("sfdisk", "-q", str(image), input="\n".join(lines) + "\n")
    with open(image, "r+b") as out:
        for (_, fs_image, _), start in zip(parts, starts, strict=True):
            if fs_image is not None:
                assert fs_image.stat().st_size <= parts[starts.index(start)][0], f"{fs_image} too big"
                out.seek(start)
                with open(fs_image, "rb") as src:
                    shutil.copyfileobj(src, out, 1 * MiB)
    return starts


# -- HFS+ (TN1150), written here since Debian has no mkfs.hfsplus ------------------------------

_HFS_EPOCH = 2082844800
_NODE = 4096
_BS = 4096


def _uni(name: str) -> bytes:
    u = name.encode("utf-16-be")
    return struct.pack(">H", len(u) // 2) + u


def _key(parent: int, name: str) -> bytes:
    body = struct.pack(">I", parent) + _uni(name)
    return struct.pack(">H", len(body)) + body


def _fork(size: int, extents: list[tuple[int, int]]) -> bytes:
    blocks = sum(n for _, n in extents)
    ext = b"".join(struct.pack(">II", s, n) for s, n in extents).ljust(64, b"\0")
    return struct.pack(">QII", size, 0, blocks) + ext


def _bsd(mode: int) -> bytes:
    return struct.pack(">IIBBHI", 0, 0, 0, 0, mode, 0)


def _node(kind: int, height: int, records: list[bytes]) -> bytes:
    node = bytearray(_NODE)
    struct.pack_into(">IIbBHH", node, 0, 0, 0, kind, height, len(records), 0)
    pos = 14
    offsets = []
    for r in records:
        offsets.append(pos)
        node[pos : pos + len(r)] = r
        pos += len(r)
    offsets.append(pos)
    assert pos + 2 * len(offsets) <= _NODE, "catalog leaf node full"
    for i, off in enumerate(offsets):
        struct.pack_into(">H", node, _NODE - 2 * (i + 1), off)
    return bytes(node)


def _header_node(
    total: int, used: int, depth: int, leaf_records: int, max_key: int, attrs: int, cmp: int
) -> bytes:
    leaf = 1 if depth else 0
    hdr = struct.pack(
        ">HIIIIHHIIHIBBI64s",
        depth,
        leaf,
        leaf_records,
        leaf,
        leaf,
        _NODE,
        max_key,
        total,
        total - used,
        0,
        _NODE,
        0,
        cmp,
        attrs,
        b"",
    )
    bitmap = bytearray(_NODE - 256)
    for i in range(used):
        bitmap[i // 8] |= 0x80 >> (i % 8)
    return _node(1, 0, [hdr, bytes(128), bytes(bitmap)])


def make_hfsplus(
    image: Path, size: int, files: dict[str, int], fragment: str | None = None
) -> dict[str, int]:
    """An HFS+ volume (4 KiB blocks, one catalog leaf) holding files; returns path -> CNID.

    Data is allocated contiguously from block 16, except `fragment`, which gets two extents
    with a free block between them.
    """
    total_blocks = size // _BS
    now = int(time.time()) + _HFS_EPOCH
    dirs: dict[str, int] = {"/": 2}
    cnid = 16
    for p in sorted(files):
        parts = p.strip("/").split("/")[:-1]
        for i in range(len(parts)):
            d = "/" + "/".join(parts[: i + 1])
            if d not in dirs:
                dirs[d] = cnid
                cnid += 1
    ids: dict[str, int] = dict(dirs)
    next_block = 16
    layout: dict[str, list[tuple[int, int]]] = {}
    for p in sorted(files):
        ids[p] = cnid
        cnid += 1
        blocks = -(-files[p] // _BS)
        if p == fragment and blocks >= 2:
            a = blocks // 2
            layout[p] = [(next_block, a), (next_block + a + 1, blocks - a)]
            next_block += blocks + 1
        else:
            layout[p] = [(next_block, blocks)] if blocks else []
            next_block += blocks
    assert next_block < total_blocks - 1
    records: list[tuple[tuple[int, str], bytes]] = []

    def parent_of(p: str) -> tuple[int, str]:
        head, name = p.rsplit("/", 1)
        return dirs[head or "/"], name

    vol_name = "station"
    children = {d: 0 for d in dirs}
    for p in list(files) + [d for d in dirs if d != "/"]:
        head = p.rsplit("/", 1)[0] or "/"
        children[head] += 1
    for d, fid in dirs.items():
        parent, name = (1, vol_name) if d == "/" else parent_of(d)
        folder = struct.pack(">hHII5I", 1, 0, children[d], fid, now, now, now, now, 0)
        folder += _bsd(0o40755) + bytes(32) + struct.pack(">II", 0, 0)
        records.append(((parent, name.lower()), _key(parent, name) + folder))
        thread = struct.pack(">hhI", 3, 0, parent) + _uni(name)
        records.append(((fid, ""), _key(fid, "") + thread))
    for p in files:
        parent, name = parent_of(p)
        mtime = 1_600_000_000 + len(p) + _HFS_EPOCH
        rec = struct.pack(">hHII5I", 2, 0x2, 0, ids[p], now, mtime, mtime, mtime, 0)
        rec += _bsd(0o100644) + bytes(32) + struct.pack(">II", 0, 0)
        rec += _fork(files[p], layout[p]) + _fork(0, [])
        records.append(((parent, name.lower()), _key(parent, name) + rec))
        thread = struct.pack(">hhI", 4, 0, parent) + _uni(name)
        records.append(((ids[p], ""), _key(ids[p], "") + thread))
    records.sort(key=lambda r: r[0])
    # Blocks: 0 boot + volume header, 1 allocation file, 2 extents tree, 3-4 catalog (2 nodes)
    cat_nodes = 2
    catalog = _header_node(cat_nodes, 2, 1, len(records), 516, 6, 0xCF)
    catalog += _node(-1, 1, [r for _, r in records])
    extents = _header_node(1, 1, 0, 0, 10, 2, 0)
    used = [(0, 5)] + [e for ex in layout.values() for e in ex] + [(total_blocks - 1, 1)]
    bitmap = bytearray(_BS)
    nused = 0
    for s, n in used:
        for b in range(s, s + n):
            bitmap[b // 8] |= 0x80 >> (b % 8)
            nused += 1
    counts = (len(files), len(dirs) - 1, _BS, total_blocks, total_blocks - nused, next_block)
    vh = struct.pack(
        ">2sH17IQ32s",
        b"H+",
        4,
        1 << 8,
        0x31302E30,
        0,
        now,
        now,
        0,
        now,
        *counts,
        65536,
        65536,
        cnid,
        1,
        1,
        b"",
    )
    vh += _fork(_BS, [(1, 1)]) + _fork(_NODE, [(2, 1)]) + _fork(cat_nodes * _NODE, [(3, cat_nodes)])
    vh += _fork(0, []) + _fork(0, [])
    assert len(vh) == 512
    image.unlink(missing_ok=True)
    with open(image, "wb") as f:
        f.truncate(size)
        f.seek(1024)
        f.write(vh)
        f.seek(_BS)
        f.write(bitmap)
        f.seek(2 * _BS)
        f.write(extents)
        f.seek(3 * _BS)
        f.write(catalog)
        for p, ex in layout.items():
            data = content(p, files[p])
            for s, n in ex:
                f.seek(s * _BS)
                f.write(data[: n * _BS])
                data = data[n * _BS :]
        f.seek(total_blocks * _BS - 1024)
        f.write(vh)
    return ids


# -- the truth, from tools other than the library under test ----------------------------------


_DEBUGFS_RUN = re.compile(r"\(([^)]*)\):(\d+)(?:-(\d+))?")


def ext_truth(image: Path, path: str, block_size: int, offset: int = 0) -> list[tuple[int, int]]:
    """A file's blocks (data, extent-tree and indirect blocks) as byte ranges, from debugfs."""
    out = run("debugfs", "-R", f"stat {path}", str(image)).stdout
    ranges = []
    for _, a, b in _DEBUGFS_RUN.findall(out.split("EXTENTS:")[-1].split("BLOCKS:")[-1]):
        lo, hi = int(a), int(b or a) + 1
        ranges.append((offset + lo * block_size, offset + hi * block_size))
    return ranges


def ext_inode_place(image: Path, path: str, inode_size: int = 256, offset: int = 0) -> tuple[int, int]:
    """Where a file's inode lies (debugfs imap)."""
    out = run("debugfs", "-R", f"imap {path}", str(image)).stdout
    m = re.search(r"located at block (\d+), offset (0x[0-9a-f]+)", out)
    assert m, out
    bs = int(re.search(r"Block size:\s+(\d+)", run("dumpe2fs", "-h", str(image)).stdout).group(1))
    pos = offset + int(m.group(1)) * bs + int(m.group(2), 16)
    return pos, pos + inode_size


def fat_truth(image: Path, path: str, offset: int = 0) -> list[tuple[int, int]]:
    """A FAT file's clusters as byte ranges, from mtools' mshowfat and the boot sector."""
    with open(image, "rb") as f:
        f.seek(offset)
        bpb = f.read(512)
    bps, spc, rsvd, nfats, root_ents = struct.unpack_from("<HBHBH", bpb, 11)
    fatsz = struct.unpack_from("<H", bpb, 22)[0] or struct.unpack_from("<I", bpb, 36)[0]
    data = offset + (rsvd + nfats * fatsz) * bps + -(-root_ents * 32 // bps) * bps
    cl = spc * bps
    spec = f"{image}@@{offset}" if offset else str(image)
    out = run("mshowfat", "-i", spec, "::" + path).stdout
    ranges = []
    for a, b in re.findall(r"<(\d+)(?:-(\d+))?>", out):
        lo, hi = int(a), int(b or a) + 1
        ranges.append((data + (lo - 2) * cl, data + (hi - 2) * cl))
    return ranges


def tsk_truth(
    image: Path, path: str, unit: int, offset: int = 0, cluster: int = 0, heap: int = 0
) -> list[tuple[int, int]]:
    """A file's blocks as byte ranges, from Debian's sleuthkit (ifind + istat), not pytsk3.

    exFAT's istat lists only the sectors that hold content: with `cluster` and `heap` (the
    cluster heap's offset) each run is widened to whole clusters, which is what is allocated.
    """
    o = ["-o", str(offset // 512)] if offset else []
    inode = run("ifind", *o, "-n", path, str(image)).stdout.strip()
    out = run("istat", *o, str(image), inode).stdout
    ranges = []
    collecting = False
    for line in out.splitlines():
        if re.match(r"(Sectors|Direct Blocks|Data Fork Blocks):", line) or (
            line.startswith("Type:") and "Non-Resident" in line
        ):
            collecting = not line.startswith("Type:") or "$DATA" in line or "DATA (" in line or "$I30" in line
            continue
        if collecting and re.fullmatch(r"[\d\s-]+", line.strip() or "x"):
            for a, b in re.findall(r"(\d+)(?:-(\d+))?", line):
                lo, hi = int(a), int(b or a) + 1
                if lo:  # exFAT pads its sector list with zeros
                    ranges.append((offset + lo * unit, offset + hi * unit))
        elif line.strip():
            collecting = False
    if cluster:
        ranges = [
            (heap + (lo - heap) // cluster * cluster, heap + -(-(hi - heap) // cluster) * cluster)
            for lo, hi in ranges
        ]
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(ranges):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        ranges = merged
    return ranges


def exfat_heap(image: Path) -> tuple[int, int]:
    """(cluster size, cluster heap offset) from an exFAT boot sector."""
    with open(image, "rb") as f:
        boot = f.read(512)
    heap_sectors = struct.unpack_from("<I", boot, 88)[0]
    return 1 << (boot[108] + boot[109]), heap_sectors << boot[108]


def overlaps(ranges: list[tuple[int, int]], damage: list[tuple[int, int]]) -> int:
    """Bytes of ranges inside damage (both lists of [lo, hi))."""
    n = 0
    for lo, hi in ranges:
        for a, b in damage:
            n += max(0, min(hi, b) - max(lo, a))
    return n
