"""A full disk under a zst image: a clean OSError, nothing synced lost, resumable once there is room."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from station.images.zstreader import ZstImageReader
from station.images.zstsink import open_image_sink

CS = 64 << 10

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs (root)")


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_raises_enospc_and_keeps_what_was_synced(small_fs):
    path = str(small_fs / "full.zst")
    size = 64 * CS
    sink = open_image_sink(path, size, chunk_size=CS)
    first = os.urandom(4 * CS)
    sink.write_at(0, memoryview(first))
    sink.sync()
    with pytest.raises(OSError) as e:
        for k in range(4, 64):  # random bytes do not compress: 4 MiB into 1 MiB of room
            sink.write_at(k * CS, memoryview(os.urandom(CS)))
        sink.sync()
    assert e.value.errno == errno.ENOSPC
    with pytest.raises(OSError):  # it stays broken: no later sync may claim data it lacks
        sink.sync()
    sink.close()
    with ZstImageReader(path) as r:
        assert r.read(0, 4 * CS) == first
    # room again (the tmpfs grows): the same image resumes and keeps the synced chunks
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_fs)], check=True)
    sink = open_image_sink(path, size)
    sink.write_at(10 * CS, memoryview(b"\x07" * CS))
    sink.seal()
    with ZstImageReader(path) as r:
        assert r.read(0, 4 * CS) == first
        assert r.read(10 * CS, CS) == b"\x07" * CS
