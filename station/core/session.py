"""Sessions: one job each, kept in a per-user store so other views can find them.

    $XDG_DATA_HOME/station/sessions/<id>/session.json   the record (station.core.record)
                                         events.jsonl   the event log, appended as it runs

session.json is replaced atomically; events.jsonl is appended line by line and flushed, so
another terminal (the TUI, `station sessions`) can follow a running session.  A session whose
process died without ending it (kill -9, power loss) reads as "interrupted".

Every save also appends the session's id to `sessions.changes` beside the store, so the catalog
(station.catalog) learns which records changed without comparing thousands of directories at
every query.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from station.core.events import Event, Progress, event_from_dict
from station.core.record import SessionRecord, SessionResult
from station.core.safeopen import make_private_dir, open_append, pid_alive, write_atomic

PROGRESS_LOG_INTERVAL = 1.0  # seconds between progress lines in events.jsonl


def data_home() -> Path:
    """The XDG data directory (XDG_DATA_HOME, else ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME")
    return Path(base) if base else Path.home() / ".local" / "share"


def images_home() -> Path:
    """The station's own images folder: the workstation's default, and where a clone's map goes."""
    return data_home() / "station" / "images"


def write_json_atomic(path: Path, obj: dict[str, Any]) -> None:
    """Replace path with obj as JSON, private to its owner (0600): synced first, so a crash
    leaves the old file or the new one (station.core.safeopen.write_atomic)."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    write_atomic(path, text.encode("utf-8"), mode=0o600)


def changes_path(root: Path) -> Path:
    """The store's change journal, beside it (not in it: the store holds session directories only)."""
    return root.with_name(root.name + ".changes")


def note_change(session_dir: Path) -> None:
    """Say in the store's change journal that this session's files changed (one short O_APPEND
    write: lines from several processes never mix).  Best effort: the catalog also notices new
    and removed sessions by itself, and `station catalog rebuild` rereads everything."""
    try:
        fd = open_append(changes_path(session_dir.parent), 0o600)
    except OSError:
        return
    try:
        os.write(fd, f"{session_dir.name}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)


class Session:
    """A running or past job: its record and its event log."""

    def __init__(self, directory: Path, record: SessionRecord) -> None:
        self.dir = directory
        self.record = record
        self._events = None
        self._last_progress_log = -1e9
        self._last_progress: Progress | None = None
        self.log_error = ""  # why events.jsonl stopped growing (a full disk), if it did

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state(self) -> str:
        """running, finished, stopped, failed, or interrupted (its process died mid-run)."""
        r = self.record
        ours = r.host == socket.gethostname()
        if r.state == "running" and ours and (not r.pid or not pid_alive(int(r.pid))):
            return "interrupted"
        return r.state

    def save(self) -> None:
        write_json_atomic(self.dir / "session.json", self.record.to_dict())
        note_change(self.dir)

    def log(self, event: Event) -> None:
        """Append an event to events.jsonl (progress thinned to one a second)."""
        if isinstance(event, Progress):
            self._last_progress = event
            if event.t - self._last_progress_log < PROGRESS_LOG_INTERVAL:
                return
            self._last_progress_log = event.t
        if self.log_error:
            return
        try:
            if self._events is None:
                fd = open_append(self.dir / "events.jsonl", 0o600)
                os.fchmod(fd, 0o600)  # also a log an earlier version made 0644
                self._events = open(fd, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
            self._events.write(json.dumps(event.to_dict(), separators=(",", ":")) + "\n")
            self._events.flush()
        except OSError as e:  # a full store must not stop a rescue: the log stops, the job goes on
            self.log_error = f"the session log stopped ({(e.strerror or str(e)).lower()})"

    def finish(self, outcome: str, reason: str, result: SessionResult) -> None:
        """Record the end of the run (the last progress snapshot is logged too)."""
        if self._last_progress is not None and self._last_progress.t != self._last_progress_log:
            self._last_progress_log = -1e9
            self.log(self._last_progress)
        r = self.record
        r.state, r.ended, r.reason, r.result = outcome, time.time(), reason, result
        try:
            self.save()
        finally:
            if self._events is not None:
                with contextlib.suppress(OSError):
                    self._events.close()
                self._events = None

    def events(self) -> Iterator[Event]:
        """The events logged so far (a torn last line from a crash is skipped)."""
        path = self.dir / "events.jsonl"
        if not path.exists():
            return
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    yield event_from_dict(json.loads(line))
                except (ValueError, TypeError):
                    continue


class SessionStore:
    """The per-user directory of sessions."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or data_home() / "station" / "sessions"

    def create(self, record: SessionRecord) -> Session:
        """Start a session of `record` (given its id, state running, this process and the time).

        OSError (a full disk, a store path through a regular file) leaves no session behind.
        """
        make_private_dir(self.root)  # 0700, and the folders it makes on the way
        while True:  # ids are unique by creating their directory: two jobs may start in one second
            sid = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
            d = self.root / sid
            try:
                d.mkdir(mode=0o700)
                break
            except FileExistsError:
                continue
        record.id, record.state, record.pid, record.host = sid, "running", os.getpid(), socket.gethostname()
        record.started, record.ended = time.time(), None
        s = Session(d, record)
        try:
            s.save()
        except BaseException:  # a full disk: no half-made session is left to list
            shutil.rmtree(d, ignore_errors=True)
            raise
        return s

    def get(self, sid: str) -> Session:
        d = self.root / sid
        with open(d / "session.json", encoding="utf-8") as f:
            return Session(d, SessionRecord.from_dict(json.load(f)))

    def list(self) -> list[Session]:
        """All sessions, oldest first (unreadable records are skipped)."""
        if not self.root.is_dir():
            return []
        out = []
        for d in sorted(self.root.iterdir()):
            try:
                out.append(self.get(d.name))
            except (OSError, ValueError, TypeError):  # TypeError: a record of the wrong shape
                continue
        return out
