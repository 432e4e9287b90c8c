"""The rescue: the map (what is where), the mapfile (its on-disk form) and the engine."""
