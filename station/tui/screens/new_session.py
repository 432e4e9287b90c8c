"""New session: source, destination (image file or drive), method, options, pre-flight SMART summary.

Starting goes through `station.jobs.imaging.prepare`, the same checks as `station image` (a refusal is
shown as its one line and nothing is created), with SMART before, during and after for a
drive (`Services.smart`).  A drive as destination is overwritten only after the technician
types its name.

A drive on an imager's source port (kind "imager") is imaged by that imager: the method is the
imager, the destination one of its target ports, and starting goes through
`station.jobs.handoff.prepare_handoff` (serial or USB I/O, so in a thread worker) and the same
typed confirmation before the target is overwritten.  The host never reads such a drive, so
no engine profile is offered for it, and no imager for a drive the host reads.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.content import Content
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
from station.rescue.profiles import PROFILES
from station.tui.markup import plain, safe
from station.tui.screens.base import StationScreen
from station.tui.session_form import (
    HASH_CHOICES,
    SessionForm,
    SessionPlan,
    default_image_path,
    image_path_for,
    session_plan,
)


class NewSessionScreen(StationScreen):
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
        services = self.services
        d = self.source
        if d.kind == "imager":
            yield from self._compose_imager(d)
            return
        self.targets = [t for t in services.scan() if t.can_be_target and t.path != d.path]
        image = default_image_path(services.image_dir, d)
        relays = [a for a in services.devices if a.kind == "relay"]
        methods = [(f"engine: {p.name} — {p.summary}", f"profile:{p.name}") for p in PROFILES.values()]
        yield Header()
        with VerticalScroll(id="form"):
            yield Label(
                safe(
                    "[b]Source[/b]  $label  $path  $size", label=d.label, path=d.path, size=fmt_bytes(d.size)
                ),
                id="source",
            )
            yield Static("", id="preflight", classes="detail")
            yield Label("Destination", classes="section")
            with RadioSet(id="dest-kind", compact=True):
                yield RadioButton("image file", value=True, id="kind-file")
                yield RadioButton("drive (overwritten)", id="kind-drive", disabled=not self.targets)
            with Grid(classes="form"):
                yield Label("image file")
                yield Input(str(image), id="image-path", compact=True)
                yield Label("image format")
                yield Select(
                    [("raw (with its mapfile)", "raw"), ("compressed (zst, sealed when finished)", "zst")],
                    value="raw", allow_blank=False, id="image-format", compact=True,
                )  # fmt: skip
                yield Label("hashes")
                yield Select(
                    [(c.replace(",", " + "), c) for c in HASH_CHOICES],
                    value="sha256", allow_blank=False, id="hashes", compact=True,
                )  # fmt: skip
                yield Label("target drive")
                yield Select(
                    [(plain(f"{t.path}  {t.label}  {fmt_bytes(t.size)}"), t.path) for t in self.targets],
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
                        [(plain(f"{a.spec} — {a.description}"), a.spec) for a in relays],
                        prompt="none" if relays else "none attached",
                        id="relay", compact=True, disabled=not relays,
                    )  # fmt: skip
                    yield Input(
                        "1", placeholder="channel", id="relay-channel", compact=True, disabled=not relays
                    )
                yield Label("retry passes")
                yield Input("0", id="retry-passes", compact=True)
                yield Label("heads")
                with Horizontal(id="heads-row"):
                    for wid, hint in (("head-first", "first: none"), ("head-last", "last: none"),
                                      ("head-skip", "not read: none")):  # fmt: skip
                        yield Input("", placeholder=f"{hint} (e.g. 2 or 1,3)", id=wid, compact=True)
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
        mapfile = default_image_path(self.services.image_dir, d).with_suffix(".map")
        description = next((a.description for a in self.services.devices if a.spec == d.imager), "")
        yield Header()
        with VerticalScroll(id="form"):
            source = f"{d.label}  port {d.name} of {d.imager}  {fmt_bytes(d.size)}"
            yield Label(safe("[b]Source[/b]  $source", source=source), id="source")
            yield Static(
                "[dim]pre-flight: the imager reads this drive itself; the station does not read its SMART[/]",
                id="preflight",
                classes="detail",
            )
            yield Label("Destination: a drive on one of the imager's target ports", classes="section")
            with Grid(classes="form"):
                yield Label("target port")
                yield Select(
                    [(plain(t), t) for t in d.imager_targets],
                    prompt="no drive on a target port",
                    value=d.imager_targets[0] if d.imager_targets else Select.NULL,
                    id="target-port", compact=True,
                )  # fmt: skip
                yield Label("mapfile")
                yield Input(str(mapfile), id="mapfile", compact=True)
                yield Label("method")
                yield Select(
                    [(plain(f"imager {d.imager} — {description}"), f"imager:{d.imager}")],
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
            box.update(
                safe("[dim]pre-flight: a virtual drive has no SMART; $what[/]", what=d.description or "")
            )
            return
        lines: list[Content] = []
        if d.protected:
            lines.append(
                safe("[yellow]this drive is in use ($why); it is only read[/]", why="; ".join(d.protected))
            )
        if self.services.health is None:
            lines.append(safe("[dim]pre-flight: SMART is not available on this station[/]"))
            box.update(Content("\n").join(lines))
            return
        lines.append(Content("pre-flight: reading SMART…"))
        box.update(Content("\n").join(lines))
        self._read_smart(d, lines[:-1])

    @work(thread=True, exclusive=True, group="preflight")
    def _read_smart(self, d: Drive, lines: list[Content]) -> None:
        health = self.services.health
        if health is None:
            return
        try:
            badge = health(d)
        except Exception:
            badge = HealthBadge("UNKNOWN", ("SMART could not be read",))
        self.app.call_from_thread(self._show_smart, badge, lines)

    def _show_smart(self, badge: HealthBadge | None, lines: list[Content]) -> None:
        if badge is None:
            lines.append(Content("pre-flight: no SMART data (smartctl is not installed)"))
        else:
            colour = {"GOOD": "green", "WARNING": "yellow", "FAILING": "bold red"}.get(badge.short, "dim")
            lines.append(safe(f"pre-flight SMART: [{colour}]$short[/]", short=badge.short))
            lines += [safe("  [yellow]• $r[/]", r=r) for r in badge.reasons]
            if badge.advice and badge.short != "GOOD":
                lines.append(Content(f"  {badge.advice}"))
        self.query_one("#preflight", Static).update(Content("\n").join(lines))

    # -- the form ---------------------------------------------------------------------------------

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        to_drive = event.pressed.id == "kind-drive"
        self.query_one("#image-path", Input).disabled = to_drive
        image_format = self.query_one("#image-format", Select)
        image_format.disabled = to_drive  # a drive is written raw
        if to_drive:
            image_format.value = "raw"
        self.query_one("#target", Select).disabled = not to_drive
        self.query_one("#force", Checkbox).disabled = to_drive

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "image-format" and not event.select.is_blank():
            path = self.query_one("#image-path", Input)
            path.value = image_path_for(path.value, str(event.value))  # .img <-> .zst

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        elif event.button.id == "back":
            self.app.pop_screen()

    def error(self, text: str) -> None:
        self.query_one("#error", Static).update(safe("[b red]$text[/]", text=text) if text else "")

    def form(self) -> SessionForm:
        """The form's widgets as values (session_form.py makes the session of them)."""

        def checked(wid: str) -> bool:
            return self.query_one(f"#{wid}", Checkbox).value

        def typed(wid: str) -> str:
            return self.query_one(f"#{wid}", Input).value

        target = self.query_one("#target", Select)
        relay = self.query_one("#relay", Select)
        return SessionForm(
            method=str(self.query_one("#method", Select).value),
            retry_passes=typed("retry-passes"),
            reverse=checked("reverse"), no_trim=checked("no-trim"), no_scrape=checked("no-scrape"),
            no_sweep=checked("no-sweep"),
            to_drive=self.query_one("#kind-drive", RadioButton).value,
            image_path=typed("image-path"),
            target=None if target.is_blank() else str(target.value),
            mapfile=typed("mapfile"),
            force=checked("force"),
            relay=None if relay.is_blank() else str(relay.value),
            relay_channel=typed("relay-channel"),
            image_format=str(self.query_one("#image-format", Select).value),
            hashes=str(self.query_one("#hashes", Select).value),
            head_first=typed("head-first"), head_last=typed("head-last"), head_skip=typed("head-skip"),
        )  # fmt: skip

    def action_start(self) -> None:
        if self.query_one("#start", Button).disabled:
            return  # a device is being opened for the previous press
        self.error("")
        if self.source.kind == "imager":
            self._start_handoff()
            return
        image_dir = self.services.image_dir
        try:
            plan = session_plan(self.form(), self.source, self.targets, image_dir)
        except ValueError as e:
            self.error(str(e))
            return
        written = ([plan.dest] if plan.target is None else []) + ([plan.mapfile] if plan.mapfile else [])
        if any(Path(path).parent == image_dir for path in written):
            image_dir.mkdir(parents=True, exist_ok=True)  # the station's own images folder
        job = self._prepare(plan)
        if job is None:
            return
        if plan.relay is None:
            self._confirm_and_go(job, plan.target)
            return
        self.query_one("#start", Button).disabled = True
        self.query_one("#error", Static).update(safe("[dim]opening the relay $spec…[/]", spec=plan.relay))
        self._attach_relay(job, plan.target, plan.relay)

    @work(thread=True, exclusive=True, group="relay")
    def _attach_relay(self, job: ImageJob, target: Drive | None, spec: str) -> None:
        """Open the relay (serial or USB I/O, with the driver's timeouts) as the engine's recover
        hook: a drive that stops answering is power-cycled, found again by serial and reopened."""
        from station.jobs.power import recovery_from_spec

        try:
            job.recover = recovery_from_spec(spec, job.source, self.services.relay_settings)
        except Exception as e:
            text = str(e) if isinstance(e, Refused) else f"--relay: {type(e).__name__}: {e}"
            self.app.call_from_thread(self._relay_refused, job, text)
            return
        self.app.call_from_thread(self._relay_attached, job, target)

    def _relay_refused(self, job: ImageJob, text: str) -> None:
        job.discard()  # prepare() created nothing: the map is only written when a job runs
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
                job.discard()  # its source, its relay and its writer locks
                self.error("nothing was written")

        word = target.name or Path(target.path).name
        self.app.push_screen(
            TypedConfirmScreen(
                f"{target.path} will be overwritten: everything on it is lost",
                word,
                detail=f"{target.label}, {fmt_bytes(target.size)}",
            ),
            confirmed,
        )

    def _prepare(self, plan: SessionPlan) -> ImageJob | None:
        d = self.source
        # SMART before, during and after, as `station image` does for a drive (files and virtual
        # drives have none; SessionHealth says so in the session record)
        health = self.services.smart if d.kind == "block" else None
        try:
            return prepare(
                d.path, plan.dest, plan.mapfile, options=plan.options, force=plan.force,
                source=d.opener() if d.opener is not None else None,
                command=plan.command(d), store=self.services.store, health=health, image=plan.image,
            )  # fmt: skip
        except Refused as e:
            self.error(str(e))
        except OSError as e:
            self.error(f"{d.path}: {e.strerror or e}")
        return None

    def _go(self, job: ImageJob) -> None:
        title = f"{self.source.label} → {job.dest}"
        self.station.start_job(job, title, self.source.path, drive=self.source)

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
        if Path(mapfile).parent == self.services.image_dir:
            self.services.image_dir.mkdir(parents=True, exist_ok=True)
        self.query_one("#start", Button).disabled = True
        self.query_one("#error", Static).update(safe("[dim]opening the imager $spec…[/]", spec=d.imager))
        self._prepare_handoff(str(d.imager), d.name, str(target), mapfile)

    @work(thread=True, exclusive=True, group="handoff")
    def _prepare_handoff(self, spec: str, source: str, target: str, mapfile: str) -> None:
        """prepare_handoff talks to the device (HELLO, its ports): serial or USB I/O with timeouts."""
        from station.jobs.handoff import prepare_handoff

        command = ["station", "image", "--imager", spec, source, target, mapfile]
        try:
            job = prepare_handoff(spec, source, target, mapfile, command=command, store=self.services.store)
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
                self.station.start_job(job, title, self.source.path, drive=self.source)
            else:
                job.discard()
                self.error("nothing was started")

        self.app.push_screen(
            TypedConfirmScreen(
                f"{job.dest} will be overwritten: the imager writes over everything on its port {job.dest}",
                job.dest,
                detail=what,
            ),
            confirmed,
        )
