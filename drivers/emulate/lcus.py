"""An LCUS relay board behind a pseudo-terminal, optionally wired to a virtual drive's power.

It takes the board's 4-byte frames (A0, channel, state, checksum; frames with a bad checksum
are ignored, as the boards do) and answers a lone FF with "CH1: OFF\\r\\n..." lines.  Wired to
a SimDrive, a relay switching cuts or restores the drive's power according to the polarity of
the wiring: "nc" (the drive is fed through the normally-closed contact: relay on = power off)
or "no" (relay on = power on).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from collections.abc import Callable

from station.sim.drive import SimDrive


class LcusEmulator:
    def __init__(
        self,
        channels: int = 4,
        *,
        on_change: Callable[[int, bool], None] | None = None,
        answer_queries: bool = True,
    ) -> None:
        if not 1 <= channels <= 8:
            raise ValueError("an LCUS board has 1 to 8 channels")
        self.channels = channels
        self.states = dict.fromkeys(range(1, channels + 1), False)
        self.on_change = on_change
        self.answer_queries = answer_queries
        self.mute = False  # stop answering queries (a board gone bad)
        self.switches: list[tuple[int, bool]] = []  # every accepted frame, for tests
        self.ignored = 0  # bytes that were not valid frames
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._buf = bytearray()

    def start(self) -> str:
        self._thread = threading.Thread(target=self._serve, name="lcus-pty", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.unplug()

    def unplug(self) -> None:
        for name in ("_master", "_slave"):
            fd = getattr(self, name)
            if fd >= 0:
                setattr(self, name, -1)
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __enter__(self) -> LcusEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wire(self, channel: int, drive: SimDrive, polarity: str = "nc") -> None:
        """Feed the drive's power through `channel` (see the module's doc for polarity)."""
        if polarity not in ("nc", "no"):
            raise ValueError("polarity is nc or no")

        def change(ch: int, on: bool) -> None:
            if ch != channel:
                return
            powered = (not on) if polarity == "nc" else on
            if powered:
                drive.power_on()
            else:
                drive.power_off()

        self.on_change = change

    def _serve(self) -> None:
        while not self._stop.is_set():
            fd = self._master
            if fd < 0:
                return
            try:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(fd, 256)
            except OSError:
                return
            self._buf += data
            self._parse()

    def _parse(self) -> None:
        b = self._buf
        while b:
            if b[0] == 0xFF:
                del b[0]
                if self.answer_queries and not self.mute:
                    text = "".join(f"CH{c}: {'ON' if on else 'OFF'}\r\n" for c, on in self.states.items())
                    with contextlib.suppress(OSError):
                        os.write(self._master, text.encode())
                continue
            if b[0] != 0xA0:
                self.ignored += 1
                del b[0]
                continue
            if len(b) < 4:
                return
            ch, st, ck = b[1], b[2], b[3]
            if ck != (0xA0 + ch + st) & 0xFF or st not in (0, 1) or not 1 <= ch <= self.channels:
                self.ignored += 1
                del b[0]
                continue
            del b[:4]
            on = st == 1
            self.switches.append((ch, on))
            changed = self.states[ch] != on
            self.states[ch] = on
            if changed and self.on_change is not None:
                self.on_change(ch, on)
