"""Run a function in a child process, so that a crash in C code (TSK on a damaged image) costs the
child, not the workstation.

The Sleuth Kit is C: a crafted or badly damaged structure could in principle crash the process
instead of raising (docs/fs.md).  `isolated(fn, *args)` runs `fn` (a module-level function) in a
fresh interpreter, `python -m station.views.isolated`, with the call pickled on its stdin and the
answer pickled on its stdout; it returns what `fn` returns, raises `IsolatedError` with one line
for what `fn` raised, and for a child that died (naming the signal).  A `cancel` event kills the
child.  A plain subprocess, not multiprocessing: under Textual, sys.stderr has no file
descriptor for multiprocessing to hand on, and the child must inherit no terminal at all.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
POLL = 0.1  # seconds between looks at the cancel event


class IsolatedError(Exception):
    """The function raised (its type and message) or its process died; one line."""


class Cancelled(IsolatedError):
    """The caller asked for it to stop; the child was killed."""


def isolated(fn: Callable[..., T], *args: Any, cancel: threading.Event | None = None) -> T:
    """fn(*args) in a child process; blocks this (worker) thread until it is done."""
    call = pickle.dumps((fn.__module__, fn.__qualname__, args))
    proc = subprocess.Popen(
        [sys.executable, "-m", "station.views.isolated"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        out = _answer(proc, call, cancel)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        raise IsolatedError(f"the reader process died ({name})")
    try:
        kind, value = pickle.loads(out)
    except Exception:
        raise IsolatedError(
            f"the reader process ended without an answer (status {proc.returncode})"
        ) from None
    if kind == "ok":
        return value
    raise IsolatedError(value)


def _answer(proc: subprocess.Popen, call: bytes, cancel: threading.Event | None) -> bytes:
    given: bytes | None = call
    while True:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        try:
            out, _ = proc.communicate(given, timeout=POLL)
            return out or b""
        except subprocess.TimeoutExpired:
            given = None  # communicate keeps what it has not written yet


def _serve() -> None:
    """The child: one call from stdin, its answer to stdout; nothing else may reach either."""
    inp, out = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # what the C libraries print goes nowhere
    module, name, args = pickle.loads(inp.read())
    try:
        fn: Any = importlib.import_module(module)
        for part in name.split("."):
            fn = getattr(fn, part)
        answer = ("ok", fn(*args))
    except BaseException as e:  # sent back as words: its class may not unpickle on the other side
        answer = ("error", f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
    out.write(pickle.dumps(answer))
    out.close()


if __name__ == "__main__":
    _serve()
