"""Sessions in words: what the CLI's and the workstation's session lists say of a record."""

from __future__ import annotations

from station.core.record import SessionRecord
from station.rescue.options import RescueOptions


def method_text(record: SessionRecord) -> str:
    """The method and the options that differ from the defaults, briefly."""
    opts = record.options
    d = RescueOptions().to_dict()
    bits = []
    for key, label in (("reverse", "reverse"), ("no_trim", "no trim"), ("no_scrape", "no scrape"),
                       ("no_sweep", "no sweep"), ("direct", "direct")):  # fmt: skip
        if opts.get(key) and not d[key]:
            bits.append(label)
    if opts.get("retry_passes"):
        bits.append(f"{opts['retry_passes']} retries")
    method = record.method or "engine"
    return method + (f" ({', '.join(bits)})" if bits else "")
