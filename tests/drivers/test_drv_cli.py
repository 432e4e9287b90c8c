"""The hardware commands as a technician runs them: real processes, real pseudo-terminals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

STATION = [sys.executable, "-m", "station.cli"]


def station(*args: object, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*STATION, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env
    )


class Served:
    def __init__(self, p: subprocess.Popen, port: str) -> None:
        self.p, self.port = p, port

    def stop(self) -> tuple[int, str]:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(10)
            raise AssertionError("the emulator did not stop on SIGTERM") from None
        return rc, self.p.stderr.read() if self.p.stderr else ""


@pytest.fixture
def serve() -> Iterator:
    """serve('imager', '--drive', M, ...) -> Served: an emulator process; its port is its first line."""
    started: list[Served] = []

    def start(*args: object) -> Served:
        p = subprocess.Popen([*STATION, "emulate", *map(str, args)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
        port = p.stdout.readline().strip()
        assert port.startswith("/dev/pts/"), f"first line is not a port: {port!r} {p.stderr.read()}"
        s = Served(p, port)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def records(xdg: Path) -> list[dict]:
    root = xdg / "station" / "sessions"
    return (
        [json.loads((d / "session.json").read_text()) for d in sorted(root.iterdir())]
        if root.is_dir()
        else []
    )


def test_image_handed_off_to_the_emulated_imager(serve, make_model, tmp_path, xdg_data_home) -> None:
    emu = serve("imager", "--drive", make_model(bad=15, hang=20), "--time-scale", "0.0005",
                "--target", tmp_path / "t1.img")  # fmt: skip
    mapfile = tmp_path / "disk.map"
    r = station("image", "--imager", f"serial-imager:{emu.port}", "S1", "T1", mapfile, "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[-1]["kind"] == "finished" and lines[-1]["outcome"] == "finished"
    last = lines[-2]
    assert (last["kind"], last["phase"], last["non_tried"], last["non_scraped"]) == (
        "progress",
        "finished",
        0,
        0,
    )
    assert last["rescued"] + last["bad"] == last["size"] and last["bad"] > 0
    assert mapfile.read_text().count("\n") > 10 and "# Mapfile. Created by" in mapfile.read_text()
    (rec,) = records(xdg_data_home)
    assert (rec["method"], rec["state"], rec["dest"]) == (
        "serial-imager",
        "finished",
        f"serial-imager:{emu.port}:T1",
    )
    s = station("sessions", "--json")
    assert json.loads(s.stdout)[0]["method"] == "serial-imager"
    rc, err = emu.stop()
    assert rc == 0 and "power cycles" in err


def test_an_imager_unplugged_mid_job(serve, make_model, tmp_path, xdg_data_home) -> None:
    emu = serve(
        "imager", "--drive", make_model(size="8Mi", bad=60), "--time-scale", "0.002", "--fault", "unplug@0.4"
    )
    mapfile = tmp_path / "disk.map"
    r = station("image", "--imager", f"serial-imager:{emu.port}", "S1", "T1", mapfile)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("interrupted: serial-imager on /dev/pts/")
    assert "went away" in r.stderr
    assert records(xdg_data_home)[0]["state"] == "interrupted"
    assert "+" in mapfile.read_text()
    assert emu.p.wait(10) == 0  # the unplugged device is gone: the emulator ends by itself


def test_bad_input_is_one_line_and_exit_2_and_creates_nothing(
    serve, make_model, tmp_path, xdg_data_home
) -> None:
    img = tmp_path / "img"
    img.write_bytes(bytes(1 << 16))
    emu = serve("lcus", "--channels", "2")
    cases = [
        (
            ["image", "--imager", "serial-imager:/dev/ttyUSB55", "S1", "T1", tmp_path / "a.map"],
            "no such port",
        ),
        (["image", "--imager", "serial-imager:/dev/x", "S1", "T1", "-R"], "-R/--reverse does not apply"),
        (["image", "--imager", "nonsense", "S1", "T1"], "is not DRIVER:PORT"),
        (["image", img, tmp_path / "out", "--relay", f"lcus:{emu.port}:1"], "is not a drive"),
        (["image", img, tmp_path / "out", "--relay", "lcus:/dev/ttyUSB55:1"], "no such port"),
        (["relay", "lcus", "/dev/ttyUSB55", "1", "on"], "no such port"),
        (["relay", "lcus", emu.port, "3", "on"], "channels 1..2, not 3"),
        (["relay", "acme", emu.port, "1", "on"], "no driver named 'acme'"),
        (["emulate", "imager", "--drive", make_model(), "--fault", "boom"], "unknown fault 'boom'"),
        (["emulate", "imager", "--drive", "no-such-preset"], "no preset named"),
    ]
    for args, msg in cases:
        r = station(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and msg in r.stderr, (args, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img", "model1.toml", "xdg-data"]
    assert records(xdg_data_home) == []


def test_the_emulators_own_target_is_said_to_be_temporary_and_its_deletion_said(serve, make_model) -> None:
    emu = serve("imager", "--drive", make_model(bad=0), "--time-scale", "0")
    said = emu.p.stderr.readline()
    target = said.split("T1 -> ", 1)[1].split(" ", 1)[0]
    assert "(a temporary file, deleted when the emulator stops: --target FILE keeps it)" in said, said
    assert os.path.exists(target)
    rc, err = emu.stop()
    assert rc == 0 and f"deleted the temporary T1 image {target} (--target FILE keeps it)" in err, err
    assert not os.path.exists(target)


def test_a_target_given_is_kept(serve, make_model, tmp_path) -> None:
    emu = serve("imager", "--drive", make_model(bad=0), "--time-scale", "0", "--target", tmp_path / "t1.img")
    assert "temporary" not in emu.p.stderr.readline()
    rc, err = emu.stop()
    assert rc == 0 and "deleted" not in err and (tmp_path / "t1.img").exists()


@pytest.mark.parametrize(
    ("flags", "msg"),
    [
        (["--fault", "unknown"], "unknown reply 'WHAT' to HELLO"),
        (["--protocol", "9"], "unsupported firmware"),
    ],
)
def test_an_imager_we_cannot_talk_to_is_refused_with_exit_2(serve, make_model, tmp_path, flags, msg) -> None:
    emu = serve("imager", "--drive", make_model(bad=0), *flags)
    r = station("image", "--imager", f"serial-imager:{emu.port}", "S1", "T1", tmp_path / "d.map")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and msg in r.stderr, r.stderr
    assert not (tmp_path / "d.map").exists()


def test_relay_command_against_the_lcus_emulator(serve) -> None:
    emu = serve("lcus", "--channels", "4")
    r = station("relay", "lcus", emu.port, "2", "on")
    assert (r.returncode, r.stdout.strip()) == (0, f"lcus {emu.port} relay 2: on")
    r = station("relay", "lcus", emu.port, "3", "cycle", "--hold", "0.05")
    assert (r.returncode, r.stdout.strip()) == (0, f"lcus {emu.port} relay 3: off")
    r = station("relay", "lcus", emu.port, "2", "status")
    assert r.stdout.strip().endswith("relay 2: on")
    rc, err = emu.stop()
    assert err.splitlines() == ["relay 2 on", "relay 3 on", "relay 3 off"]


def test_drivers_lists_builtins_third_party_and_broken_plugins(tmp_path, serve, make_model) -> None:
    site = tmp_path / "site"
    (site / "acme_station").mkdir(parents=True)
    (site / "acme_station" / "__init__.py").write_text(textwrap.dedent("""
        from station.hw.api import PowerDriver

        class AcmeRelay(PowerDriver):
            name = "acme"
            channels = 1
            def set(self, channel, on): pass
            def close(self): pass
    """))  # fmt: skip
    dist = site / "acme_station-1.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-station\nVersion: 1.2\n")
    (dist / "entry_points.txt").write_text(
        "[station.drivers]\nacme = acme_station:AcmeRelay\nbroken = acme_station.missing:Nothing\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    emu = serve("imager", "--drive", make_model(bad=0))
    r = station("drivers", "--json", "--probe", emu.port, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    drv = {d["name"]: d for d in out["drivers"]}
    assert {n: drv[n]["kind"] for n in ("serial-imager", "usb-imager", "lcus", "dcttech")} == {
        "serial-imager": "imager", "usb-imager": "imager", "lcus": "power", "dcttech": "power",
    }  # fmt: skip
    assert (drv["acme"]["kind"], drv["acme"]["origin"]) == ("power", "acme-station 1.2")
    assert drv["broken"]["kind"] is None and "ModuleNotFoundError" in drv["broken"]["error"]
    assert any(p.startswith("broken:") for p in out["problems"])
    assert [(d["driver"], d["port"]) for d in out["devices"]] == [("serial-imager", emu.port)]
    text = station("drivers", "--no-discover", env=env).stdout
    assert "acme" in text and "broken" in text and "(built-in)" in text
