"""Writer locks: one job per image, map and drive, under every name that reaches it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from station.media import locks
from station.media.locks import Locked, lock_for_writing


@pytest.fixture(autouse=True)
def private_lock_dir(tmp_path, monkeypatch):
    d = tmp_path / "locks"
    monkeypatch.setattr(locks, "LOCK_DIRS", (str(d),))
    return d


def test_a_second_writer_is_refused_naming_the_first(tmp_path) -> None:
    img = tmp_path / "x.img"
    first = lock_for_writing([str(img), str(img) + ".map"], "session A (pid 1)")
    with pytest.raises(Locked, match=r"x.img is being written by session A \(pid 1\)"):
        lock_for_writing([str(img)], "session B")
    with pytest.raises(Locked, match=r"x.img.map is being written by session A"):
        lock_for_writing([str(tmp_path / "other.img"), str(img) + ".map"], "session B")
    first.describe("session A2")
    with pytest.raises(Locked, match="session A2"):
        lock_for_writing([str(img)], "session B")
    first.release()
    lock_for_writing([str(img)], "session B").release()


def test_a_refused_lock_keeps_nothing(tmp_path) -> None:
    held = lock_for_writing([str(tmp_path / "b")], "first")
    with pytest.raises(Locked):
        lock_for_writing([str(tmp_path / "a"), str(tmp_path / "b")], "second")
    lock_for_writing([str(tmp_path / "a")], "third").release()  # "a" was let go with the refusal
    held.release()


def test_every_name_of_one_file_is_one_lock(tmp_path) -> None:
    img = tmp_path / "x.img"
    img.write_bytes(b"x")
    os.link(img, tmp_path / "hard.img")
    (tmp_path / "sym.img").symlink_to(img)
    held = lock_for_writing([str(img)], "first")
    for other in ("hard.img", "sym.img"):
        with pytest.raises(Locked):
            lock_for_writing([str(tmp_path / other)], "second")
    held.release()


def test_a_file_created_after_the_lock_is_locked_by_inode_once_added(tmp_path) -> None:
    img = tmp_path / "new.img"
    held = lock_for_writing([str(img)], "first")
    img.write_bytes(b"x")
    held.add([str(img)])  # as the lifecycle does once it has created the destination
    os.link(img, tmp_path / "again.img")
    with pytest.raises(Locked):
        lock_for_writing([str(tmp_path / "again.img")], "second")
    held.release()


def test_the_kernel_drops_the_lock_of_a_killed_process(tmp_path) -> None:
    img = str(tmp_path / "x.img")
    code = (
        "import sys, time; from station.media import locks;"
        f"locks.LOCK_DIRS = ({str(tmp_path / 'locks')!r},);"
        f"locks.lock_for_writing([{img!r}], 'child'); print('held', flush=True); time.sleep(60)"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        with pytest.raises(Locked, match="child"):
            lock_for_writing([img], "parent")
    finally:
        p.kill()
        p.wait()
    lock_for_writing([img], "parent").release()  # nothing stale after kill -9


def test_a_lock_on_a_deleted_file_does_not_refuse_the_file_that_reuses_its_inode(
    tmp_path, private_lock_dir
) -> None:
    """A job still holds the inode lock of a file that was deleted under it (a test directory
    cleaned up); the kernel gives the inode number to a new file.  The new file is not the
    held one: its job must not be refused."""
    img = tmp_path / "new.img"
    img.write_bytes(b"x")
    st = os.stat(img)
    holder = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.write(fd, sys.argv[2].encode())\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    private_lock_dir.mkdir(exist_ok=True)
    lock_file = private_lock_dir / f"ino-{st.st_dev}-{st.st_ino}.lock"
    text = f"session OLD (pid 1: station image)\n{tmp_path / 'deleted-long-ago.img'}\n"
    p = subprocess.Popen(
        [sys.executable, "-c", holder, str(lock_file), text], stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout.readline().strip() == "held"
        lock_for_writing([str(img)], "session NEW").release()
        old = tmp_path / "old.img"  # while the held inode's file is there, it is refused
        os.rename(img, old)
        lock_file.write_text(f"session OLD (pid 1: station image)\n{old}\n")
        with pytest.raises(Locked, match="session OLD"):
            lock_for_writing([str(old)], "session NEW")
    finally:
        p.kill()
        p.wait()
