"""New session: source, destination (image file or drive), method, options, pre-flight SMART summary.

Starting goes through `station.jobs.imaging.prepare`, the same checks as `station image` (a refusal is
shown as its one line and nothing is created), with SMART before, during and after for a
drive (`StationApp.smart`).  A drive as destination is overwritten only after the technician
types its name.

A drive on an imager's source port (kind "imager") is imaged by that imager: the method is the
imager, the destination one of its target ports, and starting goes through
`station.jobs.handoff.prepare_handoff` (serial or USB I/O, so in a thread worker) and the same
typed confirmation before the target is overwritten.  The host never reads such a drive, so
no engine profile is offered for it, and no imager for a drive the host reads.
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

from station.core.units import fmt_bytes
from station.health.badge import HealthBadge
from station.jobs.drives import Drive
from station.jobs.imaging import ImageJob, prepare
from station.media.base import Refused
from station.rescue.option_flags import cli_flags
from station.rescue.options import RescueOptions
from station.rescue.profiles import PROFILES


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

    def compose(self) -> ComposeResult:
        app = self.app
        d = self.source
        if d.kind == "imager":
            yield from self._compose_imager(d)
            return
        self.targets = [t for t in app.scan() if t.can_be_target and t.path != d.path]  # type: ignore[attr-defined]
        image = default_image_path(app.image_dir, d)  # type: ignore[attr-defined]
        relays = [a for a in app.devices if a.kind == "relay"]  # type: ignore[attr-defined]
        methods = [(f"engine: {p.name} — {p.summary}", f"profile:{p.name}") for p in PROFILES.values()]
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
                yield Label("power relay")
                with Horizontal(id="relay-row"):
                    yield Select(
                        [(f"{a.spec} — {a.description}", a.spec) for a in relays],
                        prompt="none" if relays else "none attached",
                        id="relay", compact=True, disabled=not relays,
                    )  # fmt: skip
                    yield Input(
                        "1", placeholder="channel", id="relay-channel", compact=True, disabled=not relays
                    )
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

    def _compose_imager(self, d: Drive) -> ComposeResult:
        """The form for a drive on an imager: its target port, the local mapfile, the imager."""
        app = self.app
        mapfile = default_image_path(app.image_dir, d).with_suffix(".map")  # type: ignore[attr-defined]
        devices = app.devices  # type: ignore[attr-defined]
        description = next((a.description for a in devices if a.spec == d.imager), "")
        yield Header()
        with VerticalScroll(id="form"):
            source = f"{d.label}  port {d.name} of {d.imager}  {fmt_bytes(d.size)}"
            yield Label(f"[b]Source[/b]  {source}", id="source")
            yield Static(
                "[dim]pre-flight: the imager reads this drive itself; the station does not read its SMART[/]",
                id="preflight",
                classes="detail",
            )
            yield Label("Destination: a drive on one of the imager's target ports", classes="section")
            with Grid(classes="form"):
                yield Label("target port")
                yield Select(
                    [(t, t) for t in d.imager_targets],
                    prompt="no drive on a target port",
                    value=d.imager_targets[0] if d.imager_targets else Select.NULL,
                    id="target-port", compact=True,
                )  # fmt: skip
                yield Label("mapfile")
                yield Input(str(mapfile), id="mapfile", compact=True)
                yield Label("method")
                yield Select(
                    [(f"imager {d.imager} — {description}", f"imager:{d.imager}")],
                    value=f"imager:{d.imager}", allow_blank=False, id="method", compact=True,
                )  # fmt: skip
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Start (ctrl+s)", variant="success", id="start", compact=True)
                yield Button("Back (esc)", id="back", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        if self.source.kind == "imager":
            self.query_one("#mapfile", Input).focus()
            return
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
            lines.append("pre-flight: no SMART data (smartctl is not installed)")
        else:
            colour = {"GOOD": "green", "WARNING": "yellow", "FAILING": "bold red"}.get(badge.short, "dim")
            lines.append(f"pre-flight SMART: [{colour}]{badge.short}[/]")
            lines += [f"  [yellow]• {r}[/]" for r in badge.reasons]
            if badge.advice and badge.short != "GOOD":
                lines.append(f"  {badge.advice}")
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
        if self.query_one("#start", Button).disabled:
            return  # a device is being opened for the previous press
        self.error("")
        if self.source.kind == "imager":
            self._start_handoff()
            return
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
        try:
            relay = self.relay()
        except ValueError as e:
            self.error(str(e))
            return
        job = self._prepare(dest, mapfile, options, force)
        if job is None:
            return
        if relay is None:
            self._confirm_and_go(job, target)
            return
        self.query_one("#start", Button).disabled = True
        self.query_one("#error", Static).update(f"[dim]opening the relay {relay}…[/]")
        self._attach_relay(job, target, relay)

    def relay(self) -> str | None:
        """DRIVER:PORT:CHANNEL of the relay feeding the source's power, or None."""
        select = self.query_one("#relay", Select)
        if select.is_blank():
            return None
        value = select.value
        text = self.query_one("#relay-channel", Input).value.strip() or "1"
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"relay channel: {text!r} is not a channel number (from 1)")
        return f"{value}:{int(text)}"

    @work(thread=True, exclusive=True, group="relay")
    def _attach_relay(self, job: ImageJob, target: Drive | None, spec: str) -> None:
        """Open the relay (serial or USB I/O, with the driver's timeouts) as the engine's recover
        hook: a drive that stops answering is power-cycled, found again by serial and reopened."""
        from station.jobs.power import recovery_from_spec

        try:
            job.recover = recovery_from_spec(spec, job.source, self.app.relay_settings)  # type: ignore[attr-defined]
        except Exception as e:
            text = str(e) if isinstance(e, Refused) else f"--relay: {type(e).__name__}: {e}"
            self.app.call_from_thread(self._relay_refused, job, text)
            return
        self.app.call_from_thread(self._relay_attached, job, target)

    def _relay_refused(self, job: ImageJob, text: str) -> None:
        job.source.close()  # prepare() created nothing: the map is only written when a job runs
        self.query_one("#start", Button).disabled = False
        self.error(text)

    def _relay_attached(self, job: ImageJob, target: Drive | None) -> None:
        self.query_one("#start", Button).disabled = False
        self.error("")
        self._confirm_and_go(job, target)

    def _confirm_and_go(self, job: ImageJob, target: Drive | None) -> None:
        """Start the job; a drive as destination only once its name is typed."""
        if target is None:
            self._go(job)
            return
        from station.tui.screens.dialogs import TypedConfirmScreen

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._go(job)
            else:
                job.source.close()
                if job.recover is not None and hasattr(job.recover, "close"):
                    job.recover.close()
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
        # SMART before, during and after, as `station image` does for a drive (files and virtual
        # drives have none; SessionHealth says so in the session record)
        health = self.app.smart if d.kind == "block" else None  # type: ignore[attr-defined]
        try:
            return prepare(
                d.path, dest, mapfile, options=options, force=force,
                source=d.opener() if d.opener is not None else None,
                command=cmd, store=self.app.store, health=health,  # type: ignore[attr-defined]
            )  # fmt: skip
        except Refused as e:
            self.error(str(e))
        except OSError as e:
            self.error(f"{d.path}: {e.strerror or e}")
        return None

    def _go(self, job: ImageJob) -> None:
        title = f"{self.source.label} → {job.dest}"
        self.app.start_job(job, title, self.source.path, drive=self.source)  # type: ignore[attr-defined]

    # -- hand-off to an imager --------------------------------------------------------------------

    def _start_handoff(self) -> None:
        d = self.source
        select = self.query_one("#target-port", Select)
        if select.is_blank():
            self.error("no drive on any of the imager's target ports")
            return
        target = select.value
        mapfile = self.query_one("#mapfile", Input).value.strip()
        if not mapfile:
            self.error("name the mapfile (the imager's map is mirrored there as the job goes)")
            return
        mapfile = str(Path(mapfile).expanduser())
        if self._is_default_dir(mapfile):
            Path(mapfile).parent.mkdir(parents=True, exist_ok=True)
        self.query_one("#start", Button).disabled = True
        self.query_one("#error", Static).update(f"[dim]opening the imager {d.imager}…[/]")
        self._prepare_handoff(str(d.imager), d.name, str(target), mapfile)

    @work(thread=True, exclusive=True, group="handoff")
    def _prepare_handoff(self, spec: str, source: str, target: str, mapfile: str) -> None:
        """prepare_handoff talks to the device (HELLO, its ports): serial or USB I/O with timeouts."""
        from station.jobs.handoff import prepare_handoff

        command = ["station", "image", "--imager", spec, source, target, mapfile]
        try:
            job = prepare_handoff(spec, source, target, mapfile, command=command, store=self.app.store)  # type: ignore[attr-defined]
        except Refused as e:
            self.app.call_from_thread(self._handoff_refused, str(e))
            return
        except Exception as e:  # a driver's bug: one line, never a traceback on the screen
            self.app.call_from_thread(self._handoff_refused, f"{spec}: {type(e).__name__}: {e}")
            return
        self.app.call_from_thread(self._confirm_handoff, job)

    def _handoff_refused(self, text: str) -> None:
        self.query_one("#start", Button).disabled = False
        self.error(text)

    def _confirm_handoff(self, job) -> None:
        from station.tui.screens.dialogs import TypedConfirmScreen

        self.query_one("#start", Button).disabled = False
        self.error("")
        port = job.description.port(job.dest)
        bits = (port.model, fmt_bytes(port.size) if port.size else None) if port else ()
        what = ", ".join(x for x in bits if x)

        def confirmed(yes: bool | None) -> None:
            if yes:
                title = f"{self.source.label} ({job.spec} {job.source}) → {job.dest}"
                self.app.start_job(job, title, self.source.path, drive=self.source)  # type: ignore[attr-defined]
            else:
                job.driver.close()
                self.error("nothing was started")

        self.app.push_screen(
            TypedConfirmScreen(
                f"The imager will overwrite everything on its port {job.dest}"
                + (f" ({what})" if what else ""),
                job.dest,
            ),
            confirmed,
        )
