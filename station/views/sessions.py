"""Sessions in words: what the CLI's and the workstation's session lists say of a record."""

from __future__ import annotations

from station.core.record import SessionRecord
from station.rescue.option_flags import option_words
from station.rescue.options import RescueOptions


def method_text(record: SessionRecord) -> str:
    """The method and the options that differ from the defaults, briefly."""
    bits = option_words(RescueOptions.from_dict(record.options))
    if record.options.get("image_format") == "zst":
        bits.append("zst")
    if record.options.get("files_first"):
        bits.append("files first: " + " ".join(record.options["files_first"]))
    method = record.method or "engine"
    return method + (f" ({', '.join(bits)})" if bits else "")
