"""pyusb with Station's rules: finding a device by port, timeouts everywhere, one-line errors.

A USB device's "port" here is its serial number (stable when it is plugged elsewhere), or
BUS:ADDRESS, or "" / "auto" for the only device of its kind.  Every driver takes a `backend`
setting (a usb.backend.IBackend): None lets pyusb find libusb, tests and emulators pass
drivers.emulate.usb.VirtualBackend.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from typing import Any

from station.hw.api import DeviceGone, DeviceNotFound, DeviceRefused, DeviceTimeout, DriverError


def find_devices(ids: tuple[tuple[int, int], ...], backend: Any = None) -> list[Any]:
    """Attached devices with one of the (VID, PID) pairs; DeviceNotFound if USB cannot be listed."""
    import usb.core

    try:
        return list(
            usb.core.find(
                find_all=True, backend=backend, custom_match=lambda d: (d.idVendor, d.idProduct) in ids
            )
        )
    except usb.core.NoBackendError:
        raise DeviceNotFound(
            "no USB backend: install libusb-1.0 (Debian: apt install libusb-1.0-0)"
        ) from None
    except usb.core.USBError as e:
        raise DeviceNotFound(f"cannot list USB devices ({e.strerror or e})") from None


def usb_string(dev: Any, attr: str) -> str | None:
    """A string descriptor, or None if the device will not give it (permissions, none)."""
    try:
        return getattr(dev, attr)
    except (ValueError, NotImplementedError, Exception):  # pyusb raises ValueError without access
        return None


def bus_address(dev: Any) -> str:
    return f"{dev.bus}:{dev.address}"


def select(
    devices: list[Any], port: str, what: str, serial_of=lambda d: usb_string(d, "serial_number")
) -> Any:
    """The device named by `port` among `devices` (see the module doc); DeviceNotFound if none."""
    if port in ("", "auto", "*"):
        if len(devices) == 1:
            return devices[0]
        if not devices:
            raise DeviceNotFound(f"no {what} is plugged in")
        names = ", ".join(serial_of(d) or bus_address(d) for d in devices)
        raise DeviceNotFound(f"{len(devices)} {what}s are plugged in ({names}): name one")
    for d in devices:
        if port == bus_address(d) or port == serial_of(d):
            return d
    raise DeviceNotFound(f"no {what} {port!r} is plugged in")


@contextlib.contextmanager
def usb_errors(where: str) -> Iterator[None]:
    """Turn pyusb's errors into DriverErrors that say what to do."""
    import usb.core

    try:
        yield
    except usb.core.USBTimeoutError:
        raise DeviceTimeout(f"{where}: the device is not answering") from None
    except usb.core.USBError as e:
        code = e.errno
        if code in (errno.ENODEV, errno.ENOENT, errno.ESHUTDOWN):
            raise DeviceGone(f"{where}: the device went away (unplugged?)") from None
        if code == errno.ETIMEDOUT:
            raise DeviceTimeout(f"{where}: the device is not answering") from None
        if code in (errno.EACCES, errno.EPERM):
            raise DeviceNotFound(f"{where}: permission denied (a udev rule, or run as root)") from None
        if code == errno.EPIPE:
            raise DeviceRefused(f"{where}: the device refused the request (stall)") from None
        raise DriverError(f"{where}: USB error: {e.strerror or e}") from None
