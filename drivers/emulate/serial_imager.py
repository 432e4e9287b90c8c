"""The emulated imager behind a pseudo-terminal: what the serial-imager driver talks to.

The emulator owns the pty's master side and keeps its slave side open (raw mode), so hosts
may open and close the port as often as they like, as with a USB-serial adapter.  One thread
reads frames, hands commands to the firmware (drivers.emulate.imager.ImagerCore) and writes
the replies; the job runs in the firmware's own thread.

A command whose tag equals the last one executed is not executed again: its reply is sent
again (the host retries a command whose reply was lost).

Faults, for tests and for training technicians on what a failing link looks like, each from a
number of seconds after a job starts: `mute` (stop answering), `garbage` (answer with noise),
`unknown` (answer with a reply the driver does not know), `unplug` (close the pty, as a cable
pulled out).  Hostile or buggy firmware, in well-formed replies: `churn` (once the job is done,
every CHANGES reports one more change), `endless-log` (LOG always has more), `negative-map` (a
map change at a negative position), `negative-size` (the source port's size is -1),
`nul-serial` (the source drive's serial number holds a NUL and a path).
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import select
import threading
import time
import tty
from dataclasses import dataclass

from drivers.emulate.imager import ImagerCore
from drivers.imager_proto import (
    E_FRAME,
    FrameReader,
    Item,
    Reply,
    encode_frame,
    format_body,
    parse_body,
    reply_lines,
)

FAULT_KINDS = ("mute", "garbage", "unknown", "unplug")
HOSTILE_KINDS = ("churn", "endless-log", "negative-map", "negative-size", "nul-serial")


@dataclass(frozen=True)
class Fault:
    kind: str  # one of FAULT_KINDS
    after: float = 0.0  # seconds (real time) after a job starts

    @classmethod
    def parse(cls, text: str) -> Fault:
        """'mute', 'unplug@1.5' -> Fault; ValueError if not one of FAULT_KINDS."""
        kind, _, after = text.partition("@")
        if kind not in FAULT_KINDS + HOSTILE_KINDS:
            raise ValueError(f"unknown fault {kind!r} (faults: {', '.join(FAULT_KINDS + HOSTILE_KINDS)})")
        try:
            t = float(after) if after else 0.0
        except ValueError:
            raise ValueError(f"fault {text!r}: {after!r} is not a number of seconds") from None
        if t < 0:
            raise ValueError(f"fault {text!r}: negative delay")
        return cls(kind, t)


class SerialImagerEmulator:
    """Serves an ImagerCore on a new pty until stop() (or an 'unplug' fault)."""

    def __init__(self, core: ImagerCore, faults: list[Fault] | tuple[Fault, ...] = ()) -> None:
        self.core = core
        self.faults = list(faults)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader = FrameReader()
        self._last_tag: int | None = None
        self._last_reply = b""
        self._job_started: float | None = None
        self._rng = random.Random(7)
        self.commands = 0  # executed, for tests
        self.unplugged = threading.Event()

    def start(self) -> str:
        self._thread = threading.Thread(target=self._serve, name="imager-pty", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._close_fds()

    def unplug(self) -> None:
        """Close the pty as if the cable were pulled: the host's reads fail, the path goes away."""
        self._stop.set()
        self._close_fds()
        self.unplugged.set()

    def _close_fds(self) -> None:
        for name in ("_master", "_slave"):
            fd = getattr(self, name)
            if fd >= 0:
                setattr(self, name, -1)
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __enter__(self) -> SerialImagerEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving ------------------------------------------------------------------------------------

    def _active(self, kind: str) -> bool:
        if self._job_started is None:
            return any(f.kind == kind and f.after == 0 and kind != "unplug" for f in self.faults)
        elapsed = time.monotonic() - self._job_started
        return any(f.kind == kind and elapsed >= f.after for f in self.faults)

    def _serve(self) -> None:
        while not self._stop.is_set():
            if self._job_started is not None and self._active("unplug"):
                self.unplug()
                return
            fd = self._master
            if fd < 0:
                return
            try:
                ready, _, _ = select.select([fd], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return
            for body in self._reader.feed(data):
                self._command(body)

    def _command(self, body: str) -> None:
        if self._active("mute"):
            return
        if self._active("garbage"):
            self._write(bytes(self._rng.randrange(256) for _ in range(64)))
            return
        try:
            tag, verb, args, fields = parse_body(body)
        except ValueError as e:
            self._write(encode_frame(format_body(0, "ERR", (), {"code": E_FRAME, "msg": str(e)})))
            return
        if tag == self._last_tag and tag != 0:
            self._write(self._last_reply)  # a retry: the first reply was lost
            return
        if self._active("unknown"):
            self._write(encode_frame(format_body(tag, "WHAT", (), {"firmware": "9.9"})))
            return
        reply = self._hostile(verb, fields, self.core.handle(verb, args, fields))
        self.commands += 1
        if verb == "START" and reply.ok and self._job_started is None:
            self._job_started = time.monotonic()
        out = b"".join(encode_frame(line) for line in reply_lines(tag, reply))
        self._last_tag, self._last_reply = tag, out
        self._write(out)

    def _hostile(self, verb: str, fields: dict[str, str], reply: Reply) -> Reply:
        """The reply as a hostile or buggy firmware would send it (HOSTILE_KINDS), else as it is."""
        k = int(fields.get("from", "0") or 0)
        if verb == "CHANGES" and self._active("churn") and self.core.state == "done":
            return Reply(
                True, {"next": str(k + 1), "more": "0"}, [Item("MAP", ["0", f"{self.core.ss:X}", "F"])]
            )
        if not reply.ok:
            return reply
        if verb == "LOG" and self._active("endless-log"):
            return Reply(
                True, {"next": str(k + 1), "more": "1"}, [Item("LOG", [], {"n": str(k), "text": "again"})]
            )
        if verb == "CHANGES" and self._active("negative-map") and self._job_started is not None:
            return Reply(True, reply.fields, [Item("MAP", ["-200", "400", "F"]), *reply.items])
        if verb == "PORTS":
            for it in reply.items:
                if it.fields.get("role") == "source" and self._active("negative-size"):
                    it.fields["size"] = "-1"
                if it.fields.get("role") == "source" and self._active("nul-serial"):
                    it.fields["serial"] = "EVIL\x00/../../etc/x"
        return reply

    def _write(self, data: bytes) -> None:
        """Write all of it, or give up after a second (a host that stopped reading)."""
        view = memoryview(data)
        deadline = time.monotonic() + 1.0
        while view and not self._stop.is_set():
            fd = self._master
            if fd < 0:
                return
            try:
                n = os.write(fd, view)
                view = view[n:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return
                select.select([], [fd], [], 0.05)
            except OSError as e:
                if e.errno in (errno.EIO, errno.EBADF):
                    return
                raise
