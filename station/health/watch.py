"""Drive health around one imaging job: before, during and after.

`SessionHealth` is what the job (station.jobs.imaging) calls, so that the job itself stays small:

- `begin(record)`, before the session is recorded: the host inventory; for a block device, a first
  SMART reading (the baseline, bounded by the SMART timeout and the job's cancel event) that
  gives the drive's identity and its verdict.  No smartctl, a file or simulated source, a loop
  device, a bridge without SAT: SMART is off for the session with the reason recorded, and the
  identity comes from the kernel.  The job goes on in every case.  All of it goes into the
  record's `hardware`, `drive` and `smart` fields.
- `start()`, once the engine exists: the polling thread (station.health.monitor), which holds
  and releases the engine's RunControl and is told by `busy` whether a read is outstanding.
- `finish()`, after the engine returned: stops polling, takes the "after" reading unless a
  read is still stuck in the drive or the job was interrupted (then the last poll stands in),
  and writes the before/after difference to the session log and record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from station.core.events import Event, Notice
from station.core.record import SmartRecord, SmartSnapshot
from station.health.assess import assess
from station.health.monitor import HealthMonitor, MonitorLimits, difference, health_fields

if TYPE_CHECKING:
    from station.core.control import RunControl
    from station.core.identity import SourceIdentity
    from station.core.record import SessionRecord
    from station.core.session import Session
    from station.health.smart import SmartReading


@dataclass(frozen=True)
class HealthOptions:
    """What `station image` asks of drive health (see station.cli.health for the options)."""

    smart: bool = True
    limits: MonitorLimits = field(default_factory=MonitorLimits)
    smartctl: str | None = None  # a smartctl to use instead of the one on PATH


def _reading_summary(r: SmartReading, **more: Any) -> SmartSnapshot:
    summary = {"taken": r.taken, "smart_status": r.smart_status, **assess(r).to_dict()}
    return SmartSnapshot.from_dict({**summary, "attributes": health_fields(r), **more})


class SessionHealth:
    """SMART and inventory for one job; every method is safe to call when SMART is off."""

    def __init__(
        self,
        options: HealthOptions | None,
        source: SourceIdentity,
        *,
        cancel: threading.Event | None = None,
        inventory: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.options = options
        self.source = source
        self.cancel = cancel
        self._inventory = inventory
        self.device: str | None = None
        self.baseline: SmartReading | None = None
        self.monitor: HealthMonitor | None = None
        self.why_off: str | None = None
        self._notices: list[str] = []
        self._stop_polls = threading.Event()
        self._smart = SmartRecord()

    @property
    def limits(self) -> MonitorLimits:
        return self.options.limits if self.options else MonitorLimits()

    def _read(self, cancel: threading.Event | None) -> SmartReading:
        from station.health.smart import read_device

        assert self.device is not None
        iface = self.baseline.smartctl_type if self.baseline else None
        smartctl = self.options.smartctl if self.options else None
        return read_device(
            self.device, timeout=self.limits.timeout, interface=iface, smartctl=smartctl, cancel=cancel
        )

    # -- before ------------------------------------------------------------------------------------

    def begin(self, record: SessionRecord) -> None:
        """Inventory, identity and the SMART baseline, into the record about to be created."""
        from station.health.identity import identity_from_kernel, whole_disk_path
        from station.health.inventory import collect

        try:
            hw = (self._inventory or collect)()
        except Exception as e:  # the inventory is a record, never a reason to refuse a job
            hw = {"error": f"{type(e).__name__}: {e}"}
        # "hardware", not "host": the record's "host" is the hostname that tells whether its pid is ours
        record.hardware = hw
        src = self.source
        if self.options is None or not self.options.smart:
            self.why_off = "turned off (--no-smart)" if self.options is not None else "not asked for"
        elif src.kind != "block":
            self.why_off = f"the source is a {src.kind}, not a drive"
        else:
            self.device = whole_disk_path(src.path)
            from station.health.errors import SmartError

            try:
                self.baseline = self._read(self.cancel)
            except SmartError as e:
                self.why_off = str(e)
            except Exception as e:  # pySMART missing or broken: imaging goes on without SMART
                self.why_off = f"SMART could not be read ({type(e).__name__}: {e})"
            if self.why_off:
                self._notices.append(f"SMART off for this session: {self.why_off}")
        if self.baseline is not None:
            before = _reading_summary(self.baseline)
            record.drive = self.baseline.identity.to_dict()
            why = "; ".join(before.reasons)
            self._notices.append(f"SMART before imaging: {before.verdict} ({why}). {before.advice}")
        else:
            before = None
            if src.kind == "block":
                ident = identity_from_kernel(
                    src.path,
                    size=src.size,
                    sector_size=src.sector_size,
                    physical_sector_size=src.physical_sector_size,
                )
            else:
                from station.health.identity import DriveIdentity

                ident = DriveIdentity(
                    model=src.model,
                    serial=src.serial,
                    capacity_bytes=src.size,
                    logical_sector_size=src.sector_size,
                    physical_sector_size=src.physical_sector_size,
                    source=src.kind,
                )
            record.drive = ident.to_dict()
        self._smart = record.smart = SmartRecord(
            state="on" if self.baseline is not None else "off",
            why_off=self.why_off,
            device=self.device,
            limits=_limits_dict(self.limits) if self.baseline is not None else None,
            before=before,
        )

    # -- during ------------------------------------------------------------------------------------

    def start(
        self,
        control: RunControl,
        emit: Callable[[Event], None],
        *,
        now: Callable[[], float] = lambda: 0.0,
        busy: Callable[[], float] = lambda: 0.0,
    ) -> None:
        """Say what happened before, and start polling (only when the baseline was read)."""
        for message in self._notices:
            emit(Notice(now(), message))
        self._notices.clear()
        if self.baseline is None:
            return
        self.monitor = HealthMonitor(
            lambda: self._read(self._stop_polls),
            control,
            self.baseline,
            limits=self.limits,
            emit=emit,
            now=now,
            busy=busy,
        )
        self.monitor.start()

    def stop(self) -> None:
        """Stop polling (a poll in progress is killed) and release any hold on the job."""
        self._stop_polls.set()
        if self.monitor is not None:
            self.monitor.stop()

    # -- after -------------------------------------------------------------------------------------

    def finish(
        self,
        session: Session,
        emit: Callable[[Event], None],
        *,
        now: Callable[[], float] = lambda: 0.0,
        stuck: bool = False,
    ) -> None:
        """The after reading and the before/after difference, in the log and the record."""
        self.stop()
        if self.baseline is None:
            return
        after: SmartReading | None = None
        source = "fresh reading"
        if stuck:
            source = "last poll (a read is still stuck in the drive)"
        elif self.cancel is not None and self.cancel.is_set():
            source = "last poll (the job was interrupted)"
        else:
            from station.health.errors import SmartError

            try:
                after = self._read(None)
            except SmartError as e:
                source = f"last poll ({e})"
            except Exception as e:
                source = f"last poll ({type(e).__name__}: {e})"
        if after is None:
            after = self.monitor.last if self.monitor is not None else self.baseline
        smart = self._smart
        smart.after = _reading_summary(after, source=source)
        changes = difference(health_fields(self.baseline), health_fields(after))
        before_verdict = smart.before.verdict if smart.before else "UNKNOWN"
        if smart.after.verdict != before_verdict:
            changes.insert(0, f"verdict {before_verdict} → {smart.after.verdict}")
        smart.changes = changes
        smart.polling = self.monitor.summary() if self.monitor else None
        session.record.smart = smart
        said = "; ".join(changes) if changes else "no change"
        emit(Notice(now(), f"SMART before → after imaging ({source}): {said}"))


def _limits_dict(lim: MonitorLimits) -> dict[str, Any]:
    return {
        "interval": lim.interval,
        "timeout": lim.timeout,
        "max_temp": lim.max_temp,
        "max_pending_growth": lim.max_pending_growth,
    }
