"""Records that read and write their JSON form, and keep the keys they do not know.

Session records outlive the code that wrote them: a record from an earlier version lacks keys
and a later version's has more.  `DictForm` loads what it knows into typed fields, keeps every
other key in `unknown` and writes it back, so a record read and saved again loses nothing.
Field options say how a field is stored: `nested(cls)` for a record inside a record,
`optional()` for a field left out of the JSON while it is None (as the code before these
types wrote them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field, fields
from typing import Any, Self


def optional(load: type[DictForm] | None = None) -> Any:
    """A field that is None until known, and absent from the JSON while it is."""
    return field(default=None, metadata={"omit_none": True, "load": load})


def nested(load: type[DictForm]) -> dict[str, Any]:
    """Metadata for a field holding another record."""
    return {"load": load}


def optional_list(load: type[DictForm]) -> Any:
    """A list of records (e.g. one per target), None until known and absent from the JSON while it is."""
    return field(default=None, metadata={"omit_none": True, "load_list": load})


def keep_unknown() -> Any:
    """The `unknown` field of a record: keys this version does not know, written back as read."""
    return field(default_factory=dict, repr=False)


class DictForm:
    """Mixin for dataclasses with a JSON form (see the module's docstring)."""

    unknown: dict[str, Any]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Self:
        """The record of `d`: known keys typed, missing ones at their defaults, the rest kept."""
        if d is None:
            d = {}
        if not isinstance(d, Mapping):
            raise ValueError(f"{cls.__name__}: expected an object, got {type(d).__name__}")
        rest = dict(d)
        known: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name == "unknown" or f.name not in rest:
                continue
            value = rest.pop(f.name)
            load = f.metadata.get("load")
            load_list = f.metadata.get("load_list")
            if load_list is not None and isinstance(value, list):
                value = [load_list.from_dict(v) for v in value]
            known[f.name] = load.from_dict(value) if load is not None and value is not None else value
        return cls(**known, unknown=rest)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every known field (optional ones only when set), then the unknown keys."""
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            if f.name == "unknown":
                continue
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            if isinstance(value, list) and f.metadata.get("load_list") is not None:
                value = [v.to_dict() if isinstance(v, DictForm) else v for v in value]
            out[f.name] = value.to_dict() if isinstance(value, DictForm) else value
        return {**self.unknown, **out}
