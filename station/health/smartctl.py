"""pySMART's `Smartctl` with a deadline: the one place that imports pySMART.

pySMART runs smartctl through a bare `Popen.communicate()`: no timeout, and a dying drive can
keep smartctl waiting inside the kernel for minutes.  pySMART's `Device` accepts its own
smartctl object, so `TimedSmartctl` subclasses pySMART's class and replaces only `_exec`, the
method that runs the process.  Every call made for one reading shares one deadline; each runs
in its own session (process group) so that a timeout or a cancel kills smartctl together with
anything it started.  A process in uninterruptible sleep ignores even SIGKILL until the kernel
lets go, so it is never waited for: a daemon thread reaps it whenever it ends.

pySMART's own `_exec` also guesses the output's encoding with chardet and logs a warning when
the guess is not ASCII; smartctl runs here under LC_ALL=C, so its output is decoded as UTF-8.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from station.health.errors import SmartCancelled, SmartctlMissing, SmartError, SmartTimeout


def _import_pysmart():
    """Import pySMART without its process-wide side effect: pySMART.smartctl sets LANG=C for
    the whole process at import time (and would change how every later child process speaks)."""
    before = os.environ.get("LANG")
    import pySMART  # noqa: F401  (imported for its side effects on sys.modules)
    import pySMART.device
    import pySMART.smartctl
    import pySMART.utils

    if os.environ.get("LANG") != before:
        if before is None:
            os.environ.pop("LANG", None)
        else:
            os.environ["LANG"] = before
    # pySMART logs through the 'pySMART' logger; without a handler Python's last-resort handler
    # would print those lines on stderr, where the CLI promises one clear line.
    log = logging.getLogger("pySMART")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())
    return pySMART


MAX_OUTPUT = 8 << 20  # bytes: smartctl -x of a big SAS drive is under 200 KB

_pysmart = _import_pysmart()
Device = _pysmart.device.Device
valid_interface = _pysmart.utils.smartctl_isvalid_type


@dataclass
class Call:
    """One smartctl run: its arguments (without the program), exit status and output lines."""

    args: list[str]
    returncode: int | None  # None: killed at the deadline or on cancel
    lines: list[str]
    seconds: float


class TimedSmartctl(_pysmart.smartctl.Smartctl):
    """pySMART's Smartctl whose calls share a deadline and can be cancelled.

    `failure` keeps the first timeout or cancel: pySMART swallows exceptions in some of its
    probing calls (`try_generic_call`), so the caller checks it after building a Device.
    """

    def __init__(
        self,
        path: str,
        *,
        timeout: float,
        device: str = "",
        cancel: threading.Event | None = None,
    ) -> None:
        super().__init__(smartctl_path=path, options=[], sudo=False)
        self.timeout = timeout
        self.device = device
        self.cancel = cancel
        self.deadline = time.monotonic() + timeout
        self.calls: list[Call] = []
        self.failure: SmartError | None = None

    def _fail(self, error: SmartError) -> SmartError:
        if self.failure is None:
            self.failure = error
        return self.failure

    def _exec(self, cmd: list[str]) -> tuple[list[str], int]:
        """Run smartctl until it ends, the deadline passes or the caller cancels."""
        if self.failure is not None:  # once timed out or cancelled, no further process
            raise self.failure
        what = self.device or "smartctl"
        started = time.monotonic()
        if self.cancel is not None and self.cancel.is_set():
            raise self._fail(SmartCancelled(f"{what}: SMART read cancelled"))
        if started >= self.deadline:
            raise self._fail(self._timeout_error())
        env = dict(os.environ, LC_ALL="C")
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise SmartctlMissing(f"smartctl not found at {cmd[0]}") from None
        except PermissionError:
            raise SmartctlMissing(f"cannot run {cmd[0]}: permission denied") from None
        try:
            out = self._collect(proc, what, started, cmd)
        except BaseException:  # Ctrl-C included: smartctl runs in its own session, no signal reaches it
            if proc.returncode is None:
                _kill(proc)
            raise
        lines = self._decode_output(out)
        self.calls.append(Call(cmd[1:], proc.returncode, lines, time.monotonic() - started))
        return lines, proc.returncode

    def _collect(self, proc: subprocess.Popen, what: str, started: float, cmd: list[str]) -> bytes:
        """smartctl's output, read as it comes until it ends; killed on the deadline, a cancel, or
        more output than smartctl ever writes (MAX_OUTPUT: a flood is not buffered)."""
        out, err = bytearray(), 0
        streams = {proc.stdout.fileno(): True, proc.stderr.fileno(): False}  # type: ignore[union-attr]
        with selectors.DefaultSelector() as sel:
            for fd in streams:
                sel.register(fd, selectors.EVENT_READ)
            while sel.get_map():
                if self.cancel is not None and self.cancel.is_set():
                    raise self._give_up(proc, cmd, started, SmartCancelled(f"{what}: SMART read cancelled"))
                if time.monotonic() >= self.deadline:
                    raise self._give_up(proc, cmd, started, self._timeout_error())
                for key, _ in sel.select(timeout=min(max(self.deadline - time.monotonic(), 0.01), 0.2)):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        sel.unregister(key.fd)
                    elif streams[key.fd]:
                        out += chunk
                    else:
                        err += len(chunk)  # stderr is not parsed: counted, not kept
                if len(out) + err > MAX_OUTPUT:
                    flood = SmartError(
                        f"{what}: smartctl wrote more output than smartctl ever writes and was killed"
                    )
                    raise self._give_up(proc, cmd, started, flood)
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
        try:
            proc.wait(timeout=max(self.deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:  # closed its output but lingers: the deadline still holds
            raise self._give_up(proc, cmd, started, self._timeout_error()) from None
        return bytes(out)

    def _give_up(
        self, proc: subprocess.Popen, cmd: list[str], started: float, error: SmartError
    ) -> SmartError:
        """Kill smartctl, note the call, and return the error to raise (kept as the reading's failure)."""
        _kill(proc)
        self.calls.append(Call(cmd[1:], None, [], time.monotonic() - started))
        return self._fail(error)

    def _timeout_error(self) -> SmartTimeout:
        what = self.device or "smartctl"
        return SmartTimeout(
            f"{what}: smartctl did not answer within {self.timeout:g} s and was killed "
            "(the drive may be hanging)"
        )

    def _decode_output(self, raw_output: bytes) -> list[str]:
        """smartctl's output under LC_ALL=C (UTF-8 at worst for model strings), as lines."""
        return raw_output.decode("utf-8", errors="replace").splitlines()


def _kill(proc: subprocess.Popen) -> None:
    """Kill smartctl and its process group; never wait long for a process stuck in the kernel."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for f in (proc.stdout, proc.stderr):
        try:
            if f is not None:
                f.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        threading.Thread(target=proc.wait, name="station-smartctl-reaper", daemon=True).start()
