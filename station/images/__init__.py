"""Rescue images after the rescue: formats, the one reader, hashes, verification, conversion."""
