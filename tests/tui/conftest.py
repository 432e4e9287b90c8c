"""Fixtures for the workstation's tests: a private session store and an app factory (helpers: tuikit.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tuikit import Drive, virtual_drive

from station.core.session import SessionStore
from station.tui.app import StationApp


@pytest.fixture(autouse=True)
def private_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-data"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    return home


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., StationApp]:
    def make(drives: list[Drive] | None = None, **kw) -> StationApp:
        listed = drives if drives is not None else [virtual_drive()]
        kw.setdefault("health", None)
        kw.setdefault("attached", [])
        kw.setdefault("image_dir", tmp_path / "images")
        kw.setdefault("store", SessionStore(tmp_path / "xdg-data" / "station" / "sessions"))
        return StationApp(scan=lambda: list(listed), **kw)

    return make
