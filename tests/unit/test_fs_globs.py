"""Globs naming their partition as the CLI's paths do (/p1/docs/*), for domains and files-first."""

from __future__ import annotations

from station.fs.domain import for_partition, matches


def test_a_qualified_glob_applies_in_its_partition_only() -> None:
    globs = ["*.docx", "/p1/docs/*", "/p5", "/p12/x"]
    assert for_partition(globs, 1) == ["*.docx", "/docs/*"]
    assert for_partition(globs, 5) == ["*.docx", "/"]
    assert for_partition(globs, 12) == ["*.docx", "/x"]
    assert for_partition(globs, 2) == ["*.docx"]


def test_without_partitions_every_glob_is_taken_as_written() -> None:
    assert for_partition(["/p1/docs/*", "*.txt"], 0) == ["/p1/docs/*", "*.txt"]


def test_matching() -> None:
    assert matches("/docs/a/report.docx", ["*.docx"])  # no "/": the name alone
    assert matches("/docs/a/report.docx", ["/docs/*"])  # `*` crosses /
    assert not matches("/other/report.docx", ["/docs/*"])
    assert matches("/", ["/"])
