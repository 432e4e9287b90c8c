"""Work in a child process: answers come back, errors come back as one line, a crash is a finding."""

from __future__ import annotations

import os
import threading
import time

import pytest

from station.views.isolated import Cancelled, IsolatedError, isolated


def test_the_answer_comes_back() -> None:
    assert isolated(divmod, 17, 5) == (3, 2)
    assert isolated(os.path.join, "a", "b") == "a/b"


def test_what_it_raises_comes_back_as_one_line() -> None:
    with pytest.raises(IsolatedError, match=r"ZeroDivisionError: integer division or modulo by zero"):
        isolated(divmod, 1, 0)


def test_a_child_that_dies_is_said_not_suffered() -> None:
    with pytest.raises(IsolatedError, match=r"died \(SIGABRT\)"):
        isolated(os.abort)


def test_a_cancel_kills_the_child() -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    t = time.monotonic()
    with pytest.raises(Cancelled):
        isolated(time.sleep, 30, cancel=cancel)
    assert time.monotonic() - t < 5
