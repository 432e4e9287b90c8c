"""`station verify`, one command: when another module has registered it (issue 11's `station verify
IMAGE [--against SOURCE]`), a target restored from an image is checked through the same command."""

from __future__ import annotations

import argparse
from pathlib import Path

from station.cli import restore
from station.cli.common import Parser


def _theirs(a: argparse.Namespace) -> int:
    return 42


def test_verify_of_a_restored_target_joins_an_existing_verify_command(tmp_path: Path, monkeypatch) -> None:
    p = Parser(prog="station")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    ve = sub.add_parser("verify")
    ve.add_argument("image")
    ve.add_argument("--against")
    ve.add_argument("--map")
    ve.add_argument("--json", action="store_true")
    ve.set_defaults(func=_theirs)
    restore.register(sub)  # must not raise "conflicting subparser: verify"
    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(restore, "cmd_verify", lambda a: seen.append(a) or 0)
    image, target, rescued = tmp_path / "disk.img", tmp_path / "copy.img", tmp_path / "rescued.img"
    for f in (image, target, rescued):
        f.write_bytes(b"x" * 4096)
    (tmp_path / "disk.img.map").write_text("")
    (tmp_path / "rescued.img.map").write_text("")

    def go(*argv: str) -> int:
        a = p.parse_args(["verify", *argv])
        return a.func(a)

    assert go(str(target), "--against", str(image)) == 0, "a target against the image it came from: ours"
    assert seen[0].target == str(target) and seen[0].against == str(image) and seen[0].fill == "zero"
    assert go(str(rescued), "--against", "/dev/sdb") == 42, "an image against its source drive: theirs"
    assert go(str(rescued)) == 42, "an image against its recorded hashes: theirs"
