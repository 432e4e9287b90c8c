"""What a technician says of an image: case or ticket number, customer, label, tags, a note.

They are kept in a file, `label.json`, in the session directory of the session that created the
image (the image's id), not only in the catalog: the files are the truth, so `station catalog
rebuild` (or a deleted catalog) loses no label.  The catalog copies them into its tables for
searching; `Catalog.label` writes the file and the tables in one writing transaction, so two
terminals labelling at once never lose each other's tags.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from station.core.session import note_change, write_json_atomic

LABEL_FILE = "label.json"
MAX_TEXT = 4000  # characters in one field: a note, not a document


@dataclass(frozen=True)
class Labels:
    """The technician's fields of one image (empty strings where nothing was said)."""

    case: str = ""
    customer: str = ""
    label: str = ""
    note: str = ""
    tags: tuple[str, ...] = ()
    updated: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Labels:
        """Tolerant: a field of the wrong type is read as empty, unknown keys are ignored."""

        def text(key: str) -> str:
            v = d.get(key)
            return v if isinstance(v, str) else ""

        raw_tags = d.get("tags")
        tags = tuple(t for t in raw_tags if isinstance(t, str) and t) if isinstance(raw_tags, list) else ()
        updated = d.get("updated")
        return cls(
            case=text("case"),
            customer=text("customer"),
            label=text("label"),
            note=text("note"),
            tags=tuple(sorted(set(tags))),
            updated=float(updated) if isinstance(updated, int | float) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "customer": self.customer,
            "label": self.label,
            "note": self.note,
            "tags": list(self.tags),
            "updated": self.updated,
        }

    @property
    def empty(self) -> bool:
        return not (self.case or self.customer or self.label or self.note or self.tags)


@dataclass(frozen=True)
class LabelEdit:
    """A change asked for: fields to set (None: leave as it is; "" clears), tags to add or remove."""

    case: str | None = None
    customer: str | None = None
    label: str | None = None
    note: str | None = None
    add_tags: tuple[str, ...] = field(default_factory=tuple)
    remove_tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        fields = (self.case, self.customer, self.label, self.note)
        return all(f is None for f in fields) and not self.add_tags and not self.remove_tags

    def check(self) -> None:
        """ValueError (one line, naming the field) for what cannot be stored."""
        for name in ("case", "customer", "label", "note"):
            value = getattr(self, name)
            if value is None:
                continue
            if len(value) > MAX_TEXT:
                raise ValueError(f"--{name}: longer than {MAX_TEXT} characters")
            if name != "note" and ("\n" in value or "\r" in value):
                raise ValueError(f"--{name}: one line only")
        for tag in (*self.add_tags, *self.remove_tags):
            if not tag.strip():
                raise ValueError("--tag: a tag cannot be empty")
            if any(c.isspace() for c in tag.strip()) or "," in tag:
                raise ValueError(f"--tag {tag!r}: one word per tag (no spaces or commas; give --tag again)")
            if len(tag) > 100:
                raise ValueError(f"--tag {tag[:20]!r}...: longer than 100 characters")

    def apply(self, labels: Labels, now: float) -> Labels:
        """The labels after this edit (stripped; tags sorted, each once)."""
        changes = {
            name: value.strip() if name != "note" else value.rstrip()
            for name in ("case", "customer", "label", "note")
            if (value := getattr(self, name)) is not None
        }
        tags = (set(labels.tags) | {t.strip() for t in self.add_tags}) - {t.strip() for t in self.remove_tags}
        return replace(labels, **changes, tags=tuple(sorted(tags)), updated=now)


def read_labels(session_dir: Path) -> Labels | None:
    """The labels kept in a session directory, or None (no file, or one that is not JSON)."""
    try:
        with open(session_dir / LABEL_FILE, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError):
        return None
    return Labels.from_dict(d) if isinstance(d, dict) else None


def write_labels(session_dir: Path, labels: Labels) -> None:
    """Replace the directory's label file atomically (OSError if the directory is gone), and say
    so in the store's change journal, as a record's save does."""
    write_json_atomic(session_dir / LABEL_FILE, labels.to_dict())
    note_change(session_dir)
