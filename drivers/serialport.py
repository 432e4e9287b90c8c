"""pyserial with Station's rules: every read has a deadline, every failure is one clear line."""

from __future__ import annotations

import errno
import time
from typing import Any

from station.hw.api import DeviceGone, DeviceNotFound, DeviceTimeout


def open_serial(port: str, baudrate: int, *, what: str = "device") -> Any:
    """Open a serial port exclusively (8N1, no flow control); DeviceNotFound if it cannot be."""
    import serial

    try:
        return serial.Serial(port, baudrate, timeout=0.1, write_timeout=2.0, exclusive=True)
    except serial.SerialException as e:
        code = getattr(e, "errno", None)
        if code == errno.ENOENT:
            raise DeviceNotFound(f"{port}: no such port (is the {what} plugged in?)") from None
        if code in (errno.EACCES, errno.EPERM):
            raise DeviceNotFound(
                f"{port}: permission denied (join the dialout group, or run as root)"
            ) from None
        if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK):
            raise DeviceNotFound(f"{port}: in use by another program") from None
        reason = getattr(e, "strerror", None) or str(e)
        raise DeviceNotFound(f"{port}: cannot open it ({reason})") from None
    except (OSError, ValueError) as e:
        raise DeviceNotFound(f"{port}: cannot open it ({e})") from None


def read_some(ser: Any, deadline: float, where: str) -> bytes:
    """Whatever arrives before the deadline (at least one byte if any comes); b'' on timeout."""
    import serial

    left = deadline - time.monotonic()
    if left <= 0:
        return b""
    try:
        ser.timeout = min(left, 0.25)
        waiting = ser.in_waiting
        return ser.read(max(1, waiting))
    except (serial.SerialException, OSError) as e:
        raise DeviceGone(f"{where}: the device went away ({_why(e)})") from None


def write_all(ser: Any, data: bytes, where: str) -> None:
    import serial

    try:
        ser.write(data)  # write_timeout bounds it; no tcdrain, which a wedged port can hold
    except serial.SerialTimeoutException:
        raise DeviceTimeout(f"{where}: the device does not take our writes") from None
    except (serial.SerialException, OSError) as e:
        raise DeviceGone(f"{where}: the device went away ({_why(e)})") from None


def _why(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e)
    if "readiness to read" in text:  # pyserial's words for a port whose other end closed
        return "the port closed"
    return text.replace("[Errno 5] ", "")


def close_quietly(ser: Any) -> None:
    try:
        ser.close()
    except Exception:
        pass
