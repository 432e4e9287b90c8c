"""Jobs: one lifecycle for imaging, hand-off to an imager, and what they need (drives, power)."""
