"""The new-session form as values (station/tui/session_form.py): what a filled-in form stands for,
and every refusal, without Textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from station.jobs.drives import Drive
from station.rescue.options import KiB, RescueOptions
from station.tui.session_form import (
    VIRTUAL_SAVE_INTERVAL,
    SessionForm,
    default_image_path,
    form_options,
    image_path_for,
    image_spec,
    relay_spec,
    session_plan,
)

BLOCK = Drive(path="/dev/sdb", kind="block", size=10**9, model="WDC WD10", serial="WD-123 456", name="sdb")
VIRTUAL = Drive(path="demo", kind="virtual", size=8 << 20, model="demo", serial="DEMO-1", name="demo")
TARGET = Drive(path="/dev/sdc", kind="block", size=2 * 10**9, model="Blank", serial="B-1", name="sdc")


def test_a_profile_as_it_is() -> None:
    assert form_options(SessionForm(), BLOCK) == RescueOptions()
    assert form_options(SessionForm(method="profile:gentle"), BLOCK).max_read_size == 64 * KiB


def test_switches_turn_phases_off_never_back_on() -> None:
    o = form_options(SessionForm(method="profile:quick", reverse=True), BLOCK)
    assert o.no_trim and o.no_scrape and o.no_sweep and o.reverse
    o = form_options(SessionForm(no_scrape=True, no_sweep=True), BLOCK)
    assert (o.no_trim, o.no_scrape, o.no_sweep, o.reverse) == (False, True, True, False)


@pytest.mark.parametrize(
    "method, typed, retries",
    [
        ("profile:default", "", 0),
        ("profile:default", " 2 ", 2),
        ("profile:thorough", "1", 3),  # the more retrying of the two
        ("profile:thorough", "5", 5),
        ("profile:thorough", "-1", -1),  # -1: until no bad sector is left
    ],
)
def test_retries(method: str, typed: str, retries: int) -> None:
    assert form_options(SessionForm(method=method, retry_passes=typed), BLOCK).retry_passes == retries


@pytest.mark.parametrize("typed", ["lots", "1.5", "-2"])
def test_bad_retries_are_refused_naming_the_field(typed: str) -> None:
    with pytest.raises(ValueError, match="^retry passes: .* is not a whole number"):
        form_options(SessionForm(retry_passes=typed), BLOCK)


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="no engine profile 'fast'"):
        form_options(SessionForm(method="profile:fast"), BLOCK)


def test_a_virtual_drive_saves_its_map_often() -> None:
    assert form_options(SessionForm(), VIRTUAL).save_interval == VIRTUAL_SAVE_INTERVAL
    assert form_options(SessionForm(), BLOCK).save_interval == RescueOptions().save_interval


def test_an_image_file(tmp_path: Path) -> None:
    plan = session_plan(SessionForm(image_path=" ~/x.img ", force=True), BLOCK, [TARGET], tmp_path)
    assert plan.dest == str(Path("~/x.img").expanduser()) and plan.target is None
    assert plan.mapfile is None and plan.force and plan.relay is None
    assert plan.command(BLOCK) == ["station", "image", "/dev/sdb", plan.dest]


def test_a_drive_gets_its_mapfile_in_the_images_folder(tmp_path: Path) -> None:
    form = SessionForm(to_drive=True, target="/dev/sdc", image_path="ignored.img", reverse=True)
    plan = session_plan(form, BLOCK, [TARGET], tmp_path)
    assert plan.dest == "/dev/sdc" and plan.target is TARGET and plan.force
    assert plan.mapfile == str(tmp_path / "WD-123_456-to-sdc.map")
    assert plan.command(BLOCK) == ["station", "image", "-R", "/dev/sdb", "/dev/sdc", plan.mapfile]
    typed = session_plan(
        SessionForm(to_drive=True, target="/dev/sdc", mapfile="my.map"), BLOCK, [TARGET], tmp_path
    )
    assert typed.mapfile == "my.map"


@pytest.mark.parametrize(
    "form, error",
    [
        (SessionForm(to_drive=True), "pick the target drive"),
        (SessionForm(to_drive=True, target="/dev/sda"), "pick the target drive"),  # not one of the targets
        (SessionForm(image_path="  "), "name the image file"),
        (SessionForm(image_path="x.img", relay="lcus:/dev/ttyUSB0", relay_channel="0"), "relay channel: '0'"),
        (SessionForm(image_path="x.img", relay="lcus:/dev/ttyUSB0", relay_channel="one"), "relay channel"),
        (SessionForm(retry_passes="x", image_path=""), "retry passes"),  # the form's order: options first
    ],
)
def test_refusals(form: SessionForm, error: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=error):
        session_plan(form, BLOCK, [TARGET], tmp_path)


def test_relay() -> None:
    assert relay_spec(SessionForm()) is None
    assert relay_spec(SessionForm(relay="lcus:/dev/ttyUSB0", relay_channel="")) == "lcus:/dev/ttyUSB0:1"
    assert relay_spec(SessionForm(relay="lcus:/dev/ttyUSB0", relay_channel=" 02 ")) == "lcus:/dev/ttyUSB0:2"


def test_one_image_per_drive(tmp_path: Path) -> None:
    assert default_image_path(tmp_path, BLOCK) == tmp_path / "WD-123_456.img"
    assert default_image_path(tmp_path, Drive(path="/dev/x", kind="block", size=1)) == tmp_path / "drive.img"


def test_the_form_needs_no_textual() -> None:
    code = "import sys, station.tui.session_form; sys.exit(any(m.startswith('textual') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# -- the image: raw or compressed, and its hashes ---------------------------------------------------


def test_image_format_and_hashes_reach_the_plan_and_its_command(tmp_path: Path) -> None:
    form = SessionForm(image_path=str(tmp_path / "a.zst"), image_format="zst", hashes="sha256,md5")
    plan = session_plan(form, BLOCK, [], tmp_path)
    assert (plan.image.format, plan.image.hashes) == ("zst", ("sha256", "md5"))
    cmd = plan.command(BLOCK)
    assert "--format" not in cmd and cmd[cmd.index("--hash") + 1] == "sha256,md5"  # .zst says zst
    form = SessionForm(image_path="x.img", image_format="zst", hashes="none")
    plan = session_plan(form, BLOCK, [], tmp_path)
    cmd = plan.command(BLOCK)
    assert cmd[cmd.index("--format") + 1] == "zst" and cmd[cmd.index("--hash") + 1] == "none"
    plan = session_plan(SessionForm(image_path="x.img"), BLOCK, [], tmp_path)
    assert "--format" not in plan.command(BLOCK) and "--hash" not in plan.command(BLOCK)


def test_a_zst_image_on_a_drive_and_unknown_hashes_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="^image format: a drive is written raw"):
        image_spec(SessionForm(to_drive=True, image_format="zst"))
    with pytest.raises(ValueError, match="^hashes: unknown hash 'sha1'"):
        image_spec(SessionForm(hashes="sha1"))


def test_the_image_name_follows_the_format() -> None:
    assert image_path_for("/srv/images/WD-1.img", "zst") == "/srv/images/WD-1.zst"
    assert image_path_for("/srv/images/WD-1.zst", "raw") == "/srv/images/WD-1.img"
    assert image_path_for("/srv/images/case-7.bin", "zst") == "/srv/images/case-7.bin"  # as typed
    assert default_image_path(Path("/srv"), BLOCK, "zst") == Path("/srv/WD-123_456.zst")


def test_heads_first_last_and_not_read_reach_the_options_and_the_command(tmp_path: Path) -> None:
    form = SessionForm(image_path=str(tmp_path / "a.img"), head_first="2", head_last=" 0, 3 ", head_skip="")
    plan = session_plan(form, BLOCK, [], tmp_path)
    o = plan.options
    assert (o.head_first, o.head_last, o.head_skip) == ([2], [0, 3], None)
    cmd = plan.command(BLOCK)
    assert "--head-first=2" in cmd and "--head-last=0,3" in cmd
    assert not any(c.startswith("--skip-head") for c in cmd)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"head_first": "two"}, "heads first:"),
        ({"head_skip": "99"}, "heads not read:"),
        ({"head_first": "1", "head_skip": "1"}, "head"),  # the same head first and not read at all
    ],
)
def test_bad_heads_are_refused_naming_the_field(fields: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        form_options(SessionForm(**fields), BLOCK)
