"""A virtual pyusb backend, and the USB devices the built-in drivers talk to, behind it.

`VirtualBackend` is a `usb.backend.IBackend`: pass it to `usb.core.find(backend=...)` (the
drivers take a `backend=` setting) and pyusb sees the devices plugged into it with their
descriptors, string descriptors, configuration, interfaces and endpoints, exactly as it sees
real ones through libusb.  Transfers have libusb's semantics: a read with nothing to read
waits for its timeout and raises USBTimeoutError; an unplugged device raises USBError with
errno ENODEV.

Devices:
  UsbImagerDevice   the Station USB imager (vendor class, bulk EP 0x01 OUT / 0x81 IN) running
                    the emulated imager firmware (drivers.emulate.imager)
  DcttechDevice     a "USBRelay2" HID board (16C0:05DF): feature reports by control transfer
"""

from __future__ import annotations

import errno
import random
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import usb.backend
import usb.core

from drivers.emulate.imager import ImagerCore
from drivers.emulate.serial_imager import Fault
from drivers.imager_proto import USB_CMD, usb_decode_command, usb_encode_reply
from station.sim.drive import SimDrive

BULK, INTERRUPT = 2, 3


def _gone() -> usb.core.USBError:
    return usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)


def _timeout() -> usb.core.USBError:
    return usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)


@dataclass
class Endpoint:
    address: int
    kind: int = BULK
    max_packet: int = 512


@dataclass
class Interface:
    cls: int
    subclass: int = 0
    protocol: int = 0
    endpoints: list[Endpoint] = field(default_factory=list)


class VirtualDevice:
    """What a device is to the backend: descriptors, strings and its handlers of requests."""

    vid = 0
    pid = 0
    bcd_device = 0x0100
    manufacturer = ""
    product = ""
    serial = ""
    interfaces: list[Interface] = []

    def control_in(self, request_type: int, request: int, value: int, index: int, length: int) -> bytes:
        raise usb.core.USBError("Pipe error", -9, errno.EPIPE)  # a STALL, as devices answer the unknown

    def control_out(self, request_type: int, request: int, value: int, index: int, data: bytes) -> int:
        raise usb.core.USBError("Pipe error", -9, errno.EPIPE)

    def bulk_out(self, ep: int, data: bytes, timeout: float) -> int:
        raise usb.core.USBError("Pipe error", -9, errno.EPIPE)

    def bulk_in(self, ep: int, size: int, timeout: float) -> bytes:
        raise usb.core.USBError("Pipe error", -9, errno.EPIPE)


class VirtualBackend(usb.backend.IBackend):
    """Devices plugged into a virtual bus.  Not shared: each backend object is its own bus."""

    def __init__(self, devices: list[VirtualDevice] | tuple = ()) -> None:
        super().__init__()
        self._devices: list[VirtualDevice] = []
        self._addresses: dict[int, int] = {}
        self._next_address = 2
        for d in devices:
            self.plug(d)

    def plug(self, dev: VirtualDevice) -> None:
        self._devices.append(dev)
        self._addresses[id(dev)] = self._next_address  # a new address each time, as the host gives
        self._next_address += 1

    def unplug(self, dev: VirtualDevice) -> None:
        if dev in self._devices:
            self._devices.remove(dev)

    def _check(self, dev: VirtualDevice) -> VirtualDevice:
        if dev not in self._devices:
            raise _gone()
        return dev

    # -- enumeration and descriptors ---------------------------------------------------------------

    def enumerate_devices(self):
        return list(self._devices)

    def get_parent(self, dev):
        return None

    def get_device_descriptor(self, dev):
        addr = self._addresses[id(dev)]
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=dev.vid, idProduct=dev.pid,
            bcdDevice=dev.bcd_device, iManufacturer=1 if dev.manufacturer else 0,
            iProduct=2 if dev.product else 0, iSerialNumber=3 if dev.serial else 0,
            bNumConfigurations=1, bus=1, address=addr, port_number=addr - 1,
            port_numbers=(addr - 1,), speed=3,
        )  # fmt: skip

    def get_configuration_descriptor(self, dev, config):
        if config != 0:
            raise IndexError("no such configuration")
        n_ep = sum(len(i.endpoints) for i in dev.interfaces)
        return SimpleNamespace(
            bLength=9, bDescriptorType=2, wTotalLength=9 + 9 * len(dev.interfaces) + 7 * n_ep,
            bNumInterfaces=len(dev.interfaces), bConfigurationValue=1, iConfiguration=0,
            bmAttributes=0x80, bMaxPower=50, extra_descriptors=[],
        )  # fmt: skip

    def get_interface_descriptor(self, dev, intf, alt, config):
        if alt != 0 or not 0 <= intf < len(dev.interfaces):
            raise IndexError("no such interface")
        i = dev.interfaces[intf]
        return SimpleNamespace(
            bLength=9, bDescriptorType=4, bInterfaceNumber=intf, bAlternateSetting=0,
            bNumEndpoints=len(i.endpoints), bInterfaceClass=i.cls, bInterfaceSubClass=i.subclass,
            bInterfaceProtocol=i.protocol, iInterface=0, extra_descriptors=[],
        )  # fmt: skip

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        e = dev.interfaces[intf].endpoints[ep]
        return SimpleNamespace(
            bLength=7, bDescriptorType=5, bEndpointAddress=e.address, bmAttributes=e.kind,
            wMaxPacketSize=e.max_packet, bInterval=0 if e.kind == BULK else 10, bRefresh=0,
            bSynchAddress=0, extra_descriptors=[],
        )  # fmt: skip

    # -- handles ------------------------------------------------------------------------------------

    def open_device(self, dev):
        return SimpleNamespace(dev=self._check(dev), config=0)

    def close_device(self, dev_handle):
        pass

    def set_configuration(self, dev_handle, config_value):
        self._check(dev_handle.dev)
        dev_handle.config = config_value

    def get_configuration(self, dev_handle):
        self._check(dev_handle.dev)
        return dev_handle.config or 1

    def set_interface_altsetting(self, dev_handle, intf, altsetting):
        self._check(dev_handle.dev)

    def claim_interface(self, dev_handle, intf):
        self._check(dev_handle.dev)

    def release_interface(self, dev_handle, intf):
        pass

    def is_kernel_driver_active(self, dev_handle, intf):
        return False

    def detach_kernel_driver(self, dev_handle, intf):
        pass

    def attach_kernel_driver(self, dev_handle, intf):
        pass

    def clear_halt(self, dev_handle, ep):
        self._check(dev_handle.dev)

    def reset_device(self, dev_handle):
        self._check(dev_handle.dev)

    # -- transfers ----------------------------------------------------------------------------------

    def bulk_write(self, dev_handle, ep, intf, data, timeout):
        return self._check(dev_handle.dev).bulk_out(ep, bytes(data), timeout / 1000)

    def bulk_read(self, dev_handle, ep, intf, buff, timeout):
        got = self._check(dev_handle.dev).bulk_in(ep, len(buff), timeout / 1000)
        buff[: len(got)] = array("B", got)
        return len(got)

    intr_write = bulk_write
    intr_read = bulk_read

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
        dev = self._check(dev_handle.dev)
        if bmRequestType & 0x80:  # IN
            if bmRequestType == 0x80 and bRequest == 6 and wValue >> 8 == 3:  # GET_DESCRIPTOR string
                out = self._string(dev, wValue & 0xFF)
            else:
                out = dev.control_in(bmRequestType, bRequest, wValue, wIndex, len(data))
            out = out[: len(data)]
            data[: len(out)] = array("B", out)
            return len(out)
        return dev.control_out(bmRequestType, bRequest, wValue, wIndex, bytes(data))

    @staticmethod
    def _string(dev: VirtualDevice, index: int) -> bytes:
        if index == 0:
            return bytes([4, 3, 0x09, 0x04])  # LANGID en-US
        text = {1: dev.manufacturer, 2: dev.product, 3: dev.serial}.get(index)
        if not text:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        raw = text.encode("utf-16-le")
        return bytes([2 + len(raw), 3]) + raw


# -- the Station USB imager ------------------------------------------------------------------------------

USB_IMAGER_ID = (0x1209, 0x5349)  # see docs/protocols/usb-imager.md
EP_OUT, EP_IN = 0x01, 0x81


class UsbImagerDevice(VirtualDevice):
    """The emulated imager firmware behind bulk endpoints (docs/protocols/usb-imager.md)."""

    vid, pid = USB_IMAGER_ID
    bcd_device = 0x0210
    manufacturer = "Station"
    product = "SI-2U USB imager (emulated)"

    def __init__(
        self, core: ImagerCore, *, serial: str | None = None, faults: list[Fault] | tuple = ()
    ) -> None:
        self.core = core
        self.serial = serial or core.serial
        self.interfaces = [Interface(0xFF, 0, 0, [Endpoint(EP_OUT), Endpoint(EP_IN)])]
        self.faults = list(faults)
        self.backend: VirtualBackend | None = None  # set to let an 'unplug' fault pull the device
        self._out = bytearray()
        self._in = bytearray()
        self._cond = threading.Condition()
        self._last_tag: int | None = None
        self._last_reply = b""
        self._job_started: float | None = None
        self._rng = random.Random(11)

    def _active(self, kind: str) -> bool:
        if self._job_started is None:
            return any(f.kind == kind and f.after == 0 and kind != "unplug" for f in self.faults)
        return any(f.kind == kind and time.monotonic() - self._job_started >= f.after for f in self.faults)

    def _maybe_unplug(self) -> None:
        if self._job_started is not None and self._active("unplug") and self.backend is not None:
            self.backend.unplug(self)
            raise _gone()

    def bulk_out(self, ep: int, data: bytes, timeout: float) -> int:
        if ep != EP_OUT:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        self._maybe_unplug()
        self._out += data
        while len(self._out) >= USB_CMD.size:
            n = USB_CMD.size + USB_CMD.unpack_from(self._out)[4]
            if self._out[:4] != b"SIUC" or n > 1 << 20:
                self._out.clear()  # lost sync: a real device would stall; start over
                break
            if len(self._out) < n:
                break
            block = bytes(self._out[:n])
            del self._out[:n]
            self._command(block)
        return len(data)

    def _command(self, block: bytes) -> None:
        if self._active("mute"):
            return
        if self._active("garbage"):
            self._queue(bytes(self._rng.randrange(256) for _ in range(48)))
            return
        try:
            tag, verb, args, fields = usb_decode_command(block)
        except ValueError:
            return
        if tag == self._last_tag:
            self._queue(self._last_reply)
            return
        if self._active("unknown"):
            from drivers.imager_proto import Item, Reply

            self._queue(usb_encode_reply(tag, Reply(True, {}, [Item("WHAT", [], {"firmware": "9.9"})])))
            return
        reply = self.core.handle(verb, args, fields)
        if verb == "START" and reply.ok and self._job_started is None:
            self._job_started = time.monotonic()
        out = usb_encode_reply(tag, reply)
        self._last_tag, self._last_reply = tag, out
        self._queue(out)

    def _queue(self, data: bytes) -> None:
        with self._cond:
            self._in += data
            self._cond.notify_all()

    def bulk_in(self, ep: int, size: int, timeout: float) -> bytes:
        if ep != EP_IN:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        self._maybe_unplug()
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._in), timeout if timeout > 0 else None):
                raise _timeout()
            out = bytes(self._in[:size])
            del self._in[:size]
            return out


# -- DCTTECH USBRelay HID board ---------------------------------------------------------------------


class DcttechDevice(VirtualDevice):
    """A "USBRelayN" HID board: feature reports through SET_REPORT / GET_REPORT control requests."""

    vid, pid = 0x16C0, 0x05DF
    manufacturer = "www.dcttech.com"

    def __init__(
        self, channels: int = 2, serial: str = "QAAMZ", on_change: Callable[[int, bool], None] | None = None
    ):
        if not 1 <= channels <= 8:
            raise ValueError("USBRelay boards have 1 to 8 channels")
        self.product = f"USBRelay{channels}"
        self.channels = channels
        self.board_serial = serial.encode("ascii")[:5].ljust(5, b"\0")
        self.mask = 0
        self.on_change = on_change
        self.mute = False
        self.reports: list[bytes] = []  # every SET_REPORT, for tests
        self.interfaces = [Interface(3, 0, 0, [Endpoint(0x81, INTERRUPT, 8)])]

    def control_out(self, request_type: int, request: int, value: int, index: int, data: bytes) -> int:
        if self.mute:
            raise _timeout()
        if (request_type, request, value) != (0x21, 0x09, 0x0300) or len(data) < 2:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        self.reports.append(bytes(data))
        cmd, n = data[0], data[1]
        old = self.mask
        if cmd in (0xFF, 0xFD):
            if not 1 <= n <= self.channels:
                return len(data)  # the boards ignore channels they do not have
            bit = 1 << (n - 1)
            self.mask = self.mask | bit if cmd == 0xFF else self.mask & ~bit
        elif cmd == 0xFE:
            self.mask = (1 << self.channels) - 1
        elif cmd == 0xFC:
            self.mask = 0
        elif cmd == 0xFA:
            self.board_serial = bytes(data[1:6])
        for ch in range(1, self.channels + 1):
            bit = 1 << (ch - 1)
            if (old ^ self.mask) & bit and self.on_change is not None:
                self.on_change(ch, bool(self.mask & bit))
        return len(data)

    def control_in(self, request_type: int, request: int, value: int, index: int, length: int) -> bytes:
        if self.mute:
            raise _timeout()
        if (request_type, request, value) != (0xA1, 0x01, 0x0300):
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        return self.board_serial + bytes([0, 0, self.mask])

    def wire(self, channel: int, drive: SimDrive, polarity: str = "nc") -> None:
        """Feed the drive's power through `channel` (nc: relay on = power off; no: the reverse)."""

        def change(ch: int, on: bool) -> None:
            if ch == channel:
                powered = (not on) if polarity == "nc" else on
                (drive.power_on if powered else drive.power_off)()

        self.on_change = change


def virtual_backend(*devices: Any) -> VirtualBackend:
    """A backend with these devices plugged in (each learns its backend, for 'unplug' faults)."""
    b = VirtualBackend(devices)
    for d in devices:
        if hasattr(d, "backend"):
            d.backend = b
    return b
