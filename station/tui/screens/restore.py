"""Restore / deploy: an image from the session history onto the drives ticked, behind a typed confirmation.

Images are those finished imaging sessions wrote (station.tui.restore_form.history_images);
targets are the drive list with its protection marks: a protected drive (the system disk, one
mounted, swap or held) cannot be ticked.  Starting runs `prepare_restore` (every check of
`station restore`; the partition table and, with --used-only, the filesystems are read) in a
thread worker; a refusal is its one line here and nothing is written.  Then the technician types
the name of every target; only then does the job start, on the deploy screen.
"""

from __future__ import annotations

import time

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Checkbox, DataTable, Footer, Header, Label, Select, Static

from station.core.units import fmt_bytes, fmt_percent
from station.jobs.drives import Drive
from station.jobs.restore import RestoreJob, prepare_restore
from station.media.base import Refused
from station.tui.markup import plain
from station.tui.restore_form import (
    ImageChoice,
    RestoreForm,
    RestorePlan,
    history_images,
    restore_plan,
    tickable,
)
from station.tui.screens.base import StationScreen
from station.tui.screens.devices import protection_text

FILLS = [("zeros", "zero"), ("leave the target's bytes", "skip"), ("a marker naming each sector", "marker")]


class RestoreScreen(StationScreen):
    """Pick an image, tick targets, confirm by typing their names."""

    BINDINGS = [
        Binding("space", "tick", "Tick target"),
        Binding("ctrl+s", "start", "Start"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, image: str | None = None) -> None:
        """`image`: the image to start from (picked on the images screen), else the newest."""
        super().__init__()
        self.wanted = image
        self.images: list[ImageChoice] = []
        self.drives: list[Drive] = []
        self.ticked: list[str] = []
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("Image (from finished sessions)", classes="section")
        yield DataTable(id="restore-images", cursor_type="row", zebra_stripes=True)
        yield Label("Targets (space ticks; protected drives cannot be ticked)", classes="section")
        yield DataTable(id="restore-targets", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="switches"):
            yield Select(FILLS, value="zero", allow_blank=False, id="fill")
            yield Checkbox("used blocks only", id="used-only")
            yield Checkbox("verify afterwards", value=True, id="verify")
        yield Static("", id="error", classes="error")
        yield Footer()

    def on_mount(self) -> None:
        images = self.query_one("#restore-images", DataTable)
        for key, label in (("path", "image"), ("source", "from"), ("size", "size"), ("rescued", "rescued"),
                           ("when", "imaged")):  # fmt: skip
            images.add_column(label, key=key)
        self.images = history_images(self.services.store)
        for im in self.images:
            rescued = "-" if im.rescued is None else fmt_percent(im.rescued, im.size)
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(im.started))
            images.add_row(plain(im.path), plain(im.source), fmt_bytes(im.size), rescued, when, key=im.path)
        targets = self.query_one("#restore-targets", DataTable)
        for key, label in (("tick", " "), ("path", "device"), ("model", "model"), ("serial", "serial"),
                           ("size", "size"), ("protection", "as a target")):  # fmt: skip
            targets.add_column(label, key=key)
        self.drives = [d for d in self.services.scan() if d.kind == "block"]
        for d in self.drives:
            cells = (
                plain(d.path),
                plain(d.model or "-"),
                plain(d.serial or "-"),
                fmt_bytes(d.size),
                protection_text(d),
            )
            targets.add_row(" ", *cells, key=d.path)
        if not self.images:
            self.error("no finished imaging session has an image here yet")
        paths = [im.path for im in self.images]
        if self.wanted in paths:
            images.move_cursor(row=paths.index(self.wanted))
            targets.focus()
        else:
            if self.wanted:
                self.error(f"{self.wanted} is not the image of a finished session here")
            images.focus()

    def error(self, text: str) -> None:
        self.query_one("#error", Static).update(Content(text))

    # -- picking ----------------------------------------------------------------------------------

    def action_tick(self) -> None:
        table = self.query_one("#restore-targets", DataTable)
        if not self.drives or not 0 <= table.cursor_row < len(self.drives):
            return
        d = self.drives[table.cursor_row]
        why = tickable(d)
        if why:
            self.notify(f"{d.path} cannot be a target: {why}", severity="warning", markup=False)
            return
        if d.path in self.ticked:
            self.ticked.remove(d.path)
        else:
            self.ticked.append(d.path)
        table.update_cell(d.path, "tick", "✔" if d.path in self.ticked else " ")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "restore-targets":
            self.action_tick()
        else:
            self.query_one("#restore-targets", DataTable).focus()

    def form(self) -> RestoreForm:
        images = self.query_one("#restore-images", DataTable)
        row = images.cursor_row
        image = self.images[row].path if self.images and 0 <= row < len(self.images) else None
        return RestoreForm(
            image=image,
            targets=tuple(self.ticked),
            fill=str(self.query_one("#fill", Select).value),
            used_only=self.query_one("#used-only", Checkbox).value,
            verify=self.query_one("#verify", Checkbox).value,
        )

    # -- starting ---------------------------------------------------------------------------------

    def action_start(self) -> None:
        if self.busy:
            return
        try:
            plan = restore_plan(self.form(), self.drives)
        except ValueError as e:
            self.error(str(e))
            return
        self.busy = True
        self.error("[dim]checking the image and the targets…[/]")
        self._prepare(plan)

    @work(thread=True, exclusive=True, group="restore")
    def _prepare(self, plan: RestorePlan) -> None:
        """Every check of `station restore` (the image's table and filesystems are read: a worker)."""
        try:
            job = prepare_restore(
                plan.image, [d.path for d in plan.targets], settings=plan.settings, store=self.services.store,
                command=plan.command,
            )  # fmt: skip
        except Refused as e:
            self.app.call_from_thread(self._refused, str(e))
            return
        except Exception as e:  # shown, never lost in the worker
            self.app.call_from_thread(self._refused, f"{type(e).__name__}: {e}")
            return
        self.app.call_from_thread(self._confirm, job, plan)

    def _refused(self, text: str) -> None:
        self.busy = False
        self.error(text)

    def _confirm(self, job: RestoreJob, plan: RestorePlan) -> None:
        from station.tui.screens.dialogs import TypedConfirmScreen

        def confirmed(yes: bool | None) -> None:
            self.busy = False
            if yes:
                title = f"{plan.image} → {', '.join(d.path for d in plan.targets)}"
                self.station.start_job(job, title)
            else:
                job.discard()  # its image and its writer locks
                self.error("nothing was written")

        self.error("")
        self.app.push_screen(TypedConfirmScreen(plan.warning(), plan.word), confirmed)
