"""Why SMART could not be read: one exception per cause, each message one line for the technician.

Apart from `smart` so that `smartctl` (the pySMART wrapper) and `smart` (the readings) both use
them without importing each other.
"""

from __future__ import annotations


class SmartError(Exception):
    """SMART could not be read; the message is one line for the technician."""


class SmartctlMissing(SmartError):
    pass


class DeviceNotFound(SmartError):
    pass


class PermissionDenied(SmartError):
    pass


class SmartTimeout(SmartError):
    pass


class SmartCancelled(SmartError):
    pass


class NotADrive(SmartError):
    """smartctl opened the path but cannot talk SMART to it (a file, a loop device, a bridge)."""
