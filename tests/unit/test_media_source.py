"""station.media.source on regular files: reads, read-only opening, refusals, reopen."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import socket
from pathlib import Path

import pytest

from station.media import source as source_mod
from station.media.base import Refused, Source
from station.media.source import aligned_buffer, open_source, probe_source

DATA = bytes(range(256)) * 64  # 16 KiB, every offset distinguishable modulo 256


def fd_flags(fd: int) -> int:
    """The open flags the kernel holds for fd (octal 'flags:' line of /proc/self/fdinfo)."""
    for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("flags:"):
            return int(line.split()[1], 8)
    raise AssertionError("no flags line")


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "disk.img"
    path.write_bytes(DATA)
    return path


def test_file_source_reads_what_is_there(image: Path) -> None:
    with open_source(str(image)) as src:
        assert isinstance(src, Source)
        assert (src.size, src.sector_size, src.alignment) == (len(DATA), 512, 1)
        assert src.identity.kind == "file"
        assert src.identity.path == str(image)
        buf = bytearray(1000)
        assert src.read_into(300, memoryview(buf)) == 1000
        assert bytes(buf) == DATA[300:1300]


def test_short_read_only_at_the_end(image: Path) -> None:
    with open_source(str(image)) as src:
        buf = memoryview(bytearray(4096))
        assert src.read_into(len(DATA) - 100, buf) == 100
        assert bytes(buf[:100]) == DATA[-100:]
        assert src.read_into(len(DATA), buf) == 0
        assert src.read_into(len(DATA) + 512, buf) == 0


def test_fd_is_read_only_and_never_writable(image: Path) -> None:
    with open_source(str(image)) as src:
        flags = fd_flags(src.fd)
        assert flags & os.O_ACCMODE == os.O_RDONLY
        assert not flags & (os.O_APPEND | os.O_CREAT | os.O_TRUNC)
        with pytest.raises(OSError) as err:
            os.write(src.fd, b"x")
        assert err.value.errno == errno.EBADF
    assert image.read_bytes() == DATA


def test_direct_io_flag_and_aligned_reads(image: Path) -> None:
    try:
        src = open_source(str(image), direct=True)
    except Refused as err:
        pytest.skip(f"the filesystem of tmp_path has no O_DIRECT: {err}")
    with src:
        assert fd_flags(src.fd) & os.O_DIRECT
        assert fd_flags(src.fd) & os.O_ACCMODE == os.O_RDONLY
        # the disks' logical sector under the file (not a page: issue 10, §3.3), and it reads
        assert src.alignment in (512, 1024, 2048, 4096)
        buf = aligned_buffer(8192)
        assert src.read_into(4096, buf) == 8192
        assert bytes(buf) == DATA[4096:12288]
        a = src.alignment
        assert src.read_into(a, buf[:a]) == a and bytes(buf[:a]) == DATA[a : 2 * a]


def test_aligned_buffer_is_page_aligned_and_writable() -> None:
    buf = aligned_buffer(3 * mmap.PAGESIZE)
    assert len(buf) == 3 * mmap.PAGESIZE and not buf.readonly
    address = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    assert address % mmap.PAGESIZE == 0


def test_read_into_loops_over_short_reads(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.preadv
    calls = []

    def dribble(fd: int, buffers: list, pos: int) -> int:
        calls.append(pos)
        return real(fd, [buffers[0][:7]], pos)

    with open_source(str(image)) as src:
        monkeypatch.setattr(source_mod.os, "preadv", dribble)
        buf = memoryview(bytearray(100))
        assert src.read_into(50, buf) == 100
    assert bytes(buf) == DATA[50:150]
    assert calls[:3] == [50, 57, 64] and len(calls) == 15


def test_read_errors_are_raised_not_hidden(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(fd: int, buffers: list, pos: int) -> int:
        raise OSError(errno.EIO, "Input/output error")

    with open_source(str(image)) as src:
        monkeypatch.setattr(source_mod.os, "preadv", failing)
        with pytest.raises(OSError) as err:
            src.read_into(0, memoryview(bytearray(512)))
    assert err.value.errno == errno.EIO


def test_regular_files_get_sequential_advice(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    advice = []
    monkeypatch.setattr(source_mod.os, "posix_fadvise", lambda fd, off, n, how: advice.append((off, n, how)))
    with open_source(str(image)):
        pass
    assert advice == [(0, 0, os.POSIX_FADV_SEQUENTIAL)]


def test_close_is_idempotent_and_reading_after_it_fails(image: Path) -> None:
    before = open_fds()
    src = open_source(str(image))
    assert len(open_fds()) == len(before) + 1
    src.close()
    src.close()
    assert open_fds() == before
    assert src.closed
    with pytest.raises(OSError) as err:
        src.read_into(0, memoryview(bytearray(10)))
    assert err.value.errno == errno.EBADF


def test_reopen_keeps_the_fd_number_and_reads_on(image: Path) -> None:
    with open_source(str(image)) as src:
        fd = src.fd
        before = open_fds()
        src.reopen()
        assert src.fd == fd
        assert open_fds() == before
        buf = bytearray(16)
        assert src.read_into(256, memoryview(buf)) == 16
        assert bytes(buf) == DATA[256:272]


def test_reopen_after_close_opens_again(image: Path) -> None:
    src = open_source(str(image))
    src.close()
    src.reopen()
    try:
        assert not src.closed
        assert fd_flags(src.fd) & os.O_ACCMODE == os.O_RDONLY
    finally:
        src.close()


def test_reopen_refuses_a_different_file_under_the_same_name(image: Path, tmp_path: Path) -> None:
    with open_source(str(image)) as src:
        other = tmp_path / "other"
        other.write_bytes(b"\xff" * len(DATA))
        os.replace(other, image)
        with pytest.raises(OSError) as err:
            src.reopen()
        assert err.value.errno == errno.ENODEV
        buf = bytearray(4)  # still reading the file that was opened
        src.read_into(0, memoryview(buf))
        assert bytes(buf) == DATA[:4]


def refusal(path: str) -> str:
    with pytest.raises(Refused) as err:
        open_source(path)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_missing_source_is_refused_in_one_line(tmp_path: Path) -> None:
    assert refusal(str(tmp_path / "x")) == f"source {tmp_path / 'x'}: no such file or device"


def test_directory_char_device_fifo_socket_empty_are_refused(tmp_path: Path) -> None:
    assert refusal(str(tmp_path)) == f"source {tmp_path}: is a directory"
    assert "character device" in refusal("/dev/null")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "is a fifo" in refusal(str(fifo))  # refused before open: an open would block
    sock_path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        assert "is a socket" in refusal(str(sock_path))
    empty = tmp_path / "empty"
    empty.touch()
    assert refusal(str(empty)) == f"source {empty}: is empty (size 0)"


def test_unreadable_source_is_refused(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(source_mod.os, "open", denied)
    assert refusal(str(image)) == f"source {image}: permission denied (cannot read it)"


def test_probe_source_leaves_nothing_open(image: Path) -> None:
    before = open_fds()
    identity = probe_source(str(image))
    assert open_fds() == before
    assert (identity.kind, identity.size) == ("file", len(DATA))


def test_symlinked_source_reads_the_target(image: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(image)
    with open_source(str(link)) as src:
        assert src.size == len(DATA)
        assert src.identity.path == str(link)
