"""The dialog that edits an image's case number, customer, label, tags and note."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from station.catalog import ImageEntry, LabelEdit

FIELDS = (
    ("case", "Case / ticket"),
    ("customer", "Customer"),
    ("label", "Label"),
    ("tags", "Tags"),
    ("note", "Note"),
)


def edit_from(image: ImageEntry, values: dict[str, str]) -> LabelEdit:
    """The edit that turns the image's labels into the form's values (tags: words; what is
    missing from them is removed).  ValueError names a field that cannot be stored."""
    tags = tuple(dict.fromkeys(values.get("tags", "").replace(",", " ").split()))
    edit = LabelEdit(
        case=_changed(image.case, values.get("case")),
        customer=_changed(image.customer, values.get("customer")),
        label=_changed(image.label, values.get("label")),
        note=_changed(image.note, values.get("note")),
        add_tags=tuple(t for t in tags if t not in image.tags),
        remove_tags=tuple(t for t in image.tags if t not in tags),
    )
    edit.check()
    return edit


def _changed(old: str, new: str | None) -> str | None:
    return None if new is None or new.strip() == old else new.strip()


class LabelScreen(ModalScreen[LabelEdit | None]):
    """Edit the labels of one image; dismissed with the edit (None: cancelled)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, image: ImageEntry) -> None:
        super().__init__(classes="dialog-screen")
        self.image = image

    def compose(self) -> ComposeResult:
        i = self.image
        values = {
            "case": i.case,
            "customer": i.customer,
            "label": i.label,
            "tags": " ".join(i.tags),
            "note": i.note,
        }
        with Vertical(classes="dialog wide"):
            yield Label(f"Labels of {i.path}", classes="question", markup=False)
            with Grid(classes="form"):
                for key, label in FIELDS:
                    yield Label(label)
                    yield Input(values[key], id=f"label-{key}", placeholder="words" if key == "tags" else "")
            yield Static("", id="label-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_save()

    def action_save(self) -> None:
        values = {key: self.query_one(f"#label-{key}", Input).value for key, _ in FIELDS}
        try:
            self.dismiss(edit_from(self.image, values))
        except ValueError as e:
            self.query_one("#label-error", Static).update(Text(str(e)))

    def action_cancel(self) -> None:
        self.dismiss(None)
