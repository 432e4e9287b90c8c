"""`lcus`: LCUS-1/2/4/8 USB relay boards (a CH340 USB-serial chip, 9600 8N1).

Frames are four bytes: A0, channel, state, (A0 + channel + state) & FF; channel 1 on is
A0 01 01 A2, off is A0 01 00 A1.  A lone FF asks for the states; boards answer with lines
like "CH1: OFF" (LCUS-2/4/8; some answer one byte per channel, some not at all).  Boards do
not acknowledge a switch, so after each one we ask for the states when the board answers
queries, and refuse to pretend a relay switched when it did not.

The CH340's 1A86:7523 is shared by countless boards, so discovery only claims a port whose
board answers the state query.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any, ClassVar

from drivers.serialport import close_quietly, open_serial, read_some, write_all
from station.hw.api import DeviceInfo, DeviceRefused, DeviceTimeout, DriverError, PowerDriver, ProtocolError

MAX_CHANNELS = 8
_STATE_LINE = re.compile(rb"CH(\d+)\s*:\s*(ON|OFF)", re.IGNORECASE)


def frame(channel: int, on: bool) -> bytes:
    """The 4-byte command switching one relay."""
    state = 1 if on else 0
    return bytes([0xA0, channel, state, (0xA0 + channel + state) & 0xFF])


def parse_states(reply: bytes) -> dict[int, bool] | None:
    """A state reply -> {channel: on}; None if it is not one (ProtocolError if it is garbage)."""
    if not reply:
        return None
    found = _STATE_LINE.findall(reply)
    if found:
        return {int(ch): st.upper() == b"ON" for ch, st in found}
    if len(reply) <= MAX_CHANNELS and all(b in (0, 1) for b in reply):  # one byte per channel
        return {i + 1: b == 1 for i, b in enumerate(reply)}
    raise ProtocolError(f"unexpected answer to the state query: {reply[:24].hex(' ')}")


class LcusRelay(PowerDriver):
    """One LCUS board on a serial port."""

    name: ClassVar[str] = "lcus"
    usb_ids: ClassVar[tuple[tuple[int, int], ...]] = ((0x1A86, 0x7523),)

    def __init__(self, port: str, *, channels: int | None = None, timeout: float = 0.5) -> None:
        self.port = port
        self.timeout = timeout
        self._ser = open_serial(port, 9600, what="relay board")
        try:
            self._ser.reset_input_buffer()
            states = self.states()
        except BaseException:
            close_quietly(self._ser)
            raise
        self.answers_queries = states is not None
        self._channels = channels or (max(states) if states else MAX_CHANNELS)

    @property
    def channels(self) -> int:
        return self._channels

    def close(self) -> None:
        close_quietly(self._ser)

    def states(self) -> dict[int, bool] | None:
        write_all(self._ser, b"\xff", f"lcus on {self.port}")
        return parse_states(self._read_reply())

    def _read_reply(self) -> bytes:
        """Bytes until the board has been quiet for 50 ms (or the timeout)."""
        deadline = time.monotonic() + self.timeout
        got = b""
        while time.monotonic() < deadline:
            quiet = min(deadline, time.monotonic() + 0.05) if got else deadline
            data = read_some(self._ser, quiet, f"lcus on {self.port}")
            if not data:
                if got:
                    break
                continue
            got += data
        return got

    def set(self, channel: int, on: bool) -> None:
        self.check_channel(channel)
        write_all(self._ser, frame(channel, on), f"lcus on {self.port}")
        if not self.answers_queries:
            time.sleep(0.05)  # let the 4 bytes leave (9600 baud) before anyone closes the port
            return
        time.sleep(0.02)  # the relay's own switching time
        states = self.states()
        if states is None:
            raise DeviceTimeout(
                f"lcus on {self.port}: the board stopped answering after switching relay {channel}"
            )
        if states.get(channel) != on:
            raise DeviceRefused(
                f"lcus on {self.port}: relay {channel} did not switch {'on' if on else 'off'}"
            )

    @classmethod
    def discover(cls, ports: Iterable[Any] | None = None) -> list[DeviceInfo]:
        if ports is None:
            from serial.tools.list_ports import comports

            ports = comports()
        found = []
        for p in ports:
            if (getattr(p, "vid", None), getattr(p, "pid", None)) not in cls.usb_ids:
                continue
            info = cls.probe(p.device, vid=p.vid, pid=p.pid, serial=getattr(p, "serial_number", None))
            if info is not None:
                found.append(info)
        return found

    @classmethod
    def probe(cls, port: str, **ids: Any) -> DeviceInfo | None:
        """An LCUS board answers the state query; a board that does not is not claimed (it may be
        an LCUS-1, or any other CH340 gadget)."""
        try:
            with cls(port, timeout=0.3) as board:
                if not board.answers_queries:
                    return None
                states = board.states() or {}
        except DriverError:
            return None
        desc = f"LCUS-{board.channels} relay board ({sum(states.values())} of {board.channels} on)"
        return DeviceInfo(cls.name, cls.kind, port, desc, model=f"LCUS-{board.channels}", probed=True, **ids)
