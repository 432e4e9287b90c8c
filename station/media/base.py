"""What the engine needs from a source and a sink, and the errors that refuse a job.

Sources are read-only by construction: nothing here has a write method.  Every sink is
opened through checks that prove it is not the source (see station.media.safety).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from station.core.identity import SourceIdentity


class Refused(Exception):
    """Bad input: the job is refused with this one-line message, nothing changed (exit 2)."""


@runtime_checkable
class Source(Protocol):
    """A readable, never writable, view of the drive being rescued."""

    identity: SourceIdentity

    @property
    def size(self) -> int: ...

    @property
    def sector_size(self) -> int: ...

    @property
    def alignment(self) -> int:
        """Required alignment of buffers, offsets and lengths (O_DIRECT), 1 if none."""
        ...

    def read_into(self, pos: int, buf: memoryview) -> int:
        """Read len(buf) bytes at pos into buf; return the count (short only at end).

        Raises OSError (EIO, ...) when the medium fails.  May block for as long as the drive
        does: callers that must stay responsive go through station.rescue.reader.
        """
        ...

    def reopen(self) -> None:
        """Close and open again (drops the kernel's slowed state after errors)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Sink(Protocol):
    """Where rescued bytes go: an image file or a target device."""

    path: str

    def write_at(self, pos: int, data: memoryview) -> None:
        """Write all of data at pos; raises OSError (ENOSPC, EIO) without partial success."""
        ...

    def sync(self) -> None:
        """Make every write so far durable (fdatasync)."""
        ...

    def close(self) -> None: ...
