"""A Sink over several sinks: the rescue engine writes one drive onto many ("station clone").

Every write goes to each target still in the clone, in turn.  A target whose write or sync
fails is dropped (`on_drop` says which and why, so the job can log it) and the rescue goes on
to the others; only when the last one fails does the error reach the engine, which then stops
as it would for a single destination.

The engine's guarantee holds for every target still in: `sync()` returns once each of them
has synced, so the map never calls finished what any remaining target does not hold.  A
dropped target is promised nothing any more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Self

from station.media.base import Sink

DropHook = Callable[[str, OSError], None]  # (target path, the error) once, when it is dropped


class FanoutSink:
    """The engine's Sink over `sinks`, in the order given; implements Sink."""

    def __init__(self, sinks: Sequence[Sink], on_drop: DropHook | None = None) -> None:
        if not sinks:
            raise ValueError("a fan-out needs at least one sink")
        self.sinks = list(sinks)
        self.live = list(sinks)
        self.on_drop = on_drop
        self.dropped: dict[str, str] = {}  # path -> why
        self.written: dict[str, int] = {s.path: 0 for s in sinks}
        self.path = self.sinks[0].path

    def _each(self, act: Callable[[Sink], None]) -> None:
        """Do `act` on every live sink; drop the ones that fail; raise only if none is left."""
        last: OSError | None = None
        for s in list(self.live):
            try:
                act(s)
            except OSError as e:
                last = e
                self.live.remove(s)
                self.dropped[s.path] = (e.strerror or str(e)).lower()
                if self.on_drop is not None:
                    self.on_drop(s.path, e)
        if not self.live:
            assert last is not None
            raise last

    def write_at(self, pos: int, data: memoryview) -> None:
        """Write to every live target; OSError only when the last one has failed."""

        def write(s: Sink) -> None:
            s.write_at(pos, data)
            self.written[s.path] += len(data)

        self._each(write)

    def sync(self) -> None:
        """Sync every live target: the map may call finished what they all hold."""
        self._each(lambda s: s.sync())

    def close(self) -> None:
        for s in self.sinks:
            s.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
