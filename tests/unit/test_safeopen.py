"""station.core.safeopen: every write path opens what it checked, never a name planted meanwhile."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from station.core.safeopen import (
    NotRegular,
    create_fresh,
    create_new,
    make_private_dir,
    open_to_write,
    read_regular,
    remove_stale_temps,
    temp_name,
    write_atomic,
)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    p = tmp_path / "victim"
    p.write_bytes(b"keep me")
    return p


def test_create_new_never_follows_a_symlink(tmp_path: Path, victim: Path) -> None:
    (tmp_path / "new").symlink_to(victim)
    with pytest.raises(FileExistsError):
        create_new(tmp_path / "new")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        create_new(tmp_path / "dangling")
    assert not (tmp_path / "nowhere").exists() and victim.read_bytes() == b"keep me"


def test_create_fresh_removes_a_planted_name_without_touching_its_target(
    tmp_path: Path, victim: Path
) -> None:
    (tmp_path / "tmp").symlink_to(victim)
    fd = create_fresh(tmp_path / "tmp")
    os.write(fd, b"new")
    os.close(fd)
    assert victim.read_bytes() == b"keep me" and (tmp_path / "tmp").read_bytes() == b"new"


def test_open_to_write_says_whether_it_created(tmp_path: Path, victim: Path) -> None:
    fd, created = open_to_write(tmp_path / "a")
    os.close(fd)
    assert created
    fd, created = open_to_write(victim)  # an existing file (or a link the user named): opened as named
    assert not created and os.fstat(fd).st_ino == victim.stat().st_ino
    os.close(fd)


def test_write_atomic_keeps_a_backup_and_leaves_no_temporary_file(tmp_path: Path, victim: Path) -> None:
    path = tmp_path / "x.map"
    write_atomic(path, b"one", mode=0o600)
    (tmp_path / temp_name("x.map")).symlink_to(victim)  # planted at our temporary name
    write_atomic(path, b"two", backup=True)
    assert path.read_bytes() == b"two" and (tmp_path / "x.map.bak").read_bytes() == b"one"
    assert victim.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim", "x.map", "x.map.bak"]


def test_temporary_names_fit_in_a_file_name(tmp_path: Path) -> None:
    name = "d" * 250
    assert temp_name(name) != f".{name}.tmp{os.getpid()}" and len(temp_name(name)) < 255
    write_atomic(tmp_path / name, b"x", backup=True)
    write_atomic(tmp_path / name, b"y", backup=True)
    assert (tmp_path / name).read_bytes() == b"y" and (tmp_path / (name + ".bak")).exists()


def test_stale_temporary_files_of_dead_processes_go(tmp_path: Path) -> None:
    dead = 4_999_999  # above the kernel's pid_max
    for name in (temp_name("m.map", pid=dead), temp_name("m.map", "bak", pid=dead), temp_name("m.map")):
        (tmp_path / name).write_text("")
    long = "l" * 250
    (tmp_path / temp_name(long, pid=dead)).write_text("")
    assert sorted(remove_stale_temps(tmp_path / "m.map")) == sorted(
        [temp_name("m.map", pid=dead), temp_name("m.map", "bak", pid=dead)]
    )
    assert remove_stale_temps(tmp_path / long) == [temp_name(long, pid=dead)]
    assert (tmp_path / temp_name("m.map")).exists()  # ours: alive


def test_read_regular_refuses_what_is_not_a_bounded_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    for path, what in ((tmp_path / "fifo", "a fifo"), (Path("/dev/zero"), "a character device")):
        with pytest.raises(NotRegular, match=what):
            read_regular(path, 1 << 20)
    (tmp_path / "big").write_bytes(b"x" * 2000)
    with pytest.raises(NotRegular, match="more than the 1000"):
        read_regular(tmp_path / "big", 1000)
    assert read_regular(tmp_path / "big", 2000) == b"x" * 2000
    with pytest.raises(OSError) as e:
        read_regular(tmp_path / "missing", 10)
    assert e.value.errno == errno.ENOENT


def test_private_dirs(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        d = make_private_dir(tmp_path / "a" / "b")
        (tmp_path / "open").mkdir(mode=0o755)
        make_private_dir(tmp_path / "open")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(d) == mode(tmp_path / "a") == mode(tmp_path / "open") == 0o700


def test_a_restore_target_that_reaches_the_image_is_refused_after_the_open(tmp_path) -> None:
    """What was opened is checked, not the name: a hard link of the image is the image."""
    from station.media.base import Refused
    from station.media.target import RestoreTarget

    image = tmp_path / "image.img"
    image.write_bytes(b"x" * 4096)
    os.link(image, tmp_path / "target.img")
    with pytest.raises(Refused, match="target"):
        RestoreTarget(str(tmp_path / "target.img"), file_size=4096, source=str(image))
    assert image.read_bytes() == b"x" * 4096
    RestoreTarget(str(tmp_path / "other.img"), file_size=4096, source=str(image)).close()
