"""Hardware imager and power-relay driver plugins (filled by the drivers issue)."""
