"""Images: the catalog as a table, with search and filters, labels, reports and what else can be
done with an image (verify, browse, restore: the services' `image_actions`).

Everything that touches the catalog or an image runs in a thread worker with its own catalog
connection (opening syncs it with the session store): the UI thread only draws.  A search
shows at most SHOWN images, newest first, and says how many matched: a table of 10,000 rows is
no use to anyone, and drawing one would cost the screen its first second.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from station.catalog import CatalogError, ImageEntry, ImageQuery, LabelEdit, SessionEntry, parse_since
from station.catalog.entries import local_time
from station.core.units import fmt_bytes
from station.tui.markup import safe
from station.tui.screens.base import StationScreen
from station.tui.screens.label import LabelScreen

COLUMNS = ("created", "case", "customer", "label", "drive", "serial", "size", "format", "path")
SHOWN = 500  # rows drawn at most; the rest are found by searching
FILTERS = (("search", "search: words of a path, drive, case, customer, label, tag"), ("serial", "serial"),
           ("case", "case"), ("since", "since YYYY-MM-DD or 7d"))  # fmt: skip


class ImagesScreen(StationScreen):
    """The catalog's images, newest first; `serial` opens it on one drive's history."""

    BINDINGS = [
        Binding("e", "edit", "Edit labels"),
        Binding("o", "report", "Report"),
        Binding("v", "verify", "Verify"),
        Binding("b", "browse", "Browse"),
        Binding("t", "restore", "Restore"),
        Binding("ctrl+r", "reload", "Reload"),
        Binding("escape", "app.devices", "Devices"),
    ]

    def __init__(self, serial: str | None = None) -> None:
        super().__init__()
        self.serial = serial
        self.images: list[ImageEntry] = []
        self.matched = 0
        self.loaded = False  # the first list has been drawn
        self._generation = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("Images", classes="section", id="images-title")
        with Horizontal(id="image-filters"):
            for key, hint in FILTERS:
                yield Input(
                    self.serial or "" if key == "serial" else "", placeholder=hint, id=f"filter-{key}"
                )
        yield DataTable(id="images", cursor_type="row", zebra_stripes=True)
        yield Static("", id="image-detail", classes="detail")
        yield Static("", id="drive-history", classes="detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#images", DataTable)
        for key in COLUMNS:
            table.add_column(key, key=key)
        self.action_reload()
        table.focus()

    # -- loading ----------------------------------------------------------------------------------

    def image_query(self) -> ImageQuery:
        """The filters as typed; ValueError names one that cannot be read."""
        values = {key: self.query_one(f"#filter-{key}", Input).value.strip() for key, _ in FILTERS}
        since = parse_since(values["since"]) if values["since"] else None
        return ImageQuery(
            search=values["search"] or None, serial=values["serial"] or None, case=values["case"] or None,
            since=since, limit=SHOWN,
        )  # fmt: skip

    def action_reload(self) -> None:
        try:
            query = self.image_query()
        except ValueError as e:
            self.query_one("#image-detail", Static).update(Text(str(e), style="red"))
            return
        self._generation += 1
        self.load(self._generation, query)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("filter-"):
            self.action_reload()

    @work(thread=True, exclusive=True, group="catalog")
    def load(self, generation: int, query: ImageQuery) -> None:
        opener = self.services.catalog
        if opener is None:
            self.app.call_from_thread(self._failed, "no catalog on this station")
            return
        try:
            with opener() as cat:
                images = cat.images(query)
                matched = len(images) if len(images) < SHOWN else cat.count_images(query)
                history = cat.drive_sessions(query.serial) if query.serial else []
        except (CatalogError, OSError) as e:
            self.app.call_from_thread(self._failed, str(e))
            return
        self.app.call_from_thread(self._show, generation, images, matched, history)

    def _failed(self, message: str) -> None:
        self.query_one("#image-detail", Static).update(Text(f"catalog: {message}", style="red"))

    def _show(
        self, generation: int, images: list[ImageEntry], matched: int, history: list[SessionEntry]
    ) -> None:
        if generation != self._generation:
            return  # the filters changed meanwhile
        self.images, self.matched = images, matched
        table = self.query_one("#images", DataTable)
        table.clear()
        for i in images:
            table.add_row(*row_cells(i), key=i.id)
        shown = f"{len(images)} of {matched}" if matched > len(images) else str(len(images))
        self.query_one("#images-title", Label).update(f"Images ({shown}, newest first)")
        self.query_one("#drive-history", Static).update(history_text(history))
        self.loaded = True
        self._show_detail()

    # -- the selected image ---------------------------------------------------------------------

    def selected(self) -> ImageEntry | None:
        table = self.query_one("#images", DataTable)
        if not self.images or not 0 <= table.cursor_row < len(self.images):
            return None
        return self.images[table.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self, extra: Content | None = None) -> None:
        i = self.selected()
        detail = self.query_one("#image-detail", Static)
        if i is None:
            detail.update("no image matches" if self.loaded else "reading the catalog…")
            return
        what = f"{i.format or '?'}, {i.sessions} session(s), {i.state or '?'}"
        lines = [safe("[b]$path[/b]  ($what)", path=i.path, what=what)]
        if i.rescued is not None and i.size:
            lines.append(
                Content(f"rescued {fmt_bytes(i.rescued)} of {fmt_bytes(i.size)}, bad {fmt_bytes(i.bad or 0)}")
            )
        if i.sha256:
            lines.append(Content(f"sha256 {i.sha256}"))
        if i.last_verified is not None:
            lines.append(
                safe("last verification: " + ("[green]matched[/]" if i.last_verified else "[red]MISMATCH[/]"))
            )
        if i.tags or i.note:
            lines.append(Content(" ".join(f"#{t}" for t in i.tags) + ("  " + i.note if i.note else "")))
        if extra is not None:
            lines.append(extra)
        detail.update(Content("\n").join(lines))

    def action_edit(self) -> None:
        image = self.selected()
        if image is None:
            return

        def done(edit: LabelEdit | None) -> None:
            if edit is not None and not edit.empty:
                self.save_labels(image, edit)

        self.app.push_screen(LabelScreen(image), done)

    @work(thread=True, group="labels")
    def save_labels(self, image: ImageEntry, edit: LabelEdit) -> None:
        try:
            with self.services.catalog() as cat:  # type: ignore[misc]
                cat.label(image, edit)
        except (CatalogError, OSError, ValueError) as e:
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10, markup=False)
            return
        self.app.call_from_thread(self.notify, f"labels of {image.path} saved", markup=False)
        self.app.call_from_thread(self.action_reload)

    def action_report(self) -> None:
        image = self.selected()
        if image is not None:
            self.notify(f"writing the report of {image.path}…", markup=False)
            self.write_report(image)

    @work(thread=True, group="report")
    def write_report(self, image: ImageEntry) -> None:
        from station.report import build_report, default_report_path, write_report

        try:
            with self.services.catalog() as cat:  # type: ignore[misc]
                report = build_report(cat, cat.image(image.id) or image)
            path = default_report_path(image.id)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_report(report, html=path)
        except Exception as e:  # shown, never a crash of the workstation
            self.app.call_from_thread(self.notify, f"report: {e}", severity="error", timeout=10, markup=False)
            return
        self.app.call_from_thread(self._reported, str(path))

    def _reported(self, path: str) -> None:
        self.last_report = path
        self.notify(f"report written: {path}", title="report", timeout=15, markup=False)
        self._show_detail(safe("report: [b]$path[/b]", path=path))

    def _action(self, name: str, what: str) -> None:
        image = self.selected()
        if image is None:
            return
        action = getattr(self.services.image_actions, name)
        if action is None:
            self.notify(f"{what} is not installed on this station yet", severity="warning", timeout=8)
            return
        self.notify(f"{what}: {image.path}…", markup=False)
        self.run_action(action, image, what)

    @work(thread=True, group="image-action")
    def run_action(self, action, image: ImageEntry, what: str) -> None:
        try:
            message = action(image)
        except Exception as e:  # an action's own failure: said, not raised
            message = f"{what} failed: {type(e).__name__}: {e}"
        self.app.call_from_thread(self.notify, message, title=what, timeout=15, markup=False)
        self.app.call_from_thread(self._show_detail, Content(message))

    def action_verify(self) -> None:
        self._action("verify", "verification")

    def action_browse(self) -> None:
        """The image's files (the browse screen; or the services' own browse action, when a
        station gives one)."""
        image = self.selected()
        if image is None or self.services.image_actions.browse is not None:
            self._action("browse", "browsing an image")
            return
        from station.tui.screens.browse import BrowseScreen, session_running

        running = session_running(self.services.store, image.last_session)
        self.app.push_screen(BrowseScreen(image.path, image.mapfile, running=running, title=image.path))

    def action_restore(self) -> None:
        """Restore or deploy this image onto drives: the restore screen, with it picked (or the
        services' own restore action, when a station gives one)."""
        image = self.selected()
        if image is None or self.services.image_actions.restore is not None:
            self._action("restore", "restoring an image")
            return
        from station.tui.screens.restore import RestoreScreen

        self.app.push_screen(RestoreScreen(image.path))


def row_cells(i: ImageEntry) -> tuple[str, ...]:
    fmt = (i.format or "?") + (" (replaced)" if i.replaced else "")
    return (
        local_time(i.created), i.case or "-", i.customer or "-", i.label or "-", i.source.model or "-",
        i.source.serial or "-", fmt_bytes(i.size) if i.size else "-", fmt, i.path,
    )  # fmt: skip


def history_text(history: list[SessionEntry]) -> Text | str:
    """A drive's sessions, oldest first (the list `station drive SERIAL` prints)."""
    if not history:
        return ""
    first = history[0]
    head = f"drive {first.source.serial}: {len(history)} session(s) here before, oldest first"
    return Text("\n".join([head, *("  " + s.line() for s in history)]))
