"""The phases of a rescue, one module each, as functions over a shared RunState.

    copy_pass1   forward (or reverse) over everything, growing reads, bad areas crossed whole
    copy_pass2   the other way, into non-tried blocks from their rescued side
    trim         failed blocks read sector by sector from their edges
    sweep        islands of good data first, then every non-tried byte in order
    scrape       non-scraped blocks sector by sector
    retry        passes over bad sectors
    edges        reads up to the edge of a bad area, shared by the phases above

station.rescue.engine runs them in the order of its PLAN.
"""
