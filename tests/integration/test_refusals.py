"""Every refusal of `station image` exits 2 with exactly one line on stderr and changes nothing.

"Changes nothing" is checked on the whole test directory (which also holds the session store):
no file created or removed, no size, mtime, inode or link count changed, not even a directory's
mtime (a temporary file created and removed again would show there), and the source's bytes
are the same.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from station.rescue.rescuemap import Status

SIZE = 1024 * 1024
MAP_OK = "# a valid map\n0x0 ?\n0x0 0x100000 ?\n"


@pytest.fixture
def d(tmp_path: Path, kit) -> Path:
    kit.make_source(tmp_path / "src.bin", SIZE, seed=3)
    return tmp_path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_refused(
    kit, d: Path, args: list, *, contains: str = "", extra_roots: tuple[Path, ...] = ()
) -> str:
    """Run station in d; it must exit 2 with one stderr line and leave d exactly as it was."""
    before = kit.tree(d, *extra_roots)
    src_hash = digest(d / "src.bin")
    r = kit.station(*args, cwd=d, timeout=30)
    lines = r.stderr.splitlines()
    assert r.returncode == 2, f"exit {r.returncode}, stderr: {r.stderr}"
    assert len(lines) == 1 and lines[0].startswith("station: "), f"want one line, got: {r.stderr!r}"
    assert "Traceback" not in r.stderr
    assert r.stdout == ""
    assert contains.lower() in lines[0].lower(), lines[0]
    assert kit.tree(d, *extra_roots) == before, "a refused job changed the directory"
    assert digest(d / "src.bin") == src_hash
    return lines[0]


# -- the job's paths --------------------------------------------------------------------------------

PATH_CASES: dict[str, tuple[Callable[[Path], None], list[str], str]] = {
    "missing source": (lambda d: None, ["nosuch.bin", "out.img"], "no such file"),
    "source is a directory": (lambda d: (d / "srcdir").mkdir(), ["srcdir", "out.img"], "directory"),
    "source is a character device": (lambda d: None, ["/dev/zero", "out.img"], "character device"),
    "source is empty": (lambda d: (d / "empty.bin").touch(), ["empty.bin", "out.img"], "empty"),
    "dest is the source": (lambda d: None, ["src.bin", "src.bin"], "source"),
    "dest is the source by another name": (lambda d: None, ["src.bin", "./sub/../src.bin"], "source"),
    "dest is a symlink to the source": (
        lambda d: (d / "link.img").symlink_to("src.bin"), ["src.bin", "link.img"], "source"),
    "dest is a hard link to the source": (
        lambda d: os.link(d / "src.bin", d / "hard.img"), ["src.bin", "hard.img"], "source"),
    "mapfile is the source": (lambda d: None, ["src.bin", "out.img", "src.bin"], "source"),
    "mapfile is a symlink to the source": (
        lambda d: (d / "link.map").symlink_to("src.bin"), ["src.bin", "out.img", "link.map"], "source"),
    "mapfile is the dest": (lambda d: None, ["src.bin", "out.img", "out.img"], "dest"),
    "mapfile is a directory": (lambda d: (d / "mapdir").mkdir(), ["src.bin", "out.img", "mapdir"], "regular"),
    "dest is a directory": (lambda d: (d / "destdir").mkdir(), ["src.bin", "destdir"], "directory"),
    "dest in a missing directory": (lambda d: None, ["src.bin", "nodir/out.img"], "no such directory"),
    "dest exists without its mapfile": (
        lambda d: (d / "old.img").write_bytes(b"precious"), ["src.bin", "old.img"], "--force"),
    "malformed mapfile": (
        lambda d: (d / "bad.map").write_text("# comment\n0x0 ?\n0x0 0x100 +\n0x200 0x100 ?\n"),
        ["src.bin", "out.img", "bad.map"], "line 4"),
    "mapfile without a status line": (
        lambda d: (d / "bad.map").write_text("# comment\n0x0 0x100 + extra\n"),
        ["src.bin", "out.img", "bad.map"], "line 2"),
    "binary mapfile": (
        lambda d: (d / "bin.map").write_bytes(b"0x0 ?\n\x00\xff\xfe garbage\n"),
        ["src.bin", "out.img", "bin.map"], "line 2"),
    "mapfile larger than the source": (
        lambda d: (d / "big.map").write_text(f"0x0 ?\n0x0 {2 * SIZE:#x} ?\n"),
        ["src.bin", "out.img", "big.map"], str(2 * SIZE)),
    "mapfile records rescued data but dest is missing": (
        lambda d: (d / "done.map").write_text(f"0x0 ?\n0x0 0x10000 +\n0x10000 {SIZE - 0x10000:#x} ?\n"),
        ["src.bin", "gone.img", "done.map"], "does not exist"),
}  # fmt: skip


@pytest.mark.parametrize("case", PATH_CASES.values(), ids=PATH_CASES.keys())
def test_bad_paths_are_refused(kit, d, case):
    setup, args, contains = case
    setup(d)
    (d / "sub").mkdir()
    assert_refused(kit, d, ["image", *args], contains=contains)


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_force_never_allows_writing_the_source(kit, d, force):
    (d / "link.img").symlink_to("src.bin")
    for args in (["src.bin", "src.bin"], ["src.bin", "link.img"], ["src.bin", "out.img", "src.bin"]):
        assert_refused(kit, d, ["image", *(["--force"] if force else []), *args], contains="source")


def test_force_overwrites_an_existing_dest(kit, d):
    (d / "old.img").write_bytes(b"x" * 4096)
    r = kit.station("image", "-q", "--force", "src.bin", "old.img", cwd=d)
    assert r.returncode == 0, r.stderr
    assert digest(d / "old.img") == digest(d / "src.bin")
    assert kit.read_map(d / "old.img.map").summary().rescued == SIZE


# -- option values ---------------------------------------------------------------------------------

BAD_OPTIONS = {
    "sector size not a power of two": ["-b", "3"],
    "sector size zero": ["-b", "0"],
    "cluster size not a number": ["-c", "abc"],
    "cluster size zero": ["-c", "0"],
    "size not a number": ["-s", "foo"],
    "negative position": ["-i", "-5"],
    "empty domain": ["-s", "0"],
    "domain beyond the source": ["-i", "2Mi"],
    "max read errors not a number": ["-X", "x"],
    "retry passes below -1": ["-r", "-5"],
    "save interval zero": ["--save-interval", "0"],
    "save interval negative": ["--save-interval", "-1"],
    "read timeout zero": ["--read-timeout", "0"],
    "max read size zero": ["--max-read-size", "0"],
    "skip size zero": ["-K", "0"],
    "skip size not a number": ["-K", "abc"],
    "min read rate not a number": ["-a", "xyz"],
    "min read rate negative": ["-a", "-5"],
    "timeout not a number": ["-T", "abc"],
    "unknown option": ["--bogus"],
    "test-mode mapfile missing": ["-H", "nosuch.map"],
    "test-mode mapfile malformed": ["-H", "bad.map"],
    "domain mapfile missing": ["-m", "nosuch.map"],
    "domain mapfile malformed": ["-m", "bad.map"],
    "domain mapfile with nothing finished": ["-m", "empty-domain.map"],
}


@pytest.mark.parametrize("opts", BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_bad_option_values_are_refused(kit, d, opts):
    (d / "bad.map").write_text("0x0 ?\n0x0 0x100 +\n0x200 0x100 ?\n")
    (d / "empty-domain.map").write_text(MAP_OK)
    assert_refused(kit, d, ["image", *opts, "src.bin", "out.img"])


def test_missing_arguments_are_refused(kit, d):
    assert_refused(kit, d, ["image"])
    assert_refused(kit, d, ["image", "src.bin"])
    assert_refused(kit, d, ["image", "src.bin", "a", "b", "c"])


# Found while writing these tests: values ddrescue refuses that station accepts and acts on.
ACCEPTED_BAD_OPTIONS = {
    "negative max read errors": ["-X", "-1"],
    "negative max bad areas": ["-e", "-1"],
    "negative timeout": ["-T", "-1"],
    "nan timeout": ["-T", "nan"],
    "nan save interval": ["--save-interval", "nan"],
    "nan read timeout": ["--read-timeout", "nan"],
}


@pytest.mark.parametrize("opts", ACCEPTED_BAD_OPTIONS.values(), ids=ACCEPTED_BAD_OPTIONS.keys())
def test_out_of_range_option_values_are_refused(kit, d, opts):
    assert_refused(kit, d, ["image", *opts, "src.bin", "out.img"])


def test_mapfile_in_a_missing_directory_is_refused(kit, d):
    assert_refused(kit, d, ["image", "src.bin", "out.img", "nodir/out.map"], contains="nodir")


# -- loop devices (root) ----------------------------------------------------------------------------


def _sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout.strip()


@pytest.fixture
def loops(d):
    """Attach loop devices and mount them; everything is undone in teardown, also on failure."""
    if os.geteuid() != 0:
        pytest.skip("loop devices need root")
    if not all(shutil.which(t) for t in ("losetup", "mkfs.ext4", "mount", "umount")):
        pytest.skip("needs losetup, mkfs.ext4, mount and umount")
    if not os.path.exists("/dev/loop-control"):
        pytest.skip("no loop driver")
    undo: list[Callable[[], None]] = []

    class Loops:
        def attach(self, backing: Path) -> str:
            dev = _sh("losetup", "--find", "--show", str(backing))
            undo.append(lambda: subprocess.run(["losetup", "--detach", dev], timeout=30))
            return dev

        def mount(self, dev: str, where: Path) -> None:
            where.mkdir()
            _sh("mount", "-o", "noatime", dev, str(where))  # noatime: looking at it writes nothing

            def unmount() -> None:
                if subprocess.run(["umount", str(where)], timeout=30).returncode:
                    subprocess.run(["umount", "-l", str(where)], timeout=30)

            undo.append(unmount)

    try:
        yield Loops()
    finally:
        for step in reversed(undo):
            step()


def test_source_loop_device_with_its_backing_file_as_dest(kit, d, loops):
    backing = d / "disk.img"
    shutil.copyfile(d / "src.bin", backing)
    dev = loops.attach(backing)
    (d / "disk.map").write_text(MAP_OK)  # a map to resume from: only the source check can refuse
    for force in ([], ["--force"]):
        assert_refused(kit, d, ["image", *force, dev, "disk.img", "disk.map"], contains="backing file")
        assert_refused(kit, d, ["image", *force, dev, dev, "disk.map"], contains="source")


def test_dest_loop_device_over_the_source_file(kit, d, loops):
    dev = loops.attach(d / "src.bin")
    assert_refused(kit, d, ["image", "--force", "src.bin", dev, "out.map"], contains="src.bin")


def test_dest_backing_a_loop_device_is_refused(kit, d, loops):
    kit.make_source(d / "busy.img", SIZE, seed=4)
    (d / "busy.map").write_text(MAP_OK)
    dev = loops.attach(d / "busy.img")
    assert_refused(kit, d, ["image", "--force", "src.bin", "busy.img", "busy.map"], contains=dev)


@pytest.mark.parametrize("mapfile", ["out.map", None], ids=["own-mapfile", "default-mapfile"])
def test_mounted_loop_device_as_dest(kit, d, loops, mapfile):
    backing = d / "fs.img"
    with open(backing, "wb") as f:
        f.truncate(8 * SIZE)
    _sh("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", str(backing))
    dev = loops.attach(backing)
    loops.mount(dev, d / "mnt")
    os.sync()  # whatever mounting wrote is on the backing file before the snapshot
    default_map = Path(dev + ".map")
    args = ["image", "--force", "src.bin", dev] + ([mapfile] if mapfile else [])
    before = digest(backing)
    assert_refused(kit, d, args, contains="mounted")
    assert not default_map.exists(), f"a refused job created {default_map}"
    assert digest(backing) == before


# -- where a map would not survive (issue 10, §1) ----------------------------------------------------


@pytest.mark.parametrize(
    "mapfile, what",
    [("/dev/station-test-{pid}.map", "devtmpfs"), ("/dev/shm/station-test-{pid}.map", "tmpfs under /dev"),
     ("/proc/station-test-{pid}.map", "proc")],
    ids=["devtmpfs", "dev-shm", "proc"],
)  # fmt: skip
def test_a_mapfile_on_a_ram_or_kernel_filesystem_is_refused(kit, d, mapfile, what):
    mapfile = mapfile.format(pid=os.getpid())
    line = assert_refused(kit, d, ["image", "src.bin", "out.img", mapfile], contains=mapfile)
    assert what in line and "lost" in line, line
    assert not os.path.exists(mapfile)


def test_a_clone_keeps_its_map_in_the_images_folder(kit, d, loops, xdg_data_home):
    target = d / "target.bin"
    with open(target, "wb") as f:
        f.truncate(2 * SIZE)
    dev = loops.attach(target)
    r = kit.station("image", "-q", "--force", "src.bin", dev, cwd=d)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(dev + ".map") and not os.path.exists(dev + ".map.bak")
    (mapfile,) = (xdg_data_home / "station" / "images").glob("*.map")
    assert mapfile.name == f"src.bin-to-{Path(dev).name}.map", mapfile
    assert str(mapfile) in r.stderr  # said where it is
    assert kit.read_map(mapfile).bytes_in(Status.FINISHED) == SIZE
    r = kit.station("image", "-q", "src.bin", dev, cwd=d)  # the same command resumes from it
    assert r.returncode == 0 and str(mapfile) in r.stderr, r.stderr


def test_a_read_only_target_is_refused_before_anything_starts(kit, d, loops):
    target = d / "target.bin"
    with open(target, "wb") as f:
        f.truncate(2 * SIZE)
    dev = _sh("losetup", "--find", "--show", "--read-only", str(target))
    try:
        line = assert_refused(kit, d, ["image", "--force", "src.bin", dev, "out.map"], contains=dev)
        assert "read-only" in line, line
        from station.jobs.drives import block_drives

        (drive,) = [x for x in block_drives() if x.path == dev]
        assert not drive.can_be_target and "read-only" in drive.protected[0]
    finally:
        subprocess.run(["losetup", "--detach", dev], timeout=30)
