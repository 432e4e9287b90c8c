"""Browse an image: partitions, a directory tree, what is not rescued of each file in red, extract
the selection, and "rescue these first" for a session that is running or will be resumed.

Opened from a session's screen (live or followed: its image and mapfile) and from the images
screen.  The walk (TSK, C code) runs in a child process (station.views.isolated) driven by a
thread worker: the UI thread only draws, and a damaged image that crashes TSK costs the child.
While a rescue runs, the image is read with the map as last saved (data is in the image before
the map says so); `r` reads both again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static

from station.core.session import SessionStore
from station.core.units import fmt_bytes
from station.tui.screens.base import StationScreen
from station.tui.widgets.file_tree import FileTree
from station.views.browse import Extraction, Listing, Node, extract_selection, read_listing
from station.views.isolated import Cancelled, IsolatedError, isolated


def session_running(store: SessionStore, session_id: str | None) -> Callable[[], bool]:
    """Whether a session of the store is running now (asked again at each redraw of the state)."""

    def running() -> bool:
        try:
            return session_id is not None and store.get(session_id).state == "running"
        except (OSError, ValueError, KeyError):
            return False

    return running


def _clock(t: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if t else "?"


class BrowseScreen(StationScreen):
    """One image's files; `running()` says whether a rescue is writing it now."""

    BINDINGS = [
        Binding("x", "extract", "Extract"),
        Binding("f", "first", "Rescue these first"),
        Binding("r", "refresh", "Refresh"),
        Binding("h", "hit_only", "Only what is hit"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(
        self, image: str, map_path: str | None, *, running: Callable[[], bool] | None = None, title: str = ""
    ) -> None:
        super().__init__()
        self.image, self.map_path = image, map_path
        self.running = running or (lambda: False)
        self.title_text = title or image
        self.listing: Listing | None = None
        self.extracted: Extraction | None = None
        self.requested: str | None = None  # what the last "rescue these first" said
        self.loads = 0  # listings shown (tests wait on it)
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(self.title_text, style="bold"), id="browse-title")
        yield Static("reading the image…", id="browse-state", classes="detail")
        with Horizontal(id="browse-body"):
            yield FileTree(id="browse-tree")
            with Vertical(id="browse-side"):
                yield Static("", id="browse-detail")
                yield Static("", id="browse-notes", classes="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(FileTree).focus()
        self.action_refresh()

    def on_unmount(self) -> None:
        self._cancel.set()

    # -- reading --------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.query_one("#browse-state", Static).update("reading the image…")
        self.load()

    @work(thread=True, exclusive=True, group="browse-read")
    def load(self) -> None:
        try:
            listing = isolated(read_listing, self.image, self.map_path, cancel=self._cancel)
        except Cancelled:
            return
        except IsolatedError as e:
            self.app.call_from_thread(self._failed, str(e))
            return
        self.app.call_from_thread(self._show, listing)

    def _failed(self, message: str) -> None:
        if self.is_mounted:
            self.query_one("#browse-state", Static).update(
                Text(f"cannot read the image: {message}", style="red")
            )

    def _show(self, listing: Listing) -> None:
        if not self.is_mounted:
            return
        self.listing = listing
        self.query_one(FileTree).show(listing)
        self._state()
        notes = "\n".join(f"• {n}" for n in dict.fromkeys(listing.notes))
        self.query_one("#browse-notes", Static).update(Text(notes))
        self._detail()
        self.loads += 1

    def _state(self) -> None:
        listing = self.listing
        if listing is None:
            return
        if listing.map_path is None and listing.unrescued == 0:
            where = "no map: every byte counts as rescued"
        else:
            where = f"{fmt_bytes(listing.unrescued)} of {fmt_bytes(listing.size)} not rescued"
        line = Text(where, style="red" if listing.unrescued else "green")
        line.append(f"  read {_clock(listing.read_at)}", style="dim")
        if self.running():
            line.append(
                f"  rescue running: map as saved {_clock(listing.map_saved)}, r reads again", style="yellow"
            )
        tree = self.query_one(FileTree)
        if tree.marked:
            picked = listing.unrescued_of(sorted(tree.marked))
            line.append(f"  {len(tree.marked)} marked, {fmt_bytes(picked)} of them not rescued", style="bold")
        self.query_one("#browse-state", Static).update(line)

    # -- the entry under the cursor --------------------------------------------------------------

    def on_tree_node_highlighted(self, event: FileTree.NodeHighlighted) -> None:
        self._detail()

    def on_file_tree_marked(self, event: FileTree.Marked) -> None:
        self._state()

    def _detail(self) -> None:
        tree = self.query_one(FileTree)
        listing, path = self.listing, tree.current
        box = self.query_one("#browse-detail", Static)
        if listing is None or path is None or path not in listing.nodes:
            box.update("")
            return
        box.update(detail_text(listing.nodes[path]))

    # -- what can be done with the selection -----------------------------------------------------

    def action_hit_only(self) -> None:
        tree = self.query_one(FileTree)
        tree.set_hit_only(not tree.hit_only)
        self.notify("only what is not rescued" if tree.hit_only else "everything")

    def action_extract(self) -> None:
        from station.tui.screens.folder import FolderScreen

        paths = self.query_one(FileTree).selection()
        if self.listing is None or not paths:
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        default = self.services.image_dir / "extracted" / f"{Path(self.image).name}-{stamp}"

        def chosen(folder: str | None) -> None:
            if folder:
                self.notify(f"extracting {len(paths)} entr{'y' if len(paths) == 1 else 'ies'}…")
                self.extract(paths, folder)

        self.app.push_screen(
            FolderScreen(f"Extract {len(paths)} selected into the folder:", str(default)), chosen
        )

    @work(thread=True, group="browse-extract")
    def extract(self, paths: list[str], folder: str) -> None:
        try:
            done = isolated(extract_selection, self.image, self.map_path, paths, folder, cancel=self._cancel)
        except Cancelled:
            return
        except IsolatedError as e:
            self.app.call_from_thread(
                self.notify, f"extract failed: {e}", severity="error", timeout=10, markup=False
            )
            return
        self.app.call_from_thread(self._extracted, done)

    def _extracted(self, done: Extraction) -> None:
        self.extracted = done
        said = f"{done.files} file(s) extracted into {done.dest}"
        if done.incomplete:
            said += f"; {len(done.incomplete)} with bytes not rescued (zeros there)"
        if done.errors:
            said += f"; {len(done.errors)} could not be written"
        severity = "warning" if done.incomplete or done.errors else "information"
        self.notify(said, title="extract", severity=severity, timeout=15, markup=False)
        lines = [said, *(f"  incomplete: {p} ({fmt_bytes(n)} missing)" for p, n in done.incomplete[:10])]
        lines += [f"  {e}" for e in done.errors[:10]]
        self.query_one("#browse-notes", Static).update(Text("\n".join(lines)))

    def action_first(self) -> None:
        """Ask the session writing this image to read the selection next (or first when resumed)."""
        tree = self.query_one(FileTree)
        listing, paths = self.listing, tree.selection()
        if listing is None:
            return
        if not self.map_path or not os.path.exists(self.map_path):
            self.notify(
                "no session writes this image (no mapfile): nothing to rescue first", severity="warning"
            )
            return
        if not paths:
            self.notify("mark entries with space first", severity="warning")
            return
        if not listing.unrescued_of(paths):
            self.notify("every byte of the selection is rescued already", severity="warning")
            return
        self.prioritize(listing.ranges_of(paths), listing.unrescued_of(paths))

    @work(thread=True, group="browse-first")
    def prioritize(self, ranges: list[tuple[int, int]], left: int) -> None:
        from station.jobs.stage_record import request_priority
        from station.media.base import Refused

        try:
            said = request_priority(self.map_path or "", ranges)
        except Refused as e:
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10, markup=False)
            return
        message = f"rescue these first ({fmt_bytes(left)} not rescued): {said}"
        self.requested = message
        self.app.call_from_thread(self.notify, message, title="rescue first", timeout=10, markup=False)


def detail_text(n: Node) -> Text:
    """The entry under the cursor in words."""
    t = Text(n.path, style="bold")
    kind = {"dir": "folder", "partition": "partition", "metadata": "filesystem metadata"}.get(n.kind, n.kind)
    t.append(f"\n{kind}, {fmt_bytes(n.size)}")
    if n.mtime:
        t.append(f", modified {time.strftime('%Y-%m-%d %H:%M', time.localtime(n.mtime))}")
    if n.deleted:
        t.append("\ndeleted (its blocks may have been used again since)", style="dim")
    if n.note:
        t.append(f"\n{n.note}", style="dim")
    if n.below:
        inside = " (inside it)" if n.kind in ("dir", "partition") else ""
        t.append(f"\n{fmt_bytes(n.below)} not rescued{inside}", style="bold red")
    elif n.kind != "partition" or not n.note:
        t.append("\nevery byte rescued", style="green")
    if n.record_unrescued:
        t.append("\nits record (inode, MFT entry) is not rescued", style="bold red")
    if n.ranges:
        on_disk = sum(hi - lo for lo, hi in n.ranges)
        t.append(f"\n{fmt_bytes(on_disk)} on the disk in {len(n.ranges)} range(s)", style="dim")
    return t
