"""`usb-imager`: the Station imager protocol over USB bulk endpoints, through pyusb.

Protocol: docs/protocols/usb-imager.md (the command set of the serial imager, in binary
command and response blocks on EP 0x01 OUT / 0x81 IN).  Without hardware it runs against
drivers.emulate.usb.UsbImagerDevice on a VirtualBackend: `UsbImager(port, backend=...)`.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from typing import Any, ClassVar

from drivers.imager_link import LinkImager
from drivers.imager_proto import USB_RSP, Reply, usb_decode_reply, usb_encode_command, usb_response_length
from drivers.usbio import bus_address, find_devices, select, usb_errors, usb_string
from station.hw.api import DeviceInfo, DeviceNotFound, DriverError

EP_OUT, EP_IN = 0x01, 0x81
READ_CHUNK = 16384


class UsbImager(LinkImager):
    name: ClassVar[str] = "usb-imager"
    usb_ids: ClassVar[tuple[tuple[int, int], ...]] = ((0x1209, 0x5349),)

    def __init__(
        self, port: str = "", *, backend: Any = None, timeout: float = 1.0, retries: int = 2
    ) -> None:
        super().__init__(port, timeout=timeout, retries=retries)
        self._dev = select(find_devices(self.usb_ids, backend), port, "USB imager")
        self.port = usb_string(self._dev, "serial_number") or bus_address(self._dev)
        with usb_errors(self._where()):
            try:
                if self._dev.is_kernel_driver_active(0):
                    self._dev.detach_kernel_driver(0)
            except NotImplementedError:
                pass
            self._dev.set_configuration()
        self._pending = b""
        try:
            self.describe()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        import usb.util

        try:
            usb.util.dispose_resources(self._dev)
        except Exception:
            pass

    def _transact(
        self, tag: int, verb: str, args: list[str], fields: dict[str, str], deadline: float
    ) -> Reply | None:
        import usb.core

        with usb_errors(self._where()):
            self._dev.write(EP_OUT, usb_encode_command(tag, verb, args, fields), self._ms(deadline))
            buf = b""
            while True:
                left = self._ms(deadline)
                if left <= 0:
                    return None
                try:
                    buf += bytes(self._dev.read(EP_IN, READ_CHUNK, left))
                except usb.core.USBTimeoutError:
                    return None
                while len(buf) >= USB_RSP.size:
                    try:
                        need = usb_response_length(buf)
                    except (ValueError, struct.error):
                        self._noise += len(buf)  # not a response: drop it, the retry resends
                        buf = b""
                        break
                    if len(buf) < need:
                        break
                    block, buf = buf[:need], buf[need:]
                    try:
                        rtag, reply = usb_decode_reply(block)
                    except (ValueError, struct.error):
                        self._noise += len(block)
                        continue
                    if rtag == tag:
                        return reply

    @staticmethod
    def _ms(deadline: float) -> int:
        return max(0, int((deadline - time.monotonic()) * 1000))

    @classmethod
    def discover(cls, ports: Iterable[Any] | None = None, *, backend: Any = None) -> list[DeviceInfo]:
        try:
            devices = find_devices(cls.usb_ids, backend)
        except DeviceNotFound:
            return []  # no libusb: `station drivers` reports that once, from the USB relay driver
        found = []
        for d in devices:
            name = usb_string(d, "serial_number") or bus_address(d)
            try:
                with cls(name, backend=backend, timeout=0.4, retries=0) as im:
                    desc = im.describe()
            except DriverError:
                continue
            found.append(
                DeviceInfo(cls.name, cls.kind, name, f"{desc.vendor} {desc.model}, firmware {desc.firmware}",
                           vid=d.idVendor, pid=d.idProduct, serial=desc.serial, model=desc.model, probed=True)
            )  # fmt: skip
        return found
