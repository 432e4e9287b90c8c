"""A small simulated drive with a dead head (head 2 of 4, in two zones), for the tests of the
head map, imaging by head and what a run keeps of what it learned."""

from __future__ import annotations


def dead_head_model(size: str = "12Mi", extra: str = "") -> str:
    """The drive's model (TOML, as station.sim.model.parse_model reads it); `extra`: more defects."""
    return f"""
name = "small-dead-head"
size = "{size}"
seed = 3
[geometry]
heads = 4
zones = 2
outer_spt = 256
inner_spt = 192
band_cylinders = 2
[[defects]]
kind = "dead_head"
head = 2
{extra}"""
