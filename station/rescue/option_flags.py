"""The one table of rescue options as `station image` spells them: for each option its flags, the
value it takes, and how it prints back as flags and in words.

`station image`'s parser, the command line a workstation session records (`cli_flags`) and the
method text of the session lists (`option_words`) are all read from `OPTION_FLAGS`, so they
cannot disagree, and a new option is one row here.  `RescueOptions.validate` stays the engine's
own guard, for options built in code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from station.rescue.option_values import (
    COUNT,
    HEAD_COUNT,
    HEADS,
    PASSES,
    POSITION,
    RATE,
    SECONDS,
    SECONDS_OR_ZERO,
    SECTOR_SIZE,
    SECTORS,
    SIZE,
    SKIP,
    Kind,
)
from station.rescue.options import RescueOptions

DOMAIN_END = 1 << 62  # "to the end of the source": prepare() cuts a domain at the source's size
CLI_SECTOR = 512  # -c counts sectors of -b, or of 512 bytes when -b is not given (as ddrescue)


@dataclass(frozen=True)
class OptionFlag:
    """One option: its flags (the short one first), the value it takes (no kind: a switch, which
    sets `on`), its help, and its words in a session's method text (None: not worth saying)."""

    field: str
    flags: tuple[str, ...]
    help: str
    kind: Kind | None = None
    on: Any = True
    words: Callable[[Any], str] | None = None

    @property
    def dest(self) -> str:
        """The name argparse gives the flag's value (from its long form)."""
        return self.flags[-1].lstrip("-").replace("-", "_")

    @property
    def label(self) -> str:
        return "/".join(self.flags)

    def get(self, o: RescueOptions) -> Any:
        """The option's value as the flag takes it (None: as the defaults, or not expressible)."""
        return getattr(o, self.field)

    def set(self, o: RescueOptions, value: Any) -> None:
        setattr(o, self.field, value)

    def parse(self, text: str) -> Any:
        """The flag's value from its text; ValueError saying what the flag accepts."""
        if self.kind is None:
            raise ValueError(f"{self.label} takes no value")
        return self.kind.parse(text)

    def is_default(self, o: RescueOptions) -> bool:
        """Whether `o` holds the default for this option (flags and words leave it out)."""
        return self.get(o) == self.get(RescueOptions())

    def as_flags(self, o: RescueOptions) -> list[str]:
        """The flags that give this option's value in `o`; none when it is the default."""
        value = self.get(o)
        if value is None or self.is_default(o):
            return []
        if self.kind is None:
            return [self.flags[0]] if value == self.on else []
        return [f"{self.flags[-1]}={self.kind.text(value)}"]

    def in_words(self, o: RescueOptions) -> str | None:
        value = self.get(o)
        if self.words is None or value is None or self.is_default(o):
            return None
        return self.words(value)


class ClusterFlag(OptionFlag):
    """-c counts sectors; the options hold bytes."""

    def get(self, o: RescueOptions) -> Any:
        return o.cluster_size // (o.sector_size or CLI_SECTOR)

    def is_default(self, o: RescueOptions) -> bool:
        return o.cluster_size == RescueOptions().cluster_size  # in bytes: 128 sectors of 4 KiB is not it

    def set(self, o: RescueOptions, value: Any) -> None:
        o.cluster_size = value * (o.sector_size or CLI_SECTOR)


class SkipFlag(OptionFlag):
    """-K INITIAL[,MAX]: two fields, each given only when typed."""

    def get(self, o: RescueOptions) -> Any:
        return (o.skip_size, o.max_skip_size)

    def set(self, o: RescueOptions, value: Any) -> None:
        first, most = value
        if first is not None:
            o.skip_size = first
        if most is not None:
            o.max_skip_size = most


class OffFlag(OptionFlag):
    """A switch that turns an option off (sets None) where the default is on."""

    def as_flags(self, o: RescueOptions) -> list[str]:
        return [self.flags[0]] if self.get(o) is None and not self.is_default(o) else []

    def in_words(self, o: RescueOptions) -> str | None:
        return self.words(None) if self.words is not None and self.as_flags(o) else None


def _one_range(o: RescueOptions) -> tuple[int, int] | None:
    return o.domain[0] if o.domain is not None and len(o.domain) == 1 else None


class DomainStartFlag(OptionFlag):
    """-i: where a one-range domain starts (a domain of several ranges comes from a mapfile, -m)."""

    def get(self, o: RescueOptions) -> Any:
        r = _one_range(o)
        return r[0] if r is not None and r[0] else None

    def set(self, o: RescueOptions, value: Any) -> None:
        r = _one_range(o)
        o.domain = [(value, r[1] if r is not None else DOMAIN_END)]


class DomainSizeFlag(OptionFlag):
    """-s: how long a one-range domain is (to the end of the source when not given)."""

    def get(self, o: RescueOptions) -> Any:
        r = _one_range(o)
        return r[1] - r[0] if r is not None and r[1] != DOMAIN_END else None

    def set(self, o: RescueOptions, value: Any) -> None:
        r = _one_range(o)
        start = r[0] if r is not None else 0
        o.domain = [(start, start + value)]


def _retries(n: int) -> str:
    return f"{n} retries" if n > 0 else "retries until none is left"


# In this order: help lists them so, flags and words come out so, and values apply so (-b before
# -c, which counts its sectors; -i before -s; --no-slow-skip after -a, which it overrides).
OPTION_FLAGS: tuple[OptionFlag, ...] = (
    OptionFlag("sector_size", ("-b", "--sector-size"),
               "sector size of the source [from the kernel, else 512]", SECTOR_SIZE),
    ClusterFlag("cluster_size", ("-c", "--cluster-size"), "sectors per read near errors [128]", SECTORS),
    OptionFlag("max_read_size", ("--max-read-size",), "largest read over healthy data [1Mi]", SIZE),
    SkipFlag("skip_size", ("-K", "--skip-size"),
             "initial[,max] size to skip on a read error [64Ki,auto]", SKIP),
    OptionFlag("min_read_rate", ("-a", "--min-read-rate"),
               "skip areas slower than this, read them last (0: auto, a tenth of the drive's "
               "typical rate) [0]", RATE),
    OptionFlag("slow_read_time", ("--slow-read-time",),
               "with -a 0, a read slower than this plus its size at the minimum rate is slow [0.05]",
               SECONDS),
    OffFlag("min_read_rate", ("--no-slow-skip",), "never skip slow areas: read them in place",
            on=None, words=lambda _: "no slow skip"),
    OptionFlag("max_read_errors", ("-X", "--max-read-errors"), "stop after this many read errors", COUNT),
    OptionFlag("max_bad_areas", ("-e", "--max-bad-areas"), "stop after this many bad areas", COUNT),
    OptionFlag("timeout", ("-T", "--timeout"),
               "stop after this many seconds without a good read", SECONDS_OR_ZERO),
    OptionFlag("reverse", ("-R", "--reverse"),
               "reverse the direction of all passes", words=lambda _: "reverse"),
    OptionFlag("no_trim", ("-N", "--no-trim"), "skip the trimming phase", words=lambda _: "no trim"),
    OptionFlag("no_scrape", ("-n", "--no-scrape"), "skip the scraping phase", words=lambda _: "no scrape"),
    OptionFlag("no_sweep", ("--no-sweep",), "skip the sweeping phase", words=lambda _: "no sweep"),
    OptionFlag("direct", ("-d", "--direct"), "O_DIRECT reads on the source", words=lambda _: "direct"),
    OptionFlag("retry_passes", ("-r", "--retry-passes"),
               "retry passes over bad sectors (-1: until none is left) [0]", PASSES, words=_retries),
    OptionFlag("reopen_on_error", ("-O", "--reopen-on-error"),
               "reopen the source after every read error [on for block devices]"),
    OptionFlag("read_timeout", ("--read-timeout",),
               "seconds before a read is abandoned as hung [30]", SECONDS),
    OptionFlag("save_interval", ("--save-interval",),
               "seconds between syncing the image and saving the map [30]", SECONDS),
    DomainStartFlag("domain", ("-i", "--input-position"), "start of the rescue domain [0]", POSITION),
    DomainSizeFlag("domain", ("-s", "--size"), "size of the rescue domain [to the end]", SIZE),
    OptionFlag("heads", ("--heads",), "the drive's head count, for the head map [from the bands]", HEAD_COUNT,
               words=lambda v: f"{v} heads"),
    OptionFlag("head_first", ("--head-first",),
               "read these heads' data first (where the head layout is known)", HEADS,
               words=lambda v: f"head {','.join(map(str, v))} first"),
    OptionFlag("head_last", ("--head-last",),
               "read these heads' data after everything else", HEADS,
               words=lambda v: f"head {','.join(map(str, v))} last"),
    OptionFlag("head_skip", ("--skip-head",),
               "do not read these heads' data at all", HEADS,
               words=lambda v: f"head {','.join(map(str, v))} skipped"),
)  # fmt: skip


def options_from_flags(values: Mapping[str, Any], base: RescueOptions | None = None) -> RescueOptions:
    """Options from flag values already parsed, by `dest` (None or False: not given), over `base`."""
    o = dataclasses.replace(base) if base is not None else RescueOptions()
    for f in OPTION_FLAGS:
        value = values.get(f.dest)
        if value is None or value is False:
            continue
        f.set(o, f.on if f.kind is None else value)
    return o


def cli_flags(o: RescueOptions) -> list[str]:
    """`station image` flags that give these options (those that differ from the defaults)."""
    return [flag for f in OPTION_FLAGS for flag in f.as_flags(o)]


def option_words(o: RescueOptions) -> list[str]:
    """The options worth naming in a session list (those that differ from the defaults), briefly."""
    return [w for f in OPTION_FLAGS if (w := f.in_words(o)) is not None]


def option_flag(field: str) -> OptionFlag:
    """The flag of a field (the first, where several set it)."""
    return next(f for f in OPTION_FLAGS if f.field == field)
