"""Sessions in words: what the CLI's and the workstation's session lists say of a record."""

from __future__ import annotations

from station.rescue.option_flags import option_words
from station.rescue.options import RescueOptions


def method_text(record: dict) -> str:
    """The method and the options that differ from the defaults, briefly."""
    opts = record.get("options") or {}
    bits = option_words(RescueOptions.from_dict(opts))
    method = record.get("method") or "engine"
    return method + (f" ({', '.join(bits)})" if bits else "")
