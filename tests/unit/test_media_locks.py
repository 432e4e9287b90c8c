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


def test_a_held_file_is_locked_itself_so_no_other_file_can_look_held(tmp_path, private_lock_dir) -> None:
    """A job holds the image itself (and so its inode): under another name it is refused; once
    deleted under the job, its inode number cannot go to a new file, so new files never look held."""
    img = tmp_path / "new.img"
    img.write_bytes(b"x")
    code = (
        "import sys, time; from station.media import locks;"
        f"locks.LOCK_DIRS = ({str(private_lock_dir)!r},);"
        "locks.lock_for_writing([sys.argv[1]], 'session OLD'); print('held', flush=True); time.sleep(60)"
    )
    p = subprocess.Popen([sys.executable, "-c", code, str(img)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        old = tmp_path / "old.img"
        os.rename(img, old)  # the same file under another name: still held
        with pytest.raises(Locked, match="session OLD"):
            lock_for_writing([str(old)], "session NEW")
        os.unlink(old)  # deleted under the job: the job keeps the inode
        for i in range(50):  # new files never get the held inode, and none is refused
            f = tmp_path / f"fresh{i}.img"
            f.write_bytes(b"y")
            lock_for_writing([str(f)], "session NEW").release()
    finally:
        p.kill()
        p.wait()
