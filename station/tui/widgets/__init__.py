"""Widgets of the workstation: the sector map, the speed chart, the counters."""
