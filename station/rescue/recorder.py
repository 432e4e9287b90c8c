"""What every read leaves behind, whichever phase made it.

A good read: its bytes written to the sink, then marked finished in the map (data before map),
and counted by the rate meter.  A failed read: its good leading bytes kept, the rest given the
status the phase asked for, a ReadFailed or ReadHung event, the source reopened or power-cycled.
One place, so that no phase can forget half of it.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from station.core.events import ReadFailed, ReadHung
from station.rescue.outcome import Outcome, Stop
from station.rescue.reader import ReadOutcome
from station.rescue.rescuemap import Status

if TYPE_CHECKING:
    from station.rescue.state import RunState

_DEVICE_ERRNOS = frozenset({errno.ENODEV, errno.ENXIO, errno.ETIMEDOUT, errno.ENOMEDIUM, errno.ESHUTDOWN})
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_GONE = (errno.ENODEV, errno.ENXIO, errno.ENOMEDIUM)  # the device itself went away


def device_failure(out: ReadOutcome) -> bool:
    """A read that failed because the drive did (reset, powered off, timed out), not the medium.

    A read that hung until our own timeout is not one of these: a sector that keeps a drive
    busy that long is treated as bad, as GNU ddrescue does.
    """
    return not out.hung and out.error is not None and out.error.errno in _DEVICE_ERRNOS


class ReadRecorder:
    """Records reads into the sink, the map and the counters of one run."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.map = state.map
        self.sink = state.sink
        self.meter = state.meter
        self.recovery = state.recovery
        self.read_errors = 0
        self.hung_in_a_row = 0
        self.partial_reads = False  # the source delivers the good sectors before a bad one
        self._spared: set[int] = set()  # sectors a device failure left unjudged once already

    def good(self, out: ReadOutcome) -> None:
        """Write good bytes to the sink, then mark them finished (data before map)."""
        n = out.good
        if n:
            if not out.copied:
                try:
                    self.sink.write_at(out.pos, out.data[:n])
                except OSError as e:
                    self._write_failed(e)
            self.map.set_status(out.pos, n, Status.FINISHED)
            self.meter.add(n)
        self.hung_in_a_row = 0

    def failed(self, out: ReadOutcome, status: Status) -> None:
        """Record a failed (or hung) read: good leading bytes kept, the rest marked `status`."""
        gone = out.error is not None and out.error.errno in _GONE
        if self.recovery.hook is not None and (out.hung or gone):
            self._recover(out)
            return
        good = out.good
        if good:
            self.partial_reads = True
            self.good(ReadOutcome(out.pos, good, out.data, copied=out.copied))
        if out.copied and out.error is not None and out.error.errno in _FULL:
            self._write_failed(out.error)  # a kernel copy fails on the sink's side too
        bad_pos, bad_size = out.pos + good, out.size - good
        if status == Status.BAD_SECTOR and self.spare(out):
            pass  # the drive failed, not necessarily this sector: leave it to be read again
        elif bad_size > 0:
            self.map.set_status(bad_pos, bad_size, status)
        self.read_errors += 1
        opts = self.state.opts
        if out.hung:
            self.hung_in_a_row += 1
            self.state.emit(ReadHung(self.state.t(), out.pos, out.size, opts.read_timeout))
            self._reopen(f"read at {out.pos:#x} hung for {opts.read_timeout:g} s")
            if self.hung_in_a_row >= opts.max_hung_reads:
                why = f"source not responding ({self.hung_in_a_row} hung reads in a row)"
                raise Stop(Outcome.FAILED, why)
        else:
            err = out.error
            why = str(err.strerror or err)
            self.state.emit(ReadFailed(self.state.t(), bad_pos, bad_size, why, self.map.phase.label))
            if self.recovery.reopen_on_error:
                self._reopen("after a read error")

    def spare(self, out: ReadOutcome, peek: bool = False) -> bool:
        """Whether a failed sector read is left unjudged: the drive failed, and only once there.

        With `peek`, only asks (a phase deciding whether to read the sector again); recording
        the failure then spares it for real.
        """
        if not device_failure(out) or out.pos in self._spared:
            return False
        if not peek:
            self._spared.add(out.pos)
        return True

    def _write_failed(self, e: OSError) -> None:
        if e.errno in _FULL:
            why = f"destination full: {e.strerror}; free space and rerun to resume"
        else:
            why = f"write error on destination: {e.strerror}"
        raise Stop(Outcome.FAILED, why) from None

    def _reopen(self, reason: str) -> None:
        if self.recovery.reopen(reason):
            self.hung_in_a_row = 0  # power-cycled: the source answers again

    def _recover(self, out: ReadOutcome) -> None:
        """A hung read, or a device gone: bring the source back and leave the range as it was,
        since its failure said nothing about the medium there; the pass (or a later one)
        reads it again.  (Not re-read from here: this runs inside the failed read's run.)"""
        if out.good:
            self.good(ReadOutcome(out.pos, out.good, out.data, copied=out.copied))
        self.read_errors += 1
        if out.hung:
            timeout = self.state.opts.read_timeout
            self.state.emit(ReadHung(self.state.t(), out.pos, out.size, timeout))
            reason = f"read at {out.pos:#x} hung for {timeout:g} s"
        else:
            reason = f"source gone ({out.error.strerror if out.error else 'no device'})"
        self.recovery.power_cycle(reason)
        self.hung_in_a_row = 0
