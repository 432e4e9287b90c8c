"""station.media.safety with image files: the source under other names, mapfile mix-ups, overwrites."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from station.media.base import Refused, SourceIdentity
from station.media.safety import check_job, check_not_source


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its content (None for directories): proof that nothing changed."""
    found: dict[str, bytes | None] = {}
    for here, dirs, files in os.walk(root):
        for d in dirs:
            found[os.path.join(here, d)] = None
        for f in files:
            p = os.path.join(here, f)
            found[p] = Path(p).read_bytes() if not os.path.islink(p) else os.readlink(p).encode()
    return found


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    (tmp_path / "src.img").write_bytes(b"S" * 4096)
    (tmp_path / "out").mkdir()
    return tmp_path


def refused(lab: Path, call: Callable[[], None]) -> str:
    """Run call, expect Refused with one line, and check that no file changed."""
    before = tree(lab)
    with pytest.raises(Refused) as err:
        call()
    assert tree(lab) == before
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_fresh_job_passes_and_creates_nothing(lab: Path) -> None:
    before = tree(lab)
    check_job(str(lab / "src.img"), str(lab / "out/dst.img"), str(lab / "out/dst.map"), force=False)
    assert tree(lab) == before


def test_dest_is_the_source_under_any_name(lab: Path) -> None:
    src = str(lab / "src.img")
    (lab / "sym.img").symlink_to(lab / "src.img")
    os.link(lab / "src.img", lab / "hard.img")
    (lab / "dirlink").symlink_to(lab)
    for dest in [src, str(lab / "sym.img"), str(lab / "hard.img"), str(lab / "dirlink/src.img")]:
        message = refused(lab, lambda d=dest: check_job(src, d, str(lab / "out/m.map"), force=True))
        assert message == f"refusing: {dest} is the source file ({src})"


def test_mapfile_is_the_source(lab: Path) -> None:
    src = str(lab / "src.img")
    message = refused(lab, lambda: check_job(src, str(lab / "out/d.img"), src, force=False))
    assert message == f"refusing: mapfile {src} is the source file ({src})"


def test_mapfile_is_the_dest(lab: Path) -> None:
    src = str(lab / "src.img")
    dest = str(lab / "out/d.img")
    message = refused(lab, lambda: check_job(src, dest, dest, force=False))
    assert message == f"refusing: mapfile {dest} is the dest ({dest})"
    (lab / "outlink").symlink_to(lab / "out")  # same file through a linked folder, neither exists yet
    message = refused(lab, lambda: check_job(src, dest, str(lab / "outlink/d.img"), force=False))
    assert "is the dest" in message


def test_mapfile_that_is_a_hard_link_of_the_dest(lab: Path) -> None:
    (lab / "out/d.img").write_bytes(b"D")
    os.link(lab / "out/d.img", lab / "out/d.map")
    message = refused(
        lab,
        lambda: check_job(str(lab / "src.img"), str(lab / "out/d.img"), str(lab / "out/d.map"), force=True),
    )
    assert "is the dest" in message


def test_existing_dest_needs_a_mapfile_or_force(lab: Path) -> None:
    src, dest, mapfile = str(lab / "src.img"), str(lab / "out/d.img"), str(lab / "out/d.map")
    (lab / "out/d.img").write_bytes(b"earlier work")
    message = refused(lab, lambda: check_job(src, dest, mapfile, force=False))
    assert message.startswith(f"refusing: {dest} already exists and there is no mapfile {mapfile}")
    check_job(src, dest, mapfile, force=True)
    (lab / "out/d.map").write_text("0x0 ?\n")
    check_job(src, dest, mapfile, force=False)  # a resume


def test_existing_empty_dest_is_fine(lab: Path) -> None:
    (lab / "out/d.img").touch()
    check_job(str(lab / "src.img"), str(lab / "out/d.img"), str(lab / "out/d.map"), force=False)


def test_dest_that_cannot_be_an_image(lab: Path) -> None:
    src, mapfile = str(lab / "src.img"), str(lab / "out/m.map")
    cases = {
        str(lab / "out"): "is a directory",
        "/dev/null": "is a character device",
        str(lab / "none/d.img"): f"no such directory {lab / 'none'}",
    }
    for dest, words in cases.items():
        assert words in refused(lab, lambda d=dest: check_job(src, d, mapfile, force=True))


def test_mapfile_that_is_a_directory(lab: Path) -> None:
    message = refused(
        lab, lambda: check_job(str(lab / "src.img"), str(lab / "out/d.img"), str(lab / "out"), force=False)
    )
    assert message == f"mapfile {lab / 'out'}: is not a regular file"


def test_bad_source_is_refused_first(lab: Path) -> None:
    message = refused(
        lab, lambda: check_job(str(lab / "nope"), str(lab / "out/d"), str(lab / "m"), force=True)
    )
    assert message == f"source {lab / 'nope'}: no such file or device"
    (lab / "empty").touch()
    message = refused(
        lab, lambda: check_job(str(lab / "empty"), str(lab / "out/d"), str(lab / "m"), force=True)
    )
    assert message == f"source {lab / 'empty'}: is empty (size 0)"


def test_check_not_source_takes_an_identity(lab: Path) -> None:
    identity = SourceIdentity(path=str(lab / "src.img"), kind="file", size=4096)
    (lab / "alias").symlink_to(lab / "src.img")
    with pytest.raises(Refused, match="is the source file"):
        check_not_source(identity, str(lab / "alias"))
    check_not_source(identity, str(lab / "out/other.img"))  # another file on the same filesystem is fine


def test_a_virtual_source_has_nothing_on_disk_to_protect(lab: Path) -> None:
    identity = SourceIdentity(path="scripted", kind="virtual", size=4096)
    check_not_source(identity, str(lab / "out/x.img"))
