"""Devices: drives from the kernel, virtual drives, attached imagers and relays, and the drives on
the imagers' source ports.

Drives from sysfs and the virtual drives are listed at once (cheap).  Discovery of imagers and
relays talks to serial and USB devices (each probe has its timeout), and SMART badges run
smartctl: both run in thread workers and fill the screen in as they answer.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import DataTable, Footer, Header, Label, Static

from station.core.units import fmt_bytes
from station.health.badge import HealthBadge
from station.jobs.drives import Attached, Drive, attached_devices
from station.tui.markup import plain, safe
from station.tui.screens.base import StationScreen
from station.tui.screens.dialogs import PortScreen

_BADGE_STYLE = {"GOOD": "green", "WARNING": "yellow", "FAILING": "bold red", "UNKNOWN": "dim"}


def kind_text(d: Drive) -> str:
    if d.kind == "virtual":
        return "virtual"
    if d.kind == "imager":
        return "on imager"
    if d.name.startswith("loop"):
        return "loop device"
    bits = ["removable" if d.removable else "fixed"]
    if d.rotational is not None:
        bits.append("HDD" if d.rotational else "SSD")
    return " ".join(bits)


def badge_text(b: HealthBadge | None, pending: bool) -> Text:
    if b is None:
        return Text("…" if pending else "-")
    return Text(b.short, style=_BADGE_STYLE.get(b.short, ""))


def seen_text(sessions: int | None) -> str:
    return f"seen before: {sessions} session{'s' if sessions != 1 else ''}" if sessions else ""


def protection_text(d: Drive) -> Text:
    if d.system:
        return Text("SYSTEM, protected", style="bold red")
    if d.protected:
        return Text.assemble(("protected", "red"), f": {d.protected[0]}")
    if d.kind in ("virtual", "imager"):
        return Text("source only")
    return Text("free", style="green")


class DevicesScreen(StationScreen):
    """The list of drives; Enter starts a new session on the highlighted one."""

    BINDINGS = [
        Binding("enter", "new_session", "New session", priority=True),
        Binding("r", "rescan", "Rescan"),
        Binding("a", "attach", "Attach port"),
        Binding("s", "app.sessions", "Sessions", show=False),
        Binding("h", "history", "History"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.drives: list[Drive] = []
        self.badges: dict[str, HealthBadge | None] = {}
        self.attached: list[Attached] = []
        self.problems: list[str] = []
        self.seen: dict[str, int] = {}  # serial -> sessions in the catalog
        self.searching = False
        self._generation = 0  # a discovery started before the latest rescan is not shown

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("Drives", classes="section")
        yield DataTable(id="drives", cursor_type="row", zebra_stripes=True)
        yield Static("", id="drive-detail", classes="detail")
        yield Label("Imagers and relays", classes="section")
        yield Static("", id="attached")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#drives", DataTable)
        for key, label in (
            ("path", "device"), ("model", "model"), ("serial", "serial"), ("size", "size"),
            ("kind", "type"), ("smart", "SMART"), ("protection", "as a target"), ("history", "history"),
        ):  # fmt: skip
            table.add_column(label, key=key)
        self.action_rescan()
        table.focus()

    def action_rescan(self) -> None:
        self.drives = self.services.scan()
        self.badges = {}
        table = self.query_one("#drives", DataTable)
        table.clear()
        for d in self.drives:
            self._add_row(d)
        self._show_detail()
        if self.services.health is not None:
            self.load_badges([d for d in self.drives if d.kind == "block"])
        self.load_history([d.serial for d in self.drives if d.serial])
        self._generation += 1
        self.searching = True
        self._show_attached()
        self.discover(self._generation)

    def _add_row(self, d: Drive) -> None:
        pending = self.services.health is not None and d.kind == "block"
        seen = seen_text(self.seen.get(d.serial or ""))
        self.query_one("#drives", DataTable).add_row(
            plain(d.path), plain(d.model or "-"), plain(d.serial or "-"), fmt_bytes(d.size), kind_text(d),
            badge_text(None, pending), protection_text(d), seen, key=d.path,
        )  # fmt: skip

    # -- imagers and relays ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="attached")
    def discover(self, generation: int) -> None:
        """The drivers' discovery, then every port attached by hand: serial and USB I/O, each
        probe bounded by its driver's timeout."""
        services = self.services
        busy = self.station.busy_ports()
        found = attached_devices(services.attached)
        problems: list[str] = []
        for port in list(services.ports):
            if any(a.port == port for a in found) or any(spec.endswith(":" + port) for spec in busy):
                continue
            more, why = services.probe(port)
            found += more
            if not more:
                problems += why
        self.app.call_from_thread(self._set_attached, generation, found, problems)

    def _set_attached(self, generation: int, found: list[Attached], problems: list[str]) -> None:
        if generation != self._generation:
            return  # rescanned meanwhile
        self.services.discovered(found, self.station.busy_ports())
        self.searching = False
        self.problems = problems
        self._show_attached()
        for a in self.services.devices:
            self._add_drives(a)

    def _add_drives(self, a: Attached) -> None:
        for d in a.drives:
            if all(x.path != d.path for x in self.drives):
                self.drives.append(d)
                self._add_row(d)
        self._show_detail()
        self.load_history([d.serial for d in a.drives if d.serial])

    # -- drives seen before (the catalog) -------------------------------------------------------

    @work(thread=True, group="history")
    def load_history(self, serials: list[str]) -> None:
        """How many sessions the catalog has of each drive (opening it syncs it: off the UI thread)."""
        if self.services.catalog is None or not serials or not self.services.store.root.is_dir():
            return  # no session yet: nothing was seen before, and no catalog is made for nothing
        try:
            with self.services.catalog() as cat:
                seen = cat.seen_before(serials)
        except Exception:  # no catalog here: the list works without it
            return
        self.app.call_from_thread(self._set_history, seen)

    def _set_history(self, seen: dict[str, int]) -> None:
        self.seen.update(seen)
        table = self.query_one("#drives", DataTable)
        for d in self.drives:
            if d.serial in seen:
                try:
                    table.update_cell(d.path, "history", seen_text(seen[d.serial]), update_width=True)
                except Exception:
                    continue  # rescanned meanwhile
        self._show_detail()

    def action_history(self) -> None:
        """The highlighted drive's images and sessions, if it was here before."""
        d = self.selected()
        if d is None or not d.serial:
            return
        if not self.seen.get(d.serial):
            self.notify(f"{d.serial}: never seen on this station", timeout=5, markup=False)
            return
        self.station.action_images(d.serial)

    def _show_attached(self) -> None:
        devices = self.services.devices
        lines = [safe("$line", line=f"{a.kind:<6} {a.spec}  {a.description}") for a in devices]
        if self.searching:
            lines.append(safe("[dim]searching serial ports and USB…[/]"))
        elif not devices:
            lines.append(safe("[dim]none attached (a to name a port: a pty, an adapter not listed)[/]"))
        lines += [safe("[dim]$p[/]", p=p) for p in self.problems[:3]]
        self.query_one("#attached", Static).update(Content("\n").join(lines))

    def action_attach(self) -> None:
        """Name a port discovery cannot list (a pseudo-terminal, an unlisted adapter); it is probed."""

        def chosen(port: str | None) -> None:
            if port:
                self.notify(f"probing {port}…", markup=False)
                self.probe(port)

        self.app.push_screen(PortScreen(), chosen)

    @work(thread=True, group="probe")
    def probe(self, port: str) -> None:
        found, problems = self.services.probe(port)
        self.app.call_from_thread(self._probed, port, found, problems)

    def _probed(self, port: str, found: list[Attached], problems: list[str]) -> None:
        if not found:
            said = "; ".join(problems) or f"{port}: nothing answered"
            self.notify(said, severity="error", timeout=10, markup=False)
            return
        self.services.attached_at(port, found)
        for a in found:
            self.notify(f"{a.kind} {a.spec}: {a.description}", title="attached", markup=False)
            self._add_drives(a)
        self._show_attached()

    @work(thread=True, exclusive=True, group="smart")
    def load_badges(self, drives: list[Drive]) -> None:
        """SMART can take seconds per drive (or hang until its timeout): never on the UI thread."""
        health = self.services.health
        if health is None:
            return
        for d in drives:
            try:
                badge = health(d)
            except Exception:
                badge = HealthBadge("UNKNOWN", ("SMART could not be read",))
            self.app.call_from_thread(self._set_badge, d.path, badge)

    def _set_badge(self, path: str, badge: HealthBadge | None) -> None:
        self.badges[path] = badge
        table = self.query_one("#drives", DataTable)
        try:
            table.update_cell(path, "smart", badge_text(badge, False), update_width=True)
        except Exception:
            return  # rescanned meanwhile
        self._show_detail()

    def selected(self) -> Drive | None:
        table = self.query_one("#drives", DataTable)
        if not self.drives or table.cursor_row < 0 or table.cursor_row >= len(self.drives):
            return None
        return self.drives[table.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_new_session()

    def _show_detail(self) -> None:
        d = self.selected()
        detail = self.query_one("#drive-detail", Static)
        if d is None:
            detail.update("")
            return
        lines = [safe("[b]$label[/b]  $path  $size ($n bytes)", label=d.label, path=d.path,
                      size=fmt_bytes(d.size), n=d.size)]  # fmt: skip
        if d.description:
            lines.append(safe("$text", text=d.description))
        for why in d.protected:
            lines.append(safe("[red]not a target: $why[/]", why=why))
        badge = self.badges.get(d.path)
        if badge is not None:
            said = "; ".join(badge.reasons) or "no warnings"
            style = _BADGE_STYLE.get(badge.short, "")
            lines.append(safe(f"SMART [{style}]$short[/]: $said" if style else "SMART $short: $said",
                              short=badge.short, said=said))  # fmt: skip
        if self.seen.get(d.serial or ""):
            lines.append(safe("[b]$seen[/b] (h: its history)", seen=seen_text(self.seen[d.serial or ""])))
        detail.update(Content("\n").join(lines))

    def action_new_session(self) -> None:
        from station.tui.screens.new_session import NewSessionScreen

        d = self.selected()
        if d is not None:
            self.app.push_screen(NewSessionScreen(d))
