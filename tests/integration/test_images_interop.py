"""Sealed zst images read by other tools: the zstd binary, pyzstd, indexed_zstd; E01 through libewf."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess

import pytest

from station.images.convert import CaseFields, export_e01
from station.images.zstsink import open_image_sink
from station.media.base import Refused
from station.rescue.rescuemap import RescueMap, Status

CS = 64 << 10


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    """An image written out of order with holes, a bad area in its map, sealed; and its raw model."""
    d = tmp_path_factory.mktemp("interop")
    path = str(d / "img.zst")
    size = 40 * CS + 3 * 512
    rng = random.Random(7)
    model = bytearray(size)
    sink = open_image_sink(path, size, chunk_size=CS, algorithms=("sha256", "md5"))
    for _ in range(60):
        pos = rng.randrange(0, size // 512) * 512
        n = min(rng.randrange(1, 200) * 512, size - pos)
        data = rng.randbytes(n // 2) + bytes(n - n // 2)
        sink.write_at(pos, memoryview(data))
        model[pos : pos + n] = data
    m = RescueMap(size, Status.FINISHED)
    m.set_status(7 * CS, 3 * CS + 512, Status.BAD_SECTOR)
    model[7 * CS : 10 * CS + 512] = bytes(3 * CS + 512)
    sink.seal(m)
    return path, bytes(model)


@pytest.mark.skipif(shutil.which("zstd") is None, reason="needs the zstd binary (Debian package zstd)")
def test_zstd_binary_decompresses_to_the_raw_image(sealed):
    path, model = sealed
    out = subprocess.run(["zstd", "-d", "-c", path], capture_output=True, check=True)
    assert out.stdout == model
    subprocess.run(["zstd", "-t", "-q", path], check=True)


def test_pyzstd_reads_any_offset(sealed):
    pyzstd = pytest.importorskip("pyzstd")
    path, model = sealed
    rng = random.Random(1)
    with pyzstd.SeekableZstdFile(path, "r") as f:
        for _ in range(50):
            pos, n = rng.randrange(0, len(model)), rng.randrange(1, 3 * CS)
            f.seek(pos)
            assert f.read(n) == model[pos : pos + n]
        f.seek(0)
        assert f.read() == model


def test_indexed_zstd_reads_any_offset(sealed):
    indexed_zstd = pytest.importorskip("indexed_zstd")
    path, model = sealed
    rng = random.Random(2)
    f = indexed_zstd.IndexedZstdFile(path)
    try:
        for _ in range(50):
            pos, n = rng.randrange(0, len(model)), rng.randrange(1, 3 * CS)
            f.seek(pos)
            assert f.read(n) == model[pos : pos + n]
    finally:
        f.close()


@pytest.mark.skipif(shutil.which("ewfacquirestream") is None, reason="needs ewf-tools")
def test_export_e01_verifies_with_libewf(sealed, tmp_path):
    path, model = sealed
    out = export_e01(path, str(tmp_path / "case.E01"), CaseFields("C-11", "E-1", "Tess", "a drive", "n"))
    info = subprocess.run(
        ["ewfinfo", out], capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL
    ).stdout
    assert "C-11" in info and "Tess" in info
    v = subprocess.run(
        ["ewfverify", "-q", out], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
    )
    assert v.returncode == 0, v.stdout + v.stderr
    assert hashlib.md5(model).hexdigest() in v.stdout  # what libewf read back is the raw image


def test_export_without_libewf_is_one_line(sealed, tmp_path):
    path, _ = sealed
    with pytest.raises(Refused, match="apt-get install ewf-tools"):
        export_e01(path, str(tmp_path / "x.E01"), tool="no-such-ewfacquirestream")
    assert not os.path.exists(tmp_path / "x.E01")
