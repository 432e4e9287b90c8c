"""One line, never a traceback (issue 10, §3.9): full filesystems under the map or the session
store, a store behind a regular file, names at the length limit, absurd numbers in a map or on the
command line, Ctrl-C before the run has set itself up."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

SIZE = 256 * 1024

root_only = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a tmpfs needs root and mount"
)


def one_line(r: subprocess.CompletedProcess, status: int = 2) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == status, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("station: "), r.stderr
    return lines[0]


@pytest.fixture
def full_fs(tmp_path: Path, kit):
    """A tmpfs with no room left."""
    with kit.tmpfs(tmp_path / "full", "1m") as where:
        fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"x" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        yield where


@pytest.fixture
def src(tmp_path: Path, kit) -> Path:
    return kit.make_source(tmp_path / "src.bin", SIZE)


@root_only
def test_first_map_write_on_a_full_filesystem(kit, tmp_path, src, full_fs) -> None:
    line = one_line(kit.station("image", "-q", src, tmp_path / "out.img", full_fs / "x.map"))
    assert "mapfile" in line and "no space" in line.lower(), line
    assert not (tmp_path / "out.img").exists() and sorted(os.listdir(full_fs)) == ["filler"]


@root_only
def test_a_full_session_store_leaves_nothing_behind(kit, tmp_path, src, full_fs, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(full_fs / "xdg"))
    (full_fs / "xdg").mkdir()
    line = one_line(kit.station("image", "-q", src, tmp_path / "out.img"))
    assert "session" in line, line
    assert not (tmp_path / "out.img").exists() and not (tmp_path / "out.img.map").exists()


def test_a_session_store_behind_a_regular_file_leaves_nothing_behind(kit, tmp_path, src, monkeypatch) -> None:
    (tmp_path / "plain").write_text("not a directory")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "plain" / "xdg"))
    line = one_line(kit.station("image", "-q", src, tmp_path / "out.img"))
    assert "session" in line, line
    assert not (tmp_path / "out.img").exists() and not (tmp_path / "out.img.map").exists()


def test_a_destination_name_at_the_length_limit(kit, tmp_path, src) -> None:
    name = "d" * 245  # NAME.map fits; its temporary name (.NAME.map.tmpPID) does not
    r = kit.station("image", "-q", "--hash", "none", src, name, cwd=tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert kit.read_map(tmp_path / (name + ".map")).size == SIZE
    r = kit.station(
        "image", "-q", "--hash", "none", src, name, cwd=tmp_path
    )  # .bak and its temporary name too
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert (tmp_path / (name + ".map.bak")).is_file()
    assert [p for p in os.listdir(tmp_path) if ".tmp" in p or p.startswith(".")] == []
    # with hashes, NAME.hashes.json cannot be named: refused before the rescue, not after it
    line = one_line(kit.station("image", "-q", src, "e" * 245, cwd=tmp_path))
    assert "file name too long" in line and ".hashes.json" in line, line
    assert not (tmp_path / ("e" * 245)).exists() and not (tmp_path / ("e" * 245 + ".map")).exists()


@pytest.mark.parametrize(
    "text",
    [
        "0x0 ?\n0x0 0x" + "f" * 300 + " +\n",
        "0x" + "f" * 300 + " ?\n0x0 0x400 +\n",
        "0x0 ? 0x" + "f" * 300 + "\n",
    ],
    ids=["block-size", "position", "pass"],
)
def test_numbers_too_large_for_a_map(kit, tmp_path, text) -> None:
    (tmp_path / "huge.map").write_text(text)
    line = one_line(kit.station("map", tmp_path / "huge.map"))
    assert "huge.map" in line and "line" in line, line


@pytest.mark.parametrize(
    "args", [["--rows", "0"], ["--width", "-5"], ["--rows", "-1"], ["--width", "100000000"]]
)
def test_absurd_map_drawing_sizes(kit, tmp_path, args) -> None:
    (tmp_path / "ok.map").write_text("0x0 ?\n0x0 0x400 +\n")
    one_line(kit.station("map", tmp_path / "ok.map", *args))


def test_ctrl_c_while_starting_prints_no_traceback(kit, tmp_path, src) -> None:
    """SIGINT at random moments of the first few hundred ms.  A SIGINT that lands while the
    interpreter itself is still starting (importing `site`, before any of Station runs) kills it
    with Python's own "Fatal Python error: init_import_site": not Station's to catch, not counted."""
    rng = random.Random(10)
    reached = 0
    for i in range(80):  # until a dozen tries reached Station (a loaded machine starts slowly)
        if reached >= 12:
            break
        p = kit.popen_station("image", "-q", src, tmp_path / f"o{i}.img")
        time.sleep(rng.uniform(0.0, 0.4))
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        if err.startswith("Fatal Python error: init_import_site"):
            continue
        reached += 1
        assert "Traceback" not in err, f"try {i}: {err}"
        # 130, or death by SIGINT: CPython re-raises the signal at exit when the KeyboardInterrupt
        # went through an exec() (dataclasses make their methods so), even though it was caught
        assert p.returncode in (0, 1, 130, -signal.SIGINT), (p.returncode, err)
        assert len(err.splitlines()) <= 1, err
    assert reached >= 12
