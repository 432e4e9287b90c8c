"""Drive health: SMART through pySMART (with timeouts), drive identity, assessment, monitoring
during a session, and the station's own hardware inventory.

Nothing here imports pySMART at import time: `station image` and `station inventory` work on
a machine without smartmontools, and pySMART is loaded only when SMART is actually read.
`station.health.badge.drive_badge` is the drive list's SMART badge.
"""
