"""Drivers through entry points: built-ins registered like plugins, broken plugins skipped,
discovery that probes before trusting a VID:PID."""

from __future__ import annotations

import os
import sys
import tty
from importlib.metadata import EntryPoint
from types import SimpleNamespace

import pytest

from station.hw.api import DeviceNotFound, DriverError, parse_spec
from station.hw.registry import GROUP, Registry

BUILTINS = {"serial-imager": "imager", "usb-imager": "imager", "lcus": "power", "dcttech": "power"}


def test_builtins_come_from_the_entry_point_group() -> None:
    reg = Registry()
    kinds = {e.name: e.kind for e in reg.entries()}
    assert {k: kinds.get(k) for k in BUILTINS} == BUILTINS
    assert all("built-in" in e.origin for e in reg.entries() if e.name in BUILTINS)


def test_listing_imports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in ("drivers.lcus", "drivers.usb_imager"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    reg = Registry()
    assert set(BUILTINS) <= set(reg.names())
    assert "drivers.lcus" not in sys.modules and "drivers.usb_imager" not in sys.modules
    reg.get("lcus")
    assert "drivers.lcus" in sys.modules


def test_a_broken_plugin_is_reported_and_the_rest_still_work() -> None:
    eps = [
        EntryPoint("lcus", "drivers.lcus:LcusRelay", GROUP),
        EntryPoint("ghost", "no_such_module_xyz:Driver", GROUP),
        EntryPoint("notadriver", "os:path", GROUP),
        EntryPoint("typo", "drivers.lcus:NoSuchClass", GROUP),
    ]
    reg = Registry(eps)
    by = {e.name: e for e in reg.entries()}
    assert by["lcus"].kind == "power" and by["lcus"].error is None
    assert "ModuleNotFoundError" in by["ghost"].error
    assert "not an ImagerDriver or PowerDriver" in by["notadriver"].error
    assert "AttributeError" in by["typo"].error
    with pytest.raises(DriverError, match="ghost.*broken"):
        reg.get("ghost")
    devices, problems = reg.discover(ports=[])
    assert devices == []
    assert any(p.startswith("ghost:") for p in problems) and not any(p.startswith("lcus:") for p in problems)


def test_unknown_and_wrong_kind_names() -> None:
    reg = Registry()
    with pytest.raises(DeviceNotFound, match="no driver named 'acme'.*lcus"):
        reg.get("acme")
    with pytest.raises(DriverError, match="power driver, not a imager"):
        reg.imager("lcus")


def test_parse_spec() -> None:
    assert parse_spec("serial-imager:/dev/ttyUSB0") == ("serial-imager", "/dev/ttyUSB0", None)
    assert parse_spec("lcus:/dev/ttyUSB1:2", channel=True) == ("lcus", "/dev/ttyUSB1", 2)
    assert parse_spec("usb-imager:1:7") == ("usb-imager", "1:7", None)
    bad_specs = [("lcus", False), (":x", False), ("lcus:", False), ("lcus:/dev/x", True)]
    bad_specs += [("lcus:/x:zero", True), ("lcus:/x:0", True)]
    for bad, ch in bad_specs:
        with pytest.raises(ValueError):
            parse_spec(bad, channel=ch)


def _port(device: str, vid: int, pid: int) -> SimpleNamespace:
    return SimpleNamespace(device=device, vid=vid, pid=pid, serial_number=None)


def test_discovery_probes_shared_ids_and_claims_each_device_once(emulators, make_model) -> None:
    """Four ports that all claim to be CH340s: an LCUS board, an imager, a silent board, a noisy one."""
    lcus = emulators.lcus(4)
    imager, _, _ = emulators.imager(make_model(bad=0))
    silent_m, silent_s = os.openpty()
    noisy_m, noisy_s = os.openpty()
    tty.setraw(silent_s)
    tty.setraw(noisy_s)
    os.write(noisy_m, b"\x13\x37 boot banner of some other CH340 gadget\r\n" * 20)
    try:
        ports = [
            _port(p, 0x1A86, 0x7523)
            for p in (lcus.port, imager.port, os.ttyname(silent_s), os.ttyname(noisy_s))
        ]
        ports.append(_port(lcus.port, 0x2341, 0x0043))  # some other VID:PID: never even opened
        devices, problems = Registry().discover(ports)
    finally:
        for fd in (silent_m, silent_s, noisy_m, noisy_s):
            os.close(fd)
    found = {(d.driver, d.port) for d in devices}
    assert found == {("lcus", lcus.port), ("serial-imager", imager.port)}
    assert all(d.probed for d in devices)
    im = next(d for d in devices if d.driver == "serial-imager")
    assert im.serial == "SI2-EMU-0001" and im.vid == 0x1A86
    assert all("dcttech" in p or "usb" in p.lower() for p in problems)  # only the missing libusb, if any


def test_probe_a_named_port(emulators, make_model) -> None:
    imager, _, _ = emulators.imager(make_model(bad=0))
    reg = Registry()
    found, _ = reg.probe(imager.port)
    assert [d.driver for d in found] == ["serial-imager"]
    found, problems = reg.probe("/dev/does-not-exist")
    assert found == [] and problems == ["/dev/does-not-exist: no such port"]
