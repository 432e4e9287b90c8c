"""Shared fixtures for the integration tests that run `station` as a real process.

Every test gets its own XDG_DATA_HOME (the session store) under tmp_path, so nothing reaches the
user's real store.  The `kit` fixture bundles the helpers the test modules share: making
deterministic sources and ddrescue test mapfiles, running `station` with a timeout, reading maps
back and checking an image against its source on every finished block.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from looplab import LoopLab  # tests/looplab.py

from station.rescue.mapfile import read_mapfile
from station.rescue.rescuemap import RescueMap, Status

KiB = 1024
MiB = 1024 * KiB
SECTOR = 512
STATION = [sys.executable, "-m", "station.cli"]
DEFAULT_TIMEOUT = 60.0  # no single command here should get anywhere near this

Range = tuple[int, int]  # [pos, end)


@pytest.fixture(autouse=True)
def xdg_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private session store for each test (child processes inherit the environment)."""
    home = tmp_path / "xdg-data"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


class Kit:
    """Helpers for driving `station` and GNU ddrescue as processes and checking what they leave."""

    KiB = KiB
    MiB = MiB
    SECTOR = SECTOR
    STATION = STATION

    # -- sources and test maps ------------------------------------------------------------------

    @staticmethod
    def make_source(path: Path, size: int, seed: int = 1, chunk: int = MiB) -> Path:
        """A file of `size` bytes, created sparse and then filled in chunks with seeded random data.

        Every chunk is a different rotation of one random block, so no two sectors are alike and
        none is all zeros: a misplaced, missing or stale sector always shows.
        """
        base = random.Random(seed).randbytes(chunk)
        with open(path, "wb") as f:
            f.truncate(size)
            for i, pos in enumerate(range(0, size, chunk)):
                k = (i * 7919 + seed) % chunk
                f.write((base[k:] + base[:k])[: size - pos])
        return path

    @staticmethod
    def write_test_map(path: Path, size: int, bad: Iterable[tuple[int, int, str]]) -> Path:
        """A ddrescue test mapfile (-H): `bad` is (pos, size, status) with status one of ?*/-."""
        lines = ["# ddrescue test mapfile", "0x00000000     +               1"]
        pos = 0
        for b_pos, b_size, st in sorted(bad):
            assert st in "?*/-" and b_pos >= pos and b_size > 0
            if b_pos > pos:
                lines.append(f"0x{pos:08X}  0x{b_pos - pos:08X}  +")
            lines.append(f"0x{b_pos:08X}  0x{b_size:08X}  {st}")
            pos = b_pos + b_size
        if pos < size:
            lines.append(f"0x{pos:08X}  0x{size - pos:08X}  +")
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- running things ---------------------------------------------------------------------------

    @staticmethod
    def station(*args: object, cwd: Path | None = None, timeout: float = DEFAULT_TIMEOUT):
        """Run `station ARGS...` to its end; returns the CompletedProcess (text)."""
        return subprocess.run(
            [*STATION, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout
        )

    @staticmethod
    def popen_station(*args: object, cwd: Path | None = None, **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen([*STATION, *map(str, args)], cwd=cwd, text=True, **kw)

    @staticmethod
    def ddrescue(*args: object, cwd: Path | None = None, timeout: float = DEFAULT_TIMEOUT):
        return subprocess.run(
            ["ddrescue", "-q", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout
        )

    @staticmethod
    def ddrescuelog(*args: object, timeout: float = DEFAULT_TIMEOUT):
        return subprocess.run(
            ["ddrescuelog", *map(str, args)], capture_output=True, text=True, timeout=timeout
        )

    @staticmethod
    @contextlib.contextmanager
    def tmpfs(where: Path, size: str) -> Iterator[Path]:
        """A tmpfs of `size` mounted at `where` (made here) for the block; needs root."""
        where.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True, timeout=30
        )
        try:
            yield where
        finally:
            if subprocess.run(["umount", str(where)], timeout=30).returncode:
                subprocess.run(["umount", "-l", str(where)], timeout=30)

    @staticmethod
    def stop(p: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """End a process this test started (by its own pid) and reap it."""
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    @staticmethod
    def json_lines(text: str) -> list[dict]:
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    # -- maps ----------------------------------------------------------------------------------------

    @staticmethod
    def read_map(path: Path) -> RescueMap:
        return read_mapfile(path)

    @staticmethod
    def blocks(m: RescueMap) -> list[tuple[int, int, str]]:
        return [(b.pos, b.size, b.status.value) for b in m]

    @staticmethod
    def ranges(m: RescueMap, statuses: str) -> list[Range]:
        """Merged [pos, end) ranges whose status is one of `statuses`."""
        out: list[Range] = []
        for b in m:
            if b.status.value not in statuses:
                continue
            if out and out[-1][1] == b.pos:
                out[-1] = (out[-1][0], b.end)
            else:
                out.append((b.pos, b.end))
        return out

    @staticmethod
    def statuses(m: RescueMap) -> set[str]:
        return {b.status.value for b in m}

    @staticmethod
    def complement(ranges: list[Range], size: int) -> list[Range]:
        """[0, size) minus the sorted, disjoint ranges."""
        edges = [0] + [x for r in ranges for x in r] + [size]
        return [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b > a]

    @staticmethod
    def covered(inner: list[Range], outer: list[Range]) -> bool:
        """True if every range of `inner` lies inside the union of `outer` (both sorted, merged)."""
        j = 0
        for lo, hi in inner:
            while j < len(outer) and outer[j][1] <= lo:
                j += 1
            if j == len(outer) or not (outer[j][0] <= lo and hi <= outer[j][1]):
                return False
        return True

    @staticmethod
    def mismatch(src: Path, img: Path, ranges: Iterable[Range], chunk: int = 8 * MiB) -> int | None:
        """The first offset in `ranges` where img differs from src (a short image differs), or None."""
        with open(src, "rb") as fs, open(img, "rb") as fi:
            for lo, hi in ranges:
                pos = lo
                while pos < hi:
                    n = min(chunk, hi - pos)
                    a, b = os.pread(fs.fileno(), n, pos), os.pread(fi.fileno(), n, pos)
                    if a != b:
                        k = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(b))
                        return pos + k
                    pos += n
        return None

    def assert_finished_blocks_match(self, m: RescueMap, src: Path, img: Path) -> None:
        """Every '+' block of the map holds exactly the source's bytes in the image."""
        bad = self.mismatch(src, img, self.ranges(m, "+"))
        assert bad is None, f"image differs from source at {bad:#x}, inside a block the map calls finished"

    def assert_zero(self, img: Path, ranges: Iterable[Range]) -> None:
        """The image holds only zeros there (never written)."""
        with open(img, "rb") as f:
            for lo, hi in ranges:
                data = os.pread(f.fileno(), hi - lo, lo)
                assert data.count(0) == len(data), f"image has data written at a bad area {lo:#x}-{hi:#x}"

    def ddrescuelog_ok(self, path: Path, lists: bool = True) -> None:
        """ddrescuelog -t accepts the mapfile; with `lists`, it also lists exactly our sectors per status.

        A no-op without ddrescuelog (the interop tests, which need it, skip instead).
        """
        if shutil.which("ddrescuelog") is None:
            return
        r = self.ddrescuelog("-t", path)
        assert r.returncode == 0, f"ddrescuelog -t rejected {path}: {r.stderr.strip()}\n{path.read_text()}"
        if not lists:
            return
        m = self.read_map(path)
        for st in Status:
            r = self.ddrescuelog(f"-b{SECTOR}", f"-l{st.value}", path)
            assert r.returncode == 0, r.stderr
            theirs = [int(x) for x in r.stdout.split()]
            ours = [s for lo, hi in self.ranges(m, st.value) for s in range(lo // SECTOR, -(-hi // SECTOR))]
            assert theirs == ours, f"ddrescuelog and station disagree on the {st.value!r} sectors of {path}"

    # -- session store -------------------------------------------------------------------------------

    @staticmethod
    def session_records(xdg: Path) -> list[dict]:
        root = xdg / "station" / "sessions"
        if not root.is_dir():
            return []
        return [json.loads((d / "session.json").read_text()) for d in sorted(root.iterdir())]

    # -- snapshots of a directory tree (refusals change nothing) -------------------------------------

    @staticmethod
    def tree(*roots: Path) -> dict[str, tuple]:
        """Every path under the roots with its type, size, mtime and inode (not following links)."""
        out: dict[str, tuple] = {}

        def walk(p: Path) -> Iterator[Path]:
            yield p
            if p.is_dir() and not p.is_symlink():
                for child in sorted(p.iterdir()):
                    yield from walk(child)

        for root in roots:
            for p in walk(root):
                st = p.lstat()
                out[str(p)] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino, st.st_nlink)
        return out


@pytest.fixture(scope="session")
def kit() -> Kit:
    return Kit()


@pytest.fixture(scope="session")
def have_ddrescue() -> None:
    if shutil.which("ddrescue") is None or shutil.which("ddrescuelog") is None:
        pytest.skip("GNU ddrescue and ddrescuelog are not installed")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LoopLab]:
    """Loop devices, filesystems, mounts and swaps for one test (tests/looplab.py), all undone after it."""
    lab = LoopLab(tmp_path)
    try:
        yield lab
    finally:
        errors = lab.undo()
        assert not errors, f"teardown left something behind: {errors}"
