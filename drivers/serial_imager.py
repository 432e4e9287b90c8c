"""`serial-imager`: an imager speaking the Station imager protocol over a serial line.

Protocol: docs/protocols/serial-imager.md.  The emulator (`station emulate imager`) is
drivers.emulate.serial_imager.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, ClassVar

from drivers.imager_link import LinkImager
from drivers.imager_proto import DATA_VERBS, FrameReader, Item, Reply, encode_frame, format_body, parse_body
from drivers.serialport import close_quietly, open_serial, read_some, write_all
from station.hw.api import DeviceInfo, DriverError, ProtocolError


class SerialImager(LinkImager):
    """A Station-protocol imager on a serial port (USB CDC, FTDI, CH340... or an emulator's pty)."""

    name: ClassVar[str] = "serial-imager"
    # USB-serial bridges such imagers are built with; each is shared with countless other boards.
    usb_ids: ClassVar[tuple[tuple[int, int], ...]] = (
        (0x0403, 0x6001),  # FTDI FT232R
        (0x0403, 0x6015),  # FTDI FT231X
        (0x1A86, 0x7523),  # CH340
        (0x10C4, 0xEA60),  # CP210x
    )

    def __init__(self, port: str, *, baudrate: int = 115200, timeout: float = 1.0, retries: int = 2) -> None:
        super().__init__(port, timeout=timeout, retries=retries)
        self._ser = open_serial(port, baudrate, what="imager")
        self._frames = FrameReader()
        try:
            self._ser.reset_input_buffer()
            self.describe()  # an open imager is one that answered HELLO with a firmware we speak
        except BaseException:
            close_quietly(self._ser)
            raise

    def close(self) -> None:
        close_quietly(self._ser)

    def _transact(
        self, tag: int, verb: str, args: list[str], fields: dict[str, str], deadline: float
    ) -> Reply | None:
        write_all(self._ser, encode_frame(format_body(tag, verb, args, fields)), self._where())
        want = DATA_VERBS.get(verb)
        items: list[Item] = []
        while time.monotonic() < deadline:
            data = read_some(self._ser, deadline, self._where())
            if not data:
                continue
            before = self._frames.garbage
            bodies = self._frames.feed(data)
            self._noise += self._frames.garbage - before
            for body in bodies:
                try:
                    t, v, a, f = parse_body(body)
                except ValueError as e:
                    raise ProtocolError(f"{self._where()} sent a line we cannot read ({e})") from None
                if t != tag:
                    continue  # a late reply to an earlier try
                if v in ("OK", "ERR"):
                    return Reply(v == "OK", f, items)
                if v != want:
                    raise ProtocolError(f"{self._where()} sent an unknown reply {v!r} to {verb}")
                items.append(Item(v, a, f))
        return None

    @classmethod
    def discover(cls, ports: Iterable[Any] | None = None) -> list[DeviceInfo]:
        if ports is None:
            from serial.tools.list_ports import comports

            ports = comports()
        found = []
        for p in ports:
            if (getattr(p, "vid", None), getattr(p, "pid", None)) not in cls.usb_ids:
                continue
            info = cls.probe(p.device, vid=p.vid, pid=p.pid)
            if info is not None:
                found.append(info)
        return found

    @classmethod
    def probe(cls, port: str, **ids: Any) -> DeviceInfo | None:
        """Does a Station-protocol imager answer on this port?  A short HELLO, no retries."""
        try:
            with cls(port, timeout=0.4, retries=0) as dev:
                d = dev.describe()
        except DriverError:
            return None
        return DeviceInfo(
            cls.name, cls.kind, port, f"{d.vendor} {d.model}, firmware {d.firmware}",
            serial=d.serial, model=d.model, probed=True, **ids,
        )  # fmt: skip
