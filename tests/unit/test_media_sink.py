"""station.media.sink on regular files: sparse creation, never truncating, full writes, errors."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.media import sink as sink_mod
from station.media.base import Refused, Sink
from station.media.sink import open_sink

MiB = 1024 * 1024


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_new_image_is_sparse_and_has_the_source_size(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "new.img"
    with open_sink(str(path), size=64 * MiB, create=True) as sink:
        assert isinstance(sink, Sink)
        assert sink.kind == "file"
        sink.write_at(MiB, memoryview(b"rescued"))
        sink.sync()
    st = os.stat(path)
    assert st.st_size == 64 * MiB
    assert st.st_blocks * 512 < MiB  # holes where nothing was written
    assert stat.S_IMODE(st.st_mode) == 0o644
    with open(path, "rb") as f:
        f.seek(MiB - 2)
        assert f.read(9) == b"\0\0rescued"


def test_existing_image_is_never_truncated(tmp_path: Path) -> None:
    path = tmp_path / "old.img"
    path.write_bytes(b"A" * 4096)
    with open_sink(str(path), size=8192, create=True) as sink:
        sink.write_at(4096, memoryview(b"B" * 10))
    assert path.read_bytes() == b"A" * 4096 + b"B" * 10 + b"\0" * (4096 - 10)


def test_larger_image_is_not_shrunk(tmp_path: Path) -> None:
    path = tmp_path / "big.img"
    path.write_bytes(b"C" * 10000)
    with open_sink(str(path), size=100, create=False) as sink:
        assert sink.size == 10000
    assert path.read_bytes() == b"C" * 10000


def test_missing_image_without_create_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.img"
    with pytest.raises(Refused, match="no such file"):
        open_sink(str(path), size=10, create=False)
    assert not path.exists()


def test_non_image_targets_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases = {str(tmp_path): "is a directory", "/dev/null": "character device", str(fifo): "is a fifo"}
    for path, words in cases.items():
        with pytest.raises(Refused, match=words):
            open_sink(path, size=10, create=True)


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Refused, match="no such file or directory"):
        open_sink(str(tmp_path / "no" / "x.img"), size=10, create=True)


def test_fd_is_write_only(tmp_path: Path) -> None:
    with open_sink(str(tmp_path / "x.img"), size=10, create=True) as sink:
        flags = 0
        for line in Path(f"/proc/self/fdinfo/{sink.fd}").read_text().splitlines():
            if line.startswith("flags:"):
                flags = int(line.split()[1], 8)
        assert flags & os.O_ACCMODE == os.O_WRONLY


def test_write_at_loops_over_short_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.pwritev
    calls = []

    def dribble(fd: int, buffers: list, pos: int) -> int:
        calls.append(pos)
        return real(fd, [buffers[0][:3]], pos)

    path = tmp_path / "x.img"
    with open_sink(str(path), size=20, create=True) as sink:
        monkeypatch.setattr(sink_mod.os, "pwritev", dribble)
        sink.write_at(5, memoryview(b"0123456789"))
    assert calls == [5, 8, 11, 14]
    assert path.read_bytes() == b"\0" * 5 + b"0123456789" + b"\0" * 5


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_write_errors_are_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    def failing(fd: int, buffers: list, pos: int) -> int:
        raise OSError(code, os.strerror(code))

    with open_sink(str(tmp_path / "x.img"), size=20, create=True) as sink:
        monkeypatch.setattr(sink_mod.os, "pwritev", failing)
        with pytest.raises(OSError) as err:
            sink.write_at(0, memoryview(b"abc"))
    assert err.value.errno == code


def test_a_write_that_makes_no_progress_is_enospc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_sink(str(tmp_path / "x.img"), size=20, create=True) as sink:
        monkeypatch.setattr(sink_mod.os, "pwritev", lambda fd, buffers, pos: 0)
        with pytest.raises(OSError) as err:
            sink.write_at(0, memoryview(b"abc"))
    assert err.value.errno == errno.ENOSPC


def test_sync_is_fdatasync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = []
    with open_sink(str(tmp_path / "x.img"), size=20, create=True) as sink:
        monkeypatch.setattr(sink_mod.os, "fdatasync", synced.append)
        sink.sync()
        assert synced == [sink.fd]


def test_too_large_for_the_filesystem_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def too_big(fd: int, size: int) -> None:
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(sink_mod.os, "ftruncate", too_big)
    with pytest.raises(Refused, match="cannot hold a file of 5000000000 bytes"):
        open_sink(str(tmp_path / "x.img"), size=5_000_000_000, create=True)


def test_sink_given_its_source_refuses_the_source(tmp_path: Path) -> None:
    src = tmp_path / "src.img"
    src.write_bytes(b"S" * 100)
    link = tmp_path / "link.img"
    link.symlink_to(src)
    with pytest.raises(Refused, match=r"^refusing: .*link.img is the source file"):
        open_sink(str(link), size=200, create=True, source=str(src))
    assert src.read_bytes() == b"S" * 100  # not even extended


def test_close_is_idempotent(tmp_path: Path) -> None:
    sink = open_sink(str(tmp_path / "x.img"), size=20, create=True)
    sink.close()
    sink.close()
    assert sink.closed
    with pytest.raises(OSError):
        sink.write_at(0, memoryview(b"x"))
