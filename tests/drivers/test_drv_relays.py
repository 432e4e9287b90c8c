"""Relay drivers against their emulators: LCUS over a real pty, DCTTECH through a virtual pyusb backend."""

from __future__ import annotations

import errno

import pytest
import usb.core
from drvkit import bounded, eventually

from drivers.dcttech import DcttechRelay
from drivers.emulate.usb import DcttechDevice, VirtualDevice, virtual_backend
from drivers.lcus import LcusRelay, frame, parse_states
from station.hw.api import DeviceGone, DeviceNotFound, DeviceRefused, DeviceTimeout, ProtocolError
from station.sim.drive import SimDrive
from station.sim.model import load_model

# -- LCUS -----------------------------------------------------------------------------------------------


def test_lcus_frames_are_the_boards_bytes() -> None:
    assert frame(1, True) == bytes.fromhex("A0 01 01 A2")
    assert frame(1, False) == bytes.fromhex("A0 01 00 A1")
    assert frame(4, True) == bytes.fromhex("A0 04 01 A5")


def test_lcus_state_replies() -> None:
    assert parse_states(b"CH1: ON\r\nCH2: OFF\r\n") == {1: True, 2: False}
    assert parse_states(b"\x01\x00\x00\x01") == {1: True, 2: False, 3: False, 4: True}
    assert parse_states(b"") is None
    with pytest.raises(ProtocolError):
        parse_states(b"Welcome to some other firmware v2\r\n")


def test_lcus_switches_and_reads_back(emulators) -> None:
    board = emulators.lcus(4)
    with LcusRelay(board.port) as r:
        assert r.channels == 4 and r.answers_queries
        r.on(3)
        r.off(1)
        assert r.states() == {1: False, 2: False, 3: True, 4: False}
    assert board.switches == [(3, True), (1, False)]
    assert board.states[3] is True


def test_lcus_cycle_honours_polarity(emulators) -> None:
    board = emulators.lcus(2)
    with LcusRelay(board.port) as r:
        r.cycle(2, hold=0.01, polarity="nc")  # fed through NC: on cuts the power
        r.cycle(1, hold=0.01, polarity="no")  # fed through NO: off cuts the power
        with pytest.raises(ValueError):
            r.cycle(1, 0, polarity="sideways")  # type: ignore[arg-type]
    assert board.switches == [(2, True), (2, False), (1, False), (1, True)]


def test_lcus_channel_out_of_range_is_refused_before_anything_is_sent(emulators) -> None:
    board = emulators.lcus(2)
    with LcusRelay(board.port) as r, pytest.raises(DeviceRefused, match="channels 1..2, not 3"):
        r.on(3)
    assert board.switches == []


def test_lcus_board_that_does_not_answer_queries(emulators) -> None:
    board = emulators.lcus(1, answer_queries=False)
    with LcusRelay(board.port, timeout=0.2) as r:
        assert not r.answers_queries and r.states() is None
        r.on(1)  # not verifiable, still sent
    eventually(lambda: board.switches == [(1, True)])
    assert LcusRelay.probe(board.port) is None  # never claimed by discovery: could be any CH340


def test_lcus_wired_to_a_drive(emulators, make_model) -> None:
    drive = SimDrive(load_model(make_model(bad=0)))
    board = emulators.lcus(4)
    board.wire(2, drive, "nc")
    with LcusRelay(board.port) as r:
        r.on(2)
        assert not drive.powered
        r.off(2)
        assert drive.powered and drive.stats.power_cycles == 1


def test_lcus_faults_give_one_clear_error_and_never_hang(emulators) -> None:
    with pytest.raises(DeviceNotFound, match="no such port"):
        LcusRelay("/dev/ttyNOPE9")
    board = emulators.lcus(2)
    r = LcusRelay(board.port, timeout=0.3)
    board.mute = True  # stops answering: a switch can no longer be confirmed
    with pytest.raises(DeviceTimeout, match="stopped answering"):
        bounded(lambda: r.on(1), 5)
    board.unplug()
    with pytest.raises(DeviceGone):
        bounded(lambda: r.off(1), 5)
    r.close()


# -- DCTTECH --------------------------------------------------------------------------------------------


class OtherVusbGadget(VirtualDevice):
    """Shares 16C0:05DF, as countless V-USB projects do, but is no relay board."""

    vid, pid = 0x16C0, 0x05DF
    product = "LED badge"
    serial = "X1"


def test_dcttech_feature_reports_are_exact() -> None:
    board = DcttechDevice(2, "QAAMZ")
    b = virtual_backend(board)
    with DcttechRelay("QAAMZ", backend=b) as r:
        assert (r.channels, r.serial) == (2, "QAAMZ")
        r.on(2)
        r.off(2)
        r.all(True)
        assert r.states() == {1: True, 2: True}
        r.all(False)
    assert board.reports == [
        bytes.fromhex("FF02000000000000"),
        bytes.fromhex("FD02000000000000"),
        bytes.fromhex("FE00000000000000"),
        bytes.fromhex("FC00000000000000"),
    ]


def test_dcttech_choice_among_boards_and_other_gadgets() -> None:
    a, c = DcttechDevice(2, "AAAAA"), DcttechDevice(8, "CCCCC")
    b = virtual_backend(OtherVusbGadget(), a, c)
    found = DcttechRelay.discover(backend=b)
    assert sorted((d.port, d.model) for d in found) == [("AAAAA", "USBRelay2"), ("CCCCC", "USBRelay8")]
    with DcttechRelay("CCCCC", backend=b) as r:
        assert r.channels == 8
        r.on(8)
    assert c.mask == 0x80 and a.mask == 0
    with pytest.raises(DeviceNotFound, match="2 USBRelay boards are plugged in"):
        DcttechRelay("", backend=b)
    with pytest.raises(DeviceNotFound, match="no USBRelay board 'ZZZZZ'"):
        DcttechRelay("ZZZZZ", backend=b)
    with pytest.raises(DeviceNotFound, match="no USBRelay board is plugged in"):
        DcttechRelay("", backend=virtual_backend(OtherVusbGadget()))


def test_dcttech_faults() -> None:
    board = DcttechDevice(2)
    b = virtual_backend(board)
    r = DcttechRelay("", backend=b)
    with pytest.raises(DeviceRefused):
        r.on(3)
    board.mute = True
    with pytest.raises(DeviceTimeout):
        bounded(lambda: r.on(1), 5)
    board.mute = False
    b.unplug(board)
    with pytest.raises(DeviceGone, match="unplugged"):
        r.on(1)
    r.close()


def test_dcttech_cycle_power_cycles_a_wired_drive(make_model) -> None:
    drive = SimDrive(load_model(make_model(bad=0)))
    board = DcttechDevice(2)
    board.wire(1, drive, "no")
    b = virtual_backend(board)
    with DcttechRelay("", backend=b) as r:
        r.on(1)  # NO wiring: the drive has power while the relay is on
        assert drive.powered
        r.cycle(1, hold=0.01, polarity="no")
    assert drive.powered and drive.stats.power_cycles == 1


def test_no_libusb_is_one_clear_line() -> None:
    try:
        usb.core.find()
    except usb.core.NoBackendError:
        pass
    else:
        pytest.skip("libusb is installed here")
    with pytest.raises(DeviceNotFound, match="no USB backend: install libusb"):
        DcttechRelay("")
    assert errno.ENODEV  # (the virtual backend reports unplugging with ENODEV, as libusb does)
