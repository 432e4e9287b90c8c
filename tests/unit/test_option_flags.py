"""The option table: `station image`'s parser, the profiles' command lines and the session text
all come from it, so options survive the trip to flags and back, and bad values are refused
naming the flag and what it accepts."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from station.cli import build_parser
from station.core.record import SessionRecord
from station.rescue.option_flags import cli_flags, option_flag, option_words, options_from_flags
from station.rescue.options import KiB, MiB, RescueOptions
from station.rescue.profiles import PROFILES
from station.views.sessions import method_text


def parsed(*flags: str) -> RescueOptions:
    """The options `station image FLAGS src dest` would run with."""
    a = build_parser().parse_args(["image", *flags, "src", "dest"])
    return options_from_flags(vars(a))


def test_defaults_have_no_flags_and_no_words() -> None:
    assert cli_flags(RescueOptions()) == [] and option_words(RescueOptions()) == []
    assert parsed() == RescueOptions()


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_reads_back_from_its_flags(name: str) -> None:
    o = PROFILES[name].options()
    assert parsed(*cli_flags(o)) == o


def test_profiles_print_every_option_they_change() -> None:
    assert cli_flags(PROFILES["gentle"].options()) == ["--max-read-size=64Ki"]
    assert cli_flags(PROFILES["quick"].options()) == ["-N", "-n", "--no-sweep"]
    assert cli_flags(PROFILES["thorough"].options()) == ["--retry-passes=3"]


def test_values_as_ddrescue_takes_them() -> None:
    o = parsed(
        "-b", "4096", "-c", "16", "-K", "128Ki,1Gi", "-a", "1M", "-i", "1Mi", "-s", "2Mi", "-r", "-1", "-O"
    )
    assert o.sector_size == 4096 and o.cluster_size == 64 * KiB
    assert (o.skip_size, o.max_skip_size) == (128 * KiB, 1 << 30)
    assert o.min_read_rate == 1e6 and o.domain == [(1 * MiB, 3 * MiB)]
    assert o.retry_passes == -1 and o.reopen_on_error is True
    assert parsed(*cli_flags(o)) == o
    assert parsed("-c", "0x10").cluster_size == 16 * 512  # C numbers, as ddrescue reads them
    assert parsed("-K", ",2Mi").skip_size == RescueOptions().skip_size
    assert parsed("-a", "1M", "--no-slow-skip").min_read_rate is None
    assert parsed("-s", "1Mi").domain == [(0, MiB)] and parsed("-i", "1Mi").domain == [(MiB, 1 << 62)]


@pytest.mark.parametrize(
    "flag, text, accepts",
    [
        ("cluster_size", "abc", "whole number of sectors"),
        ("sector_size", "3", "power of two"),
        ("retry_passes", "-2", "-1 (until no bad sector is left)"),
        ("max_read_errors", "-1", "0 or more"),
        ("timeout", "nan", "seconds"),
        ("read_timeout", "0", "more than 0"),
        ("min_read_rate", "-5", "rate"),
        ("skip_size", ",", "INITIAL[,MAX]"),
        ("max_read_size", "1.5Mi", "size in bytes"),
    ],
)
def test_bad_values_say_what_is_accepted(flag: str, text: str, accepts: str) -> None:
    with pytest.raises(ValueError, match=r"is not .*") as e:
        option_flag(flag).parse(text)
    assert repr(text) in str(e.value) and accepts in str(e.value)


def test_cli_refusal_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["image", "-c", "abc", "src", "dest"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "-c/--cluster-size" in err and "whole number of sectors" in err


def test_session_text_says_the_options_in_table_order() -> None:
    def record(d: dict) -> SessionRecord:
        return SessionRecord.from_dict({"id": "x", **d})

    r = record({"method": "engine", "options": {"reverse": True, "no_scrape": True, "retry_passes": 2}})
    assert method_text(r) == "engine (reverse, no scrape, 2 retries)"
    assert method_text(record({"options": {"retry_passes": -1}})) == "engine (retries until none is left)"
    staged = record({"options": {"files_first": ["*.docx", "/p1/Users"]}})
    assert method_text(staged) == "engine (files first: *.docx /p1/Users)"
    assert method_text(record({"method": "imager serial:/dev/ttyUSB0"})) == "imager serial:/dev/ttyUSB0"
    recorded = dataclasses.replace(RescueOptions(), no_trim=True, domain=[(0, 512)]).to_dict()
    recorded["domain"] = [list(r) for r in recorded["domain"]]  # as JSON gives it back
    assert method_text(record({"options": {**recorded, "from_a_newer_version": 1}})) == "engine (no trim)"


sizes = st.integers(1, 1 << 40)
seconds = st.floats(0.001, 1e6, allow_nan=False)


@st.composite
def options(draw: st.DrawFn) -> RescueOptions:
    sector = draw(st.sampled_from([None, 512, 4096]))
    start = draw(st.integers(0, 1 << 40))
    return RescueOptions(
        sector_size=sector,
        cluster_size=draw(st.integers(1, 4096)) * (sector or 512),
        max_read_size=draw(sizes),
        skip_size=draw(sizes),
        max_skip_size=draw(st.none() | sizes),
        min_read_rate=draw(st.none() | st.integers(0, 1 << 30).map(float)),
        max_read_errors=draw(st.none() | st.integers(0, 10**6)),
        max_bad_areas=draw(st.none() | st.integers(0, 10**6)),
        timeout=draw(st.none() | st.just(0.0) | seconds),
        reverse=draw(st.booleans()),
        retry_passes=draw(st.integers(-1, 9)),
        no_trim=draw(st.booleans()),
        no_scrape=draw(st.booleans()),
        no_sweep=draw(st.booleans()),
        direct=draw(st.booleans()),
        reopen_on_error=draw(st.sampled_from([None, True])),
        read_timeout=draw(seconds),
        save_interval=draw(seconds),
        domain=draw(
            st.none() | st.tuples(st.just(start), st.integers(start + 1, 1 << 41)).map(lambda r: [r])
        ),
    )


@given(options())
def test_any_options_survive_flags_and_back(o: RescueOptions) -> None:
    assert parsed(*cli_flags(o)) == o


def test_head_flags_of_station_image() -> None:
    o = parsed("--head-first", "3", "--head-last", "2,0", "--skip-head", "1", "--heads", "4")
    assert (o.head_first, o.head_last, o.head_skip, o.heads) == ([3], [0, 2], [1], 4)
    assert parsed(*cli_flags(o)) == o
    assert "head 0,2 last" in option_words(o) and "head 1 skipped" in option_words(o)
    with pytest.raises(SystemExit):
        parsed("--head-last", "two")
