"""Devices: drives from the kernel, virtual drives and attached imagers and relays."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Static

from station.media.drives import Attached, Drive, HealthBadge, attached_devices
from station.units import fmt_bytes

_BADGE_STYLE = {"GOOD": "green", "WARNING": "yellow", "FAILING": "bold red", "UNKNOWN": "dim"}


def kind_text(d: Drive) -> str:
    if d.kind == "virtual":
        return "virtual"
    bits = ["removable" if d.removable else "fixed"]
    if d.rotational is not None:
        bits.append("HDD" if d.rotational else "SSD")
    return " ".join(bits)


def badge_text(b: HealthBadge | None, pending: bool) -> str:
    if b is None:
        return "…" if pending else "-"
    return f"[{_BADGE_STYLE.get(b.short, '')}]{b.short}[/]"


def protection_text(d: Drive) -> str:
    if d.system:
        return "[bold red]SYSTEM, protected[/]"
    if d.protected:
        return f"[red]protected[/]: {d.protected[0]}"
    if d.kind == "virtual":
        return "source only"
    return "[green]free[/]"


class DevicesScreen(Screen):
    """The list of drives; Enter starts a new session on the highlighted one."""

    BINDINGS = [
        Binding("enter", "new_session", "New session", priority=True),
        Binding("r", "rescan", "Rescan"),
        Binding("s", "app.sessions", "Sessions", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.drives: list[Drive] = []
        self.badges: dict[str, HealthBadge | None] = {}
        self.attached: list[Attached] = []

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
            ("kind", "type"), ("smart", "SMART"), ("protection", "as a target"),
        ):  # fmt: skip
            table.add_column(label, key=key)
        self.action_rescan()
        table.focus()

    def action_rescan(self) -> None:
        app = self.app
        self.drives = app.scan()  # type: ignore[attr-defined]
        self.attached = attached_devices(app.attached)  # type: ignore[attr-defined]
        self.badges = {}
        table = self.query_one("#drives", DataTable)
        table.clear()
        health = app.health  # type: ignore[attr-defined]
        for d in self.drives:
            table.add_row(
                d.path, d.model or "-", d.serial or "-", fmt_bytes(d.size), kind_text(d),
                badge_text(None, health is not None and d.kind == "block"), protection_text(d),
                key=d.path,
            )  # fmt: skip
        if self.attached:
            lines = [f"{a.kind:<6} {a.driver}:{a.port}  {a.description}" for a in self.attached]
            self.query_one("#attached", Static).update("\n".join(lines))
        else:
            self.query_one("#attached", Static).update("[dim]none attached[/]")
        self._show_detail()
        if health is not None:
            self.load_badges([d for d in self.drives if d.kind == "block"])

    @work(thread=True, exclusive=True, group="smart")
    def load_badges(self, drives: list[Drive]) -> None:
        """SMART can take seconds per drive (or hang until its timeout): never on the UI thread."""
        health = self.app.health  # type: ignore[attr-defined]
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
            table.update_cell(path, "smart", badge_text(badge, False))
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
        lines = [f"[b]{d.label}[/b]  {d.path}  {fmt_bytes(d.size)} ({d.size} bytes)"]
        if d.description:
            lines.append(d.description)
        for why in d.protected:
            lines.append(f"[red]not a target: {why}[/]")
        badge = self.badges.get(d.path)
        if badge is not None:
            lines.append(f"SMART {badge_text(badge, False)}: " + ("; ".join(badge.reasons) or "no warnings"))
        detail.update("\n".join(lines))

    def action_new_session(self) -> None:
        from station.tui.screens.new_session import NewSessionScreen

        d = self.selected()
        if d is not None:
            self.app.push_screen(NewSessionScreen(d))
