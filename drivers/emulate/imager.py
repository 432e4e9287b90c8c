"""The emulated imager's firmware: two ports, a job thread with its own strategy, a map, a log.

Port S1 holds a virtual failing drive (station.sim.drive.SimDrive); port T1 is a target drive
backed by a sparse file.  The strategy is a hardware imager's, simpler than Station's engine
but real: a forward copying pass in 128 KiB reads that skips ahead on errors (the skip doubles
on consecutive trouble), a reverse pass over what was skipped, trimming of failed blocks from
both edges, then scraping sector by sector.  A source that stops answering is power-cycled by
the imager itself, as imagers with source power control do.

A failed read command delivers no data (the sectors before the failing one are read again
when trimming), as the drive's counters assume.  Time is the drive's: each read costs the
drive's simulated seconds, really slept at the drive's time scale, so the imager runs at a
realistic pace (or fast-forwarded, for tests).

Everything a host sees goes through `handle(verb, args, fields) -> Reply`, the command set of
docs/protocols/serial-imager.md; the transports (a pty, a virtual USB device) only encode it.
Rule kept here as in the engine: target data is written (and synced before the change is
reported) before the map calls it finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator

from drivers.imager_proto import (
    E_ARGS,
    E_BUSY,
    E_NODRIVE,
    E_NOJOB,
    E_RESYNC,
    E_ROLE,
    E_UNKNOWN,
    PROTOCOL,
    STATUS_LETTER,
    Item,
    Reply,
)
from station.rescue.rescuemap import RescueMap, Status
from station.sim.content import sectors_content
from station.sim.drive import DriveHung, DrivePoweredOff, ReadResult, SimDrive

CAPS = "pause,abort,area,source-power,md5,sha256"
BLOCK_SECTORS = 256  # 128 KiB reads while copying
SKIP_SECTORS = 128  # first skip after an error: 64 KiB
MAX_HUNG = 8  # power cycles in a row without a good answer before the job fails


class _Abort(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Fail(Exception):
    pass


class ImagerCore:
    """One emulated imager.  Thread-safe: transports call handle() from their own threads."""

    def __init__(
        self,
        drive: SimDrive | None,
        target: str | None = None,
        *,
        vendor: str = "Station",
        model: str = "SI-2 emulated imager",
        firmware: str = "2.1.0",
        serial: str = "SI2-EMU-0001",
        protocol: int = PROTOCOL,
        max_changes: int = 65536,
        stop_when: Callable[[SimDrive], str | None] | None = None,
    ) -> None:
        self.drive = drive
        self.vendor, self.model, self.firmware, self.serial = vendor, model, firmware, serial
        self.protocol = protocol
        self.max_changes = max_changes
        self.stop_when = stop_when
        self.size = drive.model.size if drive else 0
        self.ss = drive.sector_size if drive else 512
        self._tmpdir: str | None = None
        if target is None:
            self._tmpdir = tempfile.mkdtemp(prefix="station-imager-")
            target = os.path.join(self._tmpdir, "T1.img")
        self.target_path = target
        self._fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if os.fstat(self._fd).st_size < self.size:
            os.ftruncate(self._fd, self.size)
        self._lock = threading.RLock()
        self.map = RescueMap(self.size)
        self._areas: list[tuple[int, int]] = []  # bytes (pos, end) for the next job
        self._domain: list[tuple[int, int]] = []
        self._changes: list[tuple[int, int, str]] = []
        self._base = 0  # index of _changes[0]
        self._served = 0  # changes handed to a host so far (never merged into afterwards)
        self._synced = 0  # changes whose data the target holds durably
        self._log: list[str] = []
        self._thread: threading.Thread | None = None
        self._run = threading.Event()  # set: not paused
        self._run.set()
        self._abort = threading.Event()
        self.job = 0
        self.state = "idle"
        self.phase, self.pass_, self.pos = "idle", 0, 0
        self.read_errors = 0
        self.cycles = 0
        self.rescued = 0
        self._t0 = 0.0
        self._rate: deque[tuple[float, int]] = deque()
        self.outcome = ""
        self.reason = ""
        self.hashes: dict[str, str] = {}
        self.log("power on; firmware " + firmware)

    # -- helpers ----------------------------------------------------------------------------------

    def _clock(self) -> float:
        return self.drive.clock() if self.drive else 0.0

    def log(self, text: str) -> None:
        with self._lock:
            t = self._clock() - self._t0 if self.job else 0.0
            self._log.append(f"{t:9.1f}s  {text}")

    def close(self) -> None:
        """Abort any job, wait for it, release the target (and its temp dir if ours)."""
        self._abort.set()
        self._run.set()
        t = self._thread
        if t is not None:
            t.join(30)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    @property
    def temporary_target(self) -> bool:
        """T1 is a temporary file of the emulator's own (no target was given): deleted at close()."""
        return self._tmpdir is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current job to end (tests, the bench)."""
        t = self._thread
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    # -- commands ------------------------------------------------------------------------------

    def handle(self, verb: str, args: list[str], fields: dict[str, str]) -> Reply:
        fn = getattr(self, f"_cmd_{verb.lower()}", None)
        if fn is None:
            return Reply.error(E_UNKNOWN, f"unknown command {verb}")
        try:
            with self._lock:
                return fn(args, fields)
        except (ValueError, KeyError) as e:
            return Reply.error(E_ARGS, f"bad arguments: {e}")

    def _cmd_ping(self, args, fields) -> Reply:
        return Reply(True)

    def _cmd_hello(self, args, fields) -> Reply:
        return Reply(
            True,
            {
                "proto": self.protocol,
                "vendor": self.vendor,
                "model": self.model,
                "firmware": self.firmware,
                "serial": self.serial,
                "caps": CAPS,
            },
        )

    def _cmd_ports(self, args, fields) -> Reply:
        items = []
        d = self.drive
        if d is not None:
            s = {"name": "S1", "role": "source", "drive": 1, "size": self.size, "sector": self.ss}
            s.update(model=f"Virtual {d.model.name}", serial=d.model.serial)
        else:
            s = {"name": "S1", "role": "source", "drive": 0}
        items.append(Item("PORT", [], {k: str(v) for k, v in s.items()}))
        t = {"name": "T1", "role": "target", "drive": 1, "size": self.size, "sector": self.ss}
        t.update(model="Target drive", serial=f"{self.serial}-T1")
        items.append(Item("PORT", [], {k: str(v) for k, v in t.items()}))
        return Reply(True, {"count": "2"}, items)

    def _busy(self) -> bool:
        return self.state in ("running", "paused")

    def _cmd_area(self, args, fields) -> Reply:
        if self._busy():
            return Reply.error(E_BUSY, "a job is running")
        if args == ["clear"]:
            self._areas = []
            return Reply(True, {"areas": "0"})
        pos, size = int(fields["pos"], 16), int(fields["size"], 16)
        if pos < 0 or size <= 0 or pos + size > self.size or pos % self.ss or size % self.ss:
            return Reply.error(E_ARGS, "area outside the drive or not on sector boundaries")
        self._areas.append((pos, pos + size))
        return Reply(True, {"areas": str(len(self._areas))})

    def _cmd_start(self, args, fields) -> Reply:
        if self._busy():
            return Reply.error(E_BUSY, "a job is running")
        src, dst = fields.get("src", "").upper(), fields.get("dst", "").upper()
        if src == "T1" or dst == "S1":
            return Reply.error(E_ROLE, f"{src or '?'} is not a source port or {dst or '?'} not a target")
        if src != "S1" or dst != "T1":
            return Reply.error(E_ARGS, f"no such ports {src} -> {dst} (ports: S1 source, T1 target)")
        if self.drive is None:
            return Reply.error(E_NODRIVE, "no drive on S1")
        want_hash = fields.get("hash", "md5,sha256")
        self._domain = _merge(self._areas) if self._areas else [(0, self.size)]
        self._areas = []
        self.map = RescueMap(self.size)
        self._changes, self._base, self._served, self._synced = [], 0, 0, 0
        self.job += 1
        self._t0 = self._clock()
        self.state, self.phase, self.pass_, self.pos = "running", "copying", 1, self._domain[0][0]
        self.read_errors = self.rescued = self.cycles = 0
        self.outcome = self.reason = ""
        self.hashes = {}
        self._rate.clear()
        self._abort.clear()
        self._run.set()
        total = sum(b - a for a, b in self._domain)
        self.log(f"job {self.job}: S1 -> T1, {total} bytes in {len(self._domain)} areas")
        self._thread = threading.Thread(
            target=self._job_main, args=(want_hash,), name="imager-job", daemon=True
        )
        self._thread.start()
        return Reply(True, {"job": str(self.job)})

    def _cmd_status(self, args, fields) -> Reply:
        f = {
            "state": self.state,
            "job": self.job,
            "phase": self.phase,
            "pass": self.pass_,
            "pos": f"{self.pos:X}",
            "rate": f"{self._current_rate():.0f}",
            "errors": self.read_errors,
            "rescued": f"{self.rescued:X}",
            "elapsed": f"{(self._clock() - self._t0) if self.job else 0.0:.3f}",
            "cycles": self.cycles,
            "changes": self._base + len(self._changes),
        }
        if self.state == "done":
            f["outcome"] = self.outcome
        return Reply(True, {k: str(v) for k, v in f.items()})

    def _sync(self) -> None:
        """Make the target durable before reporting changes that call its data finished."""
        end = self._base + len(self._changes)
        if self._synced < end:
            os.fdatasync(self._fd)
            self._synced = end

    def _cmd_changes(self, args, fields) -> Reply:
        k = int(fields.get("from", "0"))
        most = max(1, min(int(fields.get("max", "256")), 4096))
        end = self._base + len(self._changes)
        if k < self._base:
            return Reply.error(E_RESYNC, f"changes before {self._base} are gone; DUMP the map")
        if k > end:
            return Reply.error(E_ARGS, f"no change {k} yet (next is {end})")
        self._sync()
        chunk = self._changes[k - self._base : k - self._base + most]
        items = [Item("MAP", [f"{p:X}", f"{s:X}", st]) for p, s, st in chunk]
        nxt = k + len(chunk)
        self._served = max(self._served, nxt)
        return Reply(True, {"next": str(nxt), "more": "1" if nxt < end else "0"}, items)

    def _cmd_dump(self, args, fields) -> Reply:
        """The job's map (clipped to its areas) from pos, a page at a time."""
        pos = int(fields.get("pos", "0"), 16)
        most = max(1, min(int(fields.get("max", "256")), 4096))
        self._sync()
        items: list[Item] = []
        nxt = self.size
        for lo, hi, st in self._domain_blocks(pos):
            if len(items) == most:
                nxt = lo
                break
            items.append(Item("MAP", [f"{lo:X}", f"{hi - lo:X}", STATUS_LETTER[st]]))
        done = nxt >= self.size
        end = self._base + len(self._changes)
        self._served = end  # the host will ask for changes from here
        return Reply(True, {"next": f"{nxt:X}", "done": "1" if done else "0", "changes": str(end)}, items)

    def _domain_blocks(self, pos: int) -> Iterator[tuple[int, int, Status]]:
        for a, b in self._domain:
            if b <= pos:
                continue
            for blk in self.map.blocks(max(a, pos), b):
                lo, hi = max(blk.pos, a, pos), min(blk.end, b)
                if hi > lo:
                    yield lo, hi, blk.status

    def _cmd_pause(self, args, fields) -> Reply:
        if not self._busy():
            return Reply.error(E_NOJOB, "no job running")
        self._run.clear()
        return Reply(True)

    def _cmd_resume(self, args, fields) -> Reply:
        if not self._busy():
            return Reply.error(E_NOJOB, "no job running")
        self._run.set()
        return Reply(True)

    def _cmd_abort(self, args, fields) -> Reply:
        if not self._busy():
            return Reply.error(E_NOJOB, "no job running")
        self._abort.set()
        self._run.set()
        return Reply(True)

    def _cmd_result(self, args, fields) -> Reply:
        if self.state != "done":
            return Reply.error(E_BUSY if self._busy() else E_NOJOB, f"job state is {self.state}")
        f = {
            "job": str(self.job),
            "outcome": self.outcome,
            "reason": self.reason,
            "rescued": f"{self.rescued:X}",
        }
        f.update(self.hashes)
        return Reply(True, f)

    def _cmd_log(self, args, fields) -> Reply:
        k = max(0, int(fields.get("from", "0")))
        most = max(1, min(int(fields.get("max", "64")), 1024))
        chunk = self._log[k : k + most]
        items = [Item("LOG", [], {"n": str(k + i), "text": line}) for i, line in enumerate(chunk)]
        nxt = k + len(chunk)
        return Reply(True, {"next": str(nxt), "more": "1" if nxt < len(self._log) else "0"}, items)

    # -- the job ---------------------------------------------------------------------------------

    def _current_rate(self) -> float:
        w = self._rate
        if len(w) < 2 or w[-1][0] <= w[0][0]:
            return 0.0
        return (w[-1][1] - w[0][1]) / (w[-1][0] - w[0][0])

    def _set(self, lba: int, count: int, status: Status) -> None:
        if count <= 0:
            return
        pos, size = lba * self.ss, count * self.ss
        with self._lock:
            if status == Status.FINISHED:
                self.rescued += size - self._finished_in(pos, size)
            self.map.set_status(pos, size, status)
            letter = STATUS_LETTER[status]
            last = self._changes[-1] if self._changes else None
            index_of_last = self._base + len(self._changes) - 1
            if last and index_of_last >= self._served and last[2] == letter and last[0] + last[1] == pos:
                self._changes[-1] = (last[0], last[1] + size, letter)  # not yet seen: extend it
            else:
                self._changes.append((pos, size, letter))
            if len(self._changes) > self.max_changes:  # forget the oldest half: late hosts resync
                drop = len(self._changes) // 2
                del self._changes[:drop]
                self._base += drop
                self._served = max(self._served, self._base)
                self._synced = max(self._synced, self._base)
            now = self._clock()
            self._rate.append((now, self.rescued))
            while len(self._rate) > 2 and now - self._rate[1][0] > 1.0:
                self._rate.popleft()

    def _finished_in(self, pos: int, size: int) -> int:
        end = pos + size
        return sum(
            min(b.end, end) - max(b.pos, pos)
            for b in self.map.blocks(pos, end)
            if b.status == Status.FINISHED
        )

    def _good(self, lba: int, count: int) -> None:
        """Data to the target first, then the map."""
        if count <= 0:
            return
        data = sectors_content(lba, count, self.ss)
        view = memoryview(data)
        off = lba * self.ss
        while view:
            n = os.pwrite(self._fd, view, off)
            view, off = view[n:], off + n
        self._set(lba, count, Status.FINISHED)

    def _checkpoint(self) -> None:
        if not self._run.is_set():
            self.state = "paused"
            self.log("paused by the host")
            self._run.wait()
            if not self._abort.is_set():
                self.state = "running"
                self.log("resumed")
        if self._abort.is_set():
            raise _Abort("aborted by the host")
        if self.stop_when is not None and self.drive is not None:
            why = self.stop_when(self.drive)
            if why:
                raise _Abort(why)

    def _read(self, lba: int, count: int) -> ReadResult:
        """One read command; a hung or unpowered source is power-cycled and the read repeated."""
        d = self.drive
        assert d is not None
        hung = 0
        while True:
            self._checkpoint()
            self.pos = lba * self.ss
            try:
                r = d.read(lba, count, block=False)
            except (DriveHung, DrivePoweredOff) as e:
                hung += 1
                if hung > MAX_HUNG:
                    raise _Fail(f"S1 not responding after {MAX_HUNG} power cycles") from None
                what = "stopped answering" if isinstance(e, DriveHung) else "lost power"
                self.log(f"S1 {what} at LBA {lba}; power-cycling it")
                d.power_off()
                d.power_on()
                self.cycles += 1
                continue
            if not r.ok:
                self.read_errors += 1
            return r

    def _job_main(self, want_hash: str) -> None:
        try:
            self._copy_forward()
            self._copy_reverse()
            self._trim()
            self._scrape()
            self.outcome, self.reason = "finished", "imaging finished"
        except _Abort as a:
            self.outcome, self.reason = "aborted", a.reason
        except _Fail as f:
            self.outcome, self.reason = "failed", str(f)
        except Exception as e:  # firmware bug: say so rather than die silently
            self.outcome, self.reason = "failed", f"internal error: {e!r}"
        if self.outcome == "finished":
            self.phase, self.pass_ = "finished", 1
        self.log(f"job {self.job} {self.outcome}: {self.reason}")
        with self._lock:
            os.fdatasync(self._fd)
        if want_hash != "none" and self.outcome == "finished":  # an aborted job is not hashed: stop fast
            self._hash(want_hash)
        with self._lock:
            self.state = "done"

    def _hash(self, which: str) -> None:
        algos = [a for a in which.split(",") if a in ("md5", "sha256")]
        hs = {a: hashlib.new(a) for a in algos}
        pos, chunk = 0, 4 << 20
        while pos < self.size:
            data = os.pread(self._fd, min(chunk, self.size - pos), pos)
            if not data:
                break
            for h in hs.values():
                h.update(data)
            pos += len(data)
        self.hashes = {a: h.hexdigest() for a, h in hs.items()}
        self.log("target hashed: " + ", ".join(f"{a} {h}" for a, h in self.hashes.items()))

    def _phase(self, phase: str, pass_: int) -> None:
        self.phase, self.pass_ = phase, pass_
        self.log(f"{phase} pass {pass_}")

    def _blocks(self, status: Status) -> list[tuple[int, int]]:
        """LBA ranges of `status` inside the job's areas, now."""
        with self._lock:
            return [(lo // self.ss, hi // self.ss) for lo, hi, st in self._domain_blocks(0) if st == status]

    def _copy_forward(self) -> None:
        self._phase("copying", 1)
        total = sum(b - a for a, b in self._domain) // self.ss
        max_skip = max(SKIP_SECTORS, total // 100)
        for lo, hi in self._blocks(Status.NON_TRIED):
            cur, skip = lo, SKIP_SECTORS
            while cur < hi:
                n = min(BLOCK_SECTORS, hi - cur)
                r = self._read(cur, n)
                if r.ok:
                    self._good(cur, n)
                    cur += n
                    skip = SKIP_SECTORS
                    continue
                self._set(cur, n, Status.NON_TRIMMED)  # a failed command delivers nothing
                cur = min(cur + n + skip, hi)  # what is skipped stays non-tried for pass 2
                skip = min(skip * 2, max_skip)

    def _copy_reverse(self) -> None:
        self._phase("copying", 2)
        for lo, hi in reversed(self._blocks(Status.NON_TRIED)):
            cur = hi
            while cur > lo:
                start = max(lo, cur - BLOCK_SECTORS)
                r = self._read(start, cur - start)
                if r.ok:
                    self._good(start, cur - start)
                else:
                    self._set(start, cur - start, Status.NON_TRIMMED)
                cur = start

    def _trim(self) -> None:
        self._phase("trimming", 1)
        for lo, hi in self._blocks(Status.NON_TRIMMED):
            while lo < hi:  # leading edge, forward
                r = self._read(lo, 1)
                if not r.ok:
                    self._set(lo, 1, Status.BAD_SECTOR)
                    lo += 1
                    break
                self._good(lo, 1)
                lo += 1
            while hi > lo:  # trailing edge, backward
                r = self._read(hi - 1, 1)
                if not r.ok:
                    self._set(hi - 1, 1, Status.BAD_SECTOR)
                    hi -= 1
                    break
                self._good(hi - 1, 1)
                hi -= 1
            self._set(lo, hi - lo, Status.NON_SCRAPED)

    def _scrape(self) -> None:
        self._phase("scraping", 1)
        for lo, hi in self._blocks(Status.NON_SCRAPED):
            for lba in range(lo, hi):
                r = self._read(lba, 1)
                if r.ok:
                    self._good(lba, 1)
                else:
                    self._set(lba, 1, Status.BAD_SECTOR)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
