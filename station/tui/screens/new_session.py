"""New session: source, destination (image file or drive), method, options, pre-flight SMART summary.

Starting goes through `station.job.prepare`, the same checks as `station image` (a refusal is
shown as its one line and nothing is created).  A drive as destination is overwritten only
after the technician types its name.
"""

from __future__ import annotations

import re
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Header,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Select,
    Static,
)

from station.job import ImageJob, prepare
from station.media.base import Refused
from station.media.drives import Attached, Drive, HealthBadge, attached_devices
from station.rescue.options import RescueOptions
from station.rescue.profiles import PROFILES, cli_flags
from station.units import fmt_bytes


def default_image_path(image_dir: Path, d: Drive) -> Path:
    """One image per drive (by serial), so that a rerun resumes it."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", d.serial or d.model or d.name or "drive").strip("_") or "drive"
    return image_dir / f"{stem}.img"


class NewSessionScreen(Screen):
    """The form for one imaging job."""

    BINDINGS = [
        Binding("ctrl+s", "start", "Start"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, source: Drive) -> None:
        super().__init__()
        self.source = source
        self.targets: list[Drive] = []
        self.imagers: list[Attached] = []

    def compose(self) -> ComposeResult:
        app = self.app
        d = self.source
        self.targets = [t for t in app.scan() if t.can_be_target and t.path != d.path]  # type: ignore[attr-defined]
        self.imagers = [a for a in attached_devices(app.attached) if a.kind == "imager"]  # type: ignore[attr-defined]
        image = default_image_path(app.image_dir, d)  # type: ignore[attr-defined]
        methods = [(f"engine: {p.name} — {p.summary}", f"profile:{p.name}") for p in PROFILES.values()]
        methods += [
            (f"imager {a.driver}:{a.port} — {a.description}", f"imager:{i}")
            for i, a in enumerate(self.imagers)
        ]
        yield Header()
        with VerticalScroll(id="form"):
            yield Label(f"[b]Source[/b]  {d.label}  {d.path}  {fmt_bytes(d.size)}", id="source")
            yield Static("", id="preflight", classes="detail")
            yield Label("Destination", classes="section")
            with RadioSet(id="dest-kind", compact=True):
                yield RadioButton("image file", value=True, id="kind-file")
                yield RadioButton("drive (overwritten)", id="kind-drive", disabled=not self.targets)
            with Grid(classes="form"):
                yield Label("image file")
                yield Input(str(image), id="image-path", compact=True)
                yield Label("target drive")
                yield Select(
                    [(f"{t.path}  {t.label}  {fmt_bytes(t.size)}", t.path) for t in self.targets],
                    prompt="no free drive" if not self.targets else "pick a drive",
                    id="target", disabled=True, compact=True,
                )  # fmt: skip
                yield Label("mapfile")
                yield Input(
                    "",
                    placeholder="IMAGE.map, or in the images folder for a drive",
                    id="mapfile",
                    compact=True,
                )
                yield Label("method")
                yield Select(methods, value="profile:default", allow_blank=False, id="method", compact=True)
                yield Label("retry passes")
                yield Input("0", id="retry-passes", compact=True)
            with Horizontal(classes="switches"):
                yield Checkbox("reverse", id="reverse", compact=True)
                yield Checkbox("no trim", id="no-trim", compact=True)
                yield Checkbox("no scrape", id="no-scrape", compact=True)
                yield Checkbox("no sweep", id="no-sweep", compact=True)
                yield Checkbox("overwrite an existing image", id="force", compact=True)
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Start (ctrl+s)", variant="success", id="start", compact=True)
                yield Button("Back (esc)", id="back", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#image-path", Input).focus()
        self._preflight()

    # -- pre-flight -------------------------------------------------------------------------------

    def _preflight(self) -> None:
        d = self.source
        box = self.query_one("#preflight", Static)
        if d.kind == "virtual":
            box.update("[dim]pre-flight: a virtual drive has no SMART; " + (d.description or "") + "[/]")
            return
        lines = []
        if d.protected:
            lines.append("[yellow]this drive is in use (" + "; ".join(d.protected) + "); it is only read[/]")
        health = self.app.health  # type: ignore[attr-defined]
        if health is None:
            lines.append("[dim]pre-flight: SMART is not available on this station[/]")
            box.update("\n".join(lines))
            return
        lines.append("pre-flight: reading SMART…")
        box.update("\n".join(lines))
        self._read_smart(d, lines[:-1])

    @work(thread=True, exclusive=True, group="preflight")
    def _read_smart(self, d: Drive, lines: list[str]) -> None:
        try:
            badge = self.app.health(d)  # type: ignore[attr-defined]
        except Exception:
            badge = HealthBadge("UNKNOWN", ("SMART could not be read",))
        self.app.call_from_thread(self._show_smart, badge, lines)

    def _show_smart(self, badge: HealthBadge | None, lines: list[str]) -> None:
        if badge is None:
            lines.append("pre-flight: no SMART data")
        else:
            colour = {"GOOD": "green", "WARNING": "yellow", "FAILING": "bold red"}.get(badge.short, "dim")
            lines.append(f"pre-flight SMART: [{colour}]{badge.short}[/]")
            lines += [f"  [yellow]• {r}[/]" for r in badge.reasons]
        self.query_one("#preflight", Static).update("\n".join(lines))

    # -- the form ---------------------------------------------------------------------------------

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        to_drive = event.pressed.id == "kind-drive"
        self.query_one("#image-path", Input).disabled = to_drive
        self.query_one("#target", Select).disabled = not to_drive
        self.query_one("#force", Checkbox).disabled = to_drive

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        elif event.button.id == "back":
            self.app.pop_screen()

    def error(self, text: str) -> None:
        self.query_one("#error", Static).update(f"[b red]{text}[/]" if text else "")

    def options(self) -> RescueOptions:
        method = str(self.query_one("#method", Select).value)
        if not method.startswith("profile:"):
            raise ValueError("handing a session off to a hardware imager comes with the drivers feature")
        o = PROFILES[method.split(":", 1)[1]].options()
        text = self.query_one("#retry-passes", Input).value.strip() or "0"
        try:
            retries = int(text)
        except ValueError:
            raise ValueError(f"retry passes: {text!r} is not a whole number") from None
        o.retry_passes = max(o.retry_passes, retries)
        for wid, name in (("reverse", "reverse"), ("no-trim", "no_trim"), ("no-scrape", "no_scrape"),
                          ("no-sweep", "no_sweep")):  # fmt: skip
            if self.query_one(f"#{wid}", Checkbox).value:
                setattr(o, name, True)
        if self.source.kind == "virtual":
            o.save_interval = 5.0  # as `station demo`: the map on disk follows closely
        return o

    def destination(self) -> tuple[str, Drive | None]:
        if self.query_one("#kind-drive", RadioButton).value:
            value = self.query_one("#target", Select).value
            target = next((t for t in self.targets if t.path == value), None)
            if target is None:
                raise ValueError("pick the target drive")
            return target.path, target
        path = self.query_one("#image-path", Input).value.strip()
        if not path:
            raise ValueError("name the image file")
        return str(Path(path).expanduser()), None

    def action_start(self) -> None:
        self.error("")
        try:
            options = self.options()
            dest, target = self.destination()
        except ValueError as e:
            self.error(str(e))
            return
        if target is None and self._is_default_dir(dest):
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
        mapfile = self.query_one("#mapfile", Input).value.strip() or None
        if mapfile is None and target is not None:  # not DEST.map: that would be a file in /dev
            image_dir = Path(self.app.image_dir)  # type: ignore[attr-defined]
            image_dir.mkdir(parents=True, exist_ok=True)
            stem = default_image_path(image_dir, self.source).with_suffix("")
            mapfile = f"{stem}-to-{target.name}.map"
        force = target is not None or self.query_one("#force", Checkbox).value
        job = self._prepare(dest, mapfile, options, force)
        if job is None:
            return
        if target is None:
            self._go(job)
            return
        from station.tui.screens.dialogs import TypedConfirmScreen

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._go(job)
            else:
                job.source.close()
                self.error("nothing was written")

        word = target.name or Path(target.path).name
        self.app.push_screen(
            TypedConfirmScreen(
                f"Everything on {target.path} ({target.label}, {fmt_bytes(target.size)}) will be overwritten",
                word,
            ),
            confirmed,
        )

    def _is_default_dir(self, dest: str) -> bool:
        return Path(dest).parent == Path(self.app.image_dir)  # type: ignore[attr-defined]

    def _prepare(
        self, dest: str, mapfile: str | None, options: RescueOptions, force: bool
    ) -> ImageJob | None:
        d = self.source
        cmd = ["station", "image", *cli_flags(options), d.path, dest] + ([mapfile] if mapfile else [])
        try:
            return prepare(
                d.path, dest, mapfile, options=options, force=force,
                source=d.opener() if d.opener is not None else None,
                command=cmd, store=self.app.store,  # type: ignore[attr-defined]
            )  # fmt: skip
        except Refused as e:
            self.error(str(e))
        except OSError as e:
            self.error(f"{d.path}: {e.strerror or e}")
        return None

    def _go(self, job: ImageJob) -> None:
        title = f"{self.source.label} → {job.dest}"
        self.app.start_job(job, title, self.source.path)  # type: ignore[attr-defined]
