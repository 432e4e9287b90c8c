"""`dcttech`: "USBRelay" HID relay boards (16C0:05DF, product string USBRelayN), through pyusb.

Everything is an 8-byte HID feature report on the control endpoint:
  SET_REPORT (bmRequestType 0x21, bRequest 0x09, wValue 0x0300): FF n = relay n on,
      FD n = relay n off, FE = all on, FC = all off;
  GET_REPORT (0xA1, 0x01, 0x0300): bytes 0-4 the board's serial, byte 7 the state bitmask.
16C0:05DF is V-USB's shared HID ID, so a device is only taken for a relay board when its
product string says USBRelayN and it answers GET_REPORT.  The board's "port" is its 5-char
serial (as the usbrelay tools name boards), BUS:ADDRESS, or "" for the only one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from drivers.usbio import bus_address, find_devices, select, usb_errors, usb_string
from station.hw.api import DeviceInfo, DeviceRefused, DriverError, PowerDriver, ProtocolError

SET_REPORT = (0x21, 0x09, 0x0300)
GET_REPORT = (0xA1, 0x01, 0x0300)
_PRODUCT = re.compile(r"USBRelay([1-8])\Z")


def _product_channels(dev: Any) -> int | None:
    m = _PRODUCT.match(usb_string(dev, "product") or "")
    return int(m.group(1)) if m else None


class DcttechRelay(PowerDriver):
    name: ClassVar[str] = "dcttech"
    usb_ids: ClassVar[tuple[tuple[int, int], ...]] = ((0x16C0, 0x05DF),)

    def __init__(self, port: str = "", *, backend: Any = None, timeout: float = 0.5) -> None:
        self.timeout_ms = int(timeout * 1000)
        boards = [d for d in find_devices(self.usb_ids, backend) if _product_channels(d)]
        serials = {id(d): _board_serial(d, self.timeout_ms) for d in boards}
        self._dev = select(boards, port, "USBRelay board", serial_of=lambda d: serials.get(id(d)))
        self._channels = _product_channels(self._dev) or 1
        self.port = serials.get(id(self._dev)) or bus_address(self._dev)
        with usb_errors(self._where()):
            try:
                if self._dev.is_kernel_driver_active(0):  # usbhid holds real boards
                    self._dev.detach_kernel_driver(0)
            except NotImplementedError:
                pass
        self.serial = self._report()[:5].rstrip(b"\0").decode("ascii", "replace")

    def _where(self) -> str:
        return f"dcttech {getattr(self, 'port', '?')}"

    @property
    def channels(self) -> int:
        return self._channels

    def close(self) -> None:
        import usb.util

        try:
            usb.util.dispose_resources(self._dev)
        except Exception:
            pass

    def _report(self) -> bytes:
        with usb_errors(self._where()):
            data = bytes(self._dev.ctrl_transfer(*GET_REPORT, 0, 8, self.timeout_ms))
        if len(data) != 8:
            raise ProtocolError(f"{self._where()}: GET_REPORT gave {len(data)} bytes, not 8")
        return data

    def _send(self, *report: int) -> None:
        data = bytes(report).ljust(8, b"\0")
        with usb_errors(self._where()):
            self._dev.ctrl_transfer(*SET_REPORT, 0, data, self.timeout_ms)

    def states(self) -> dict[int, bool]:
        mask = self._report()[7]
        return {ch: bool(mask >> (ch - 1) & 1) for ch in range(1, self.channels + 1)}

    def set(self, channel: int, on: bool) -> None:
        self.check_channel(channel)
        self._send(0xFF if on else 0xFD, channel)
        if self.states().get(channel) != on:
            raise DeviceRefused(f"{self._where()}: relay {channel} did not switch {'on' if on else 'off'}")

    def all(self, on: bool) -> None:
        self._send(0xFE if on else 0xFC)

    @classmethod
    def discover(cls, ports: Iterable[Any] | None = None, *, backend: Any = None) -> list[DeviceInfo]:
        found = []
        for d in find_devices(cls.usb_ids, backend):  # DeviceNotFound (no libusb) is reported
            n = _product_channels(d)
            serial = _board_serial(d, 300) if n else None
            if not n or serial is None:
                continue  # another V-USB gadget
            found.append(
                DeviceInfo(cls.name, cls.kind, serial or bus_address(d), f"USBRelay{n} HID relay board",
                           vid=d.idVendor, pid=d.idProduct, serial=serial, model=f"USBRelay{n}", probed=True)
            )  # fmt: skip
        return found


def _board_serial(dev: Any, timeout_ms: int) -> str | None:
    """The 5-char serial from GET_REPORT, None if the device does not answer like a relay board."""
    try:
        with usb_errors("dcttech"):
            data = bytes(dev.ctrl_transfer(*GET_REPORT, 0, 8, timeout_ms))
    except DriverError:
        return None
    if len(data) != 8:
        return None
    return data[:5].rstrip(b"\0").decode("ascii", "replace")
