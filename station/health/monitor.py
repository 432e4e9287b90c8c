"""Watching a drive's SMART while it is imaged, and pausing the job when it gets dangerous.

A worker thread reads SMART every `interval` seconds and compares each reading with the
baseline taken before imaging started:

- temperature above `max_temp`: the job is paused (through RunControl, as the holder "smart")
  until the drive has cooled `cool_margin` degrees below the limit;
- pending sectors grown by `max_pending_growth` or more since the baseline: the job is paused
  until the count falls back (sectors reallocated or read again) or someone accepts the new
  count with `acknowledge()` (the TUI's resume button; in the CLI, stop and rerun).

While the job is held the drive does no reads, so polls come every `paused_interval` to notice
the drive cooling down.  Other changes (the drive's own verdict turning to FAILED, new CRC
errors, new reallocations) are reported as notices and never pause the job: imaging is still
the best use of a failing drive's remaining life.

Never competing with a hanging read: a SMART command queues behind a read the drive is stuck
on, and a drive busy with internal retries may take either down.  The job gives the monitor
`busy()`, the seconds the oldest read still in flight has been outstanding (abandoned hung
reads included); while it is `busy_after` seconds or more, the poll is put off and tried again
shortly.  Reads of a healthy drive take milliseconds, so ordinary imaging never defers a poll.
A poll that times out all the same is killed (station.health.smartctl) and the next one is put
off twice as long, up to four times the interval.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from station.core.events import Event, Notice, SmartPolled
from station.health.assess import assess
from station.health.errors import SmartError, SmartTimeout

if TYPE_CHECKING:
    from station.core.control import RunControl
    from station.health.smart import SmartReading

HOLDER = "smart"  # who holds the pause in RunControl


@dataclass(frozen=True)
class MonitorLimits:
    interval: float = 300.0  # seconds between polls
    timeout: float = 30.0  # seconds one poll may take before smartctl is killed
    max_temp: int | None = 60  # °C; None: never pause for heat
    cool_margin: int = 3  # resume once the drive is this much below max_temp
    max_pending_growth: int | None = 100  # new pending sectors since the start; None: never pause
    paused_interval: float = 30.0  # seconds between polls while the job is held by us
    busy_after: float = 2.0  # a read outstanding this long: put the poll off
    recheck: float = 5.0  # seconds before trying a put-off poll again
    max_backoff: int = 4  # polls after timeouts come at most this many intervals apart

    def validate(self) -> None:
        if self.interval <= 0 or self.timeout <= 0 or self.paused_interval <= 0:
            raise ValueError("SMART interval and timeout must be positive")
        if self.max_pending_growth is not None and self.max_pending_growth < 1:
            raise ValueError("--max-pending-growth must be at least 1")


def difference(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed between two readings' attributes, as 'name before → after' lines."""
    out = []
    for key, old in before.items():
        new = after.get(key)
        if old != new and not (old is None and new is None):
            out.append(f"{key.replace('_', ' ')} {_show(old)} → {_show(new)}")
    return out


def _show(v: Any) -> str:
    return "n/a" if v is None else str(v)


def health_fields(reading: SmartReading) -> dict[str, Any]:
    """The attributes compared before/after: the common ones plus the NVMe and SAS counters."""
    fields = dict(reading.attributes)
    if reading.nvme is not None:
        n = reading.nvme
        fields.update(
            critical_warning=n.critical_warning,
            media_errors=n.media_errors,
            available_spare=n.available_spare,
            percentage_used=n.percentage_used,
        )
    if reading.scsi is not None:
        s = reading.scsi
        fields.update(grown_defects=s.grown_defects, uncorrected_read=s.uncorrected_read)
    return fields


class HealthMonitor:
    """Polls SMART on its own thread and holds or releases the job's RunControl."""

    def __init__(
        self,
        read: Callable[[], SmartReading],
        control: RunControl,
        baseline: SmartReading,
        *,
        limits: MonitorLimits | None = None,
        emit: Callable[[Event], None] = lambda e: None,
        now: Callable[[], float] = lambda: 0.0,
        busy: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.read = read
        self.control = control
        self.baseline = baseline
        self.last: SmartReading = baseline
        self.limits = limits or MonitorLimits()
        self.emit = emit
        self.now = now
        self.busy = busy
        self.polls = 0
        self.deferred = 0
        self.failures = 0
        self._pending_base = baseline.attributes.get("pending_sectors")
        self._holds: dict[str, str] = {}
        self._backoff = 1
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="station-smart", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling and let go of the job.  Waits for a poll in progress (up to its timeout)."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(self.limits.timeout + 2.0 if timeout is None else timeout)
        with self._lock:
            if self._holds:
                self._holds.clear()
                self.control.resume(HOLDER)

    def _run(self) -> None:
        wait = self.limits.interval
        while not self._stop.wait(wait):
            outcome = self.poll_once()
            wait = self.next_wait(outcome)

    def next_wait(self, outcome: str) -> float:
        """Seconds until the next attempt after a poll that ended as `outcome`."""
        lim = self.limits
        if outcome == "deferred":
            return min(lim.recheck, lim.interval)
        if self.holding:
            return min(lim.paused_interval, lim.interval)
        return lim.interval * self._backoff

    @property
    def holding(self) -> bool:
        with self._lock:
            return bool(self._holds)

    @property
    def holds(self) -> list[str]:
        """Why the monitor holds the job now: "temperature", "pending" (acknowledge() accepts it)."""
        with self._lock:
            return list(self._holds)

    # -- one poll --------------------------------------------------------------------------------

    def poll_once(self) -> str:
        """One attempt: 'deferred' (a read is outstanding), 'failed', or 'polled'."""
        outstanding = self.busy()
        if outstanding >= self.limits.busy_after:
            self.deferred += 1
            return "deferred"
        try:
            reading = self.read()
        except SmartError as e:
            self.failures += 1
            if isinstance(e, SmartTimeout):
                self._backoff = min(self._backoff * 2, self.limits.max_backoff)
                later = self.limits.interval * self._backoff
                self._notice(f"SMART poll failed: {e}; next poll in {later:g} s")
            else:
                self._notice(f"SMART poll failed: {e}")
            return "failed"
        except Exception as e:  # a parser gap must not end the polling thread silently
            self.failures += 1
            self._notice(f"SMART poll failed ({type(e).__name__}: {e})")
            return "failed"
        self._backoff = 1
        self.polls += 1
        self._consider(reading)
        return "polled"

    def acknowledge(self) -> None:
        """Accept the drive's current pending count as the new baseline (releases that hold)."""
        with self._lock:
            self._pending_base = self.last.attributes.get("pending_sectors")
            if self._holds.pop("pending", None) is not None:
                self._apply()
        self._notice("SMART: pending sectors accepted as the new baseline")

    def _consider(self, r: SmartReading) -> None:
        lim = self.limits
        prev = self.last
        verdict = assess(r)
        self.emit(SmartPolled(self.now(), verdict.verdict, health_fields(r)))
        said: list[str] = []
        with self._lock:
            self.last = r
            changed = False
            temp = r.attributes.get("temperature_c")
            if lim.max_temp is not None and temp is not None:
                if temp > lim.max_temp and "temperature" not in self._holds:
                    self._holds["temperature"] = (
                        f"SMART: drive at {temp} °C, above the limit of {lim.max_temp} °C"
                    )
                    changed = True
                    said.append(
                        f"SMART: drive at {temp} °C, above the limit of {lim.max_temp} °C: "
                        f"imaging paused until it cools to {lim.max_temp - lim.cool_margin} °C"
                    )
                elif "temperature" in self._holds and temp <= lim.max_temp - lim.cool_margin:
                    del self._holds["temperature"]
                    changed = True
                    said.append(f"SMART: drive cooled to {temp} °C: the temperature hold is released")
            pending = r.attributes.get("pending_sectors")
            if lim.max_pending_growth is not None and pending is not None:
                base = self._pending_base or 0
                growth = pending - base
                if growth >= lim.max_pending_growth and "pending" not in self._holds:
                    self._holds["pending"] = (
                        f"SMART: pending sectors grew by {growth} ({base} → {pending}), "
                        f"limit {lim.max_pending_growth}"
                    )
                    changed = True
                    said.append(
                        f"SMART: pending sectors grew by {growth} since the start ({base} → {pending}): "
                        "imaging paused; the drive is degrading (stop and rerun to go on with this "
                        "count as the new baseline)"
                    )
                elif "pending" in self._holds and growth < lim.max_pending_growth:
                    del self._holds["pending"]
                    changed = True
                    said.append(f"SMART: pending sectors back to {pending}: the pending hold is released")
            if changed:
                self._apply()
        for message in said:  # emitted outside the lock: emit may block on the session log
            self._notice(message)
        self._report_changes(prev, r, verdict.verdict)

    def _apply(self) -> None:
        """Make RunControl match our holds (called with the lock held)."""
        if self._holds:
            self.control.pause(HOLDER, "; ".join(self._holds.values()))
        else:
            self.control.resume(HOLDER)

    def _report_changes(self, prev: SmartReading, r: SmartReading, verdict: str) -> None:
        """Notices for changes worth a technician's eye that do not pause the job."""
        if r.smart_status == "FAILED" and prev.smart_status != "FAILED":
            self._notice("SMART: the drive's own assessment turned to FAILED; keep imaging, do nothing else")
        for key, what in (
            ("reallocated_sectors", "reallocated sectors"),
            ("crc_errors", "interface CRC errors"),
            ("reported_uncorrectable", "reported uncorrectable errors"),
        ):
            old, new = prev.attributes.get(key), r.attributes.get(key)
            if old is not None and new is not None and new > old:
                hint = " (check the cable or bridge)" if key == "crc_errors" else ""
                self._notice(f"SMART: {what} {old} → {new}{hint}")
        if prev.nvme is not None and r.nvme is not None:
            if (r.nvme.media_errors or 0) > (prev.nvme.media_errors or 0):
                self._notice(f"SMART: NVMe media errors {prev.nvme.media_errors} → {r.nvme.media_errors}")
            if (r.nvme.critical_warning or 0) and r.nvme.critical_warning != prev.nvme.critical_warning:
                self._notice(f"SMART: NVMe critical warning now {r.nvme.critical_warning:#04x} ({verdict})")

    def _notice(self, message: str) -> None:
        self.emit(Notice(self.now(), message))

    def summary(self) -> dict[str, Any]:
        return {"polls": self.polls, "deferred": self.deferred, "failures": self.failures}
