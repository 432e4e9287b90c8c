"""Ranges of bytes as sorted lists of disjoint (start, end) pairs, as domains and maps give them."""

from __future__ import annotations

Range = tuple[int, int]


def intersect(a: list[Range], b: list[Range]) -> list[Range]:
    """Intersection of two sorted lists of disjoint ranges."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out
