"""Numbers as people read them: the one byte formatter (ddrescue's rule), percentages, sizes typed in."""

from __future__ import annotations

import pytest

from station.core.units import fmt_bytes, fmt_rate, format_percentage, parse_size

# -- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "num, binary, text",
    [
        (0, False, "0 B"),
        (256, False, "256 B"),
        (999_999, False, "999999 B"),
        (1_000_000, False, "1000 kB"),
        (1_048_583, False, "1048 kB"),
        (1_048_576, True, "1024 KiB"),
        (123_456_789, False, "123456 kB"),
        (12_345_678_901, False, "12345 MB"),
        (12_345_678_901, True, "11773 MiB"),
        (2**64, False, "18446 PB"),
    ],
)
def test_bytes_like_ddrescue(num: int, binary: bool, text: str) -> None:
    assert fmt_bytes(num, binary=binary, digits=6, truncate=True) == text


@pytest.mark.parametrize(
    "num, den, text",
    [
        (0, 880, "  0%"),
        (16, 880, "  1.82%"),
        (256, 880, " 29.09%"),
        (1, 8, " 12.5%"),
        (8, 16, " 50%"),
        (16, 16, "100%"),
        (2, 3, " 66.67%"),
        (99_999, 100_000, "100.00%"),
        (1, 100_000, "  0.00%"),
        (1, 20_000, "  0.01%"),  # exactly half a hundredth rounds up
        (1, 40_000, "  0.00%"),
        (5, 0, "  0%"),
    ],
)
def test_percentage_like_ddrescue(num: int, den: int, text: str) -> None:
    assert format_percentage(num, den) == text


@pytest.mark.parametrize(
    "num, text",
    [
        (0, "0 B"),
        (9_999, "9999 B"),
        (10_000, "10 kB"),
        (1_234_567, "1235 kB"),  # rounded (ddrescue truncates: station map asks for that)
        (4_194_304, "4194 kB"),
        (12_000_138_625_024, "12 TB"),
        (-20_000, "-20 kB"),
    ],
)
def test_live_views_keep_four_digits(num: int, text: str) -> None:
    assert fmt_bytes(num) == text


def test_rates_take_fractions() -> None:
    assert fmt_rate(123_456.9) == "123 kB/s"
    assert fmt_rate(0.4) == "0 B/s"
    assert fmt_bytes(1_234_567, truncate=True) == "1234 kB"


@pytest.mark.parametrize(
    "text, num", [("64Ki", 65536), ("1M", 10**6), ("0x1000", 4096), ("4s", 2048), ("010", 8)]
)
def test_sizes_as_ddrescue_reads_them(text: str, num: int) -> None:
    assert parse_size(text) == num


@pytest.mark.parametrize("text", ["abc", "-5", "1.5Ki", "", "0x"])
def test_sizes_that_are_not(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)
