"""Who a job's source is: the identity every session records and every sink is checked against.

It lives in the core, below the media that find it out, because the session record carries it
(station.core.record) and the catalog will index it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from station.core.dictform import DictForm, keep_unknown


@dataclass(frozen=True)
class SourceIdentity(DictForm):
    """Who the source is, as far as the kernel (or the simulator, or an imager) knows."""

    path: str
    kind: str  # "block", "file", "virtual" or "imager-port"
    size: int
    sector_size: int = 512
    physical_sector_size: int | None = None
    model: str | None = None
    serial: str | None = None
    device: str | None = None  # "major:minor" for block devices
    extra: dict[str, str] = field(default_factory=dict)
    unknown: dict[str, Any] = keep_unknown()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Self:
        """As recorded; a hand-written or damaged record may lack the path, kind or size."""
        return super().from_dict({"path": "", "kind": "", "size": 0, **(d or {})})
