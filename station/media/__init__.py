"""Sources (what is read, never written) and sinks (where the image goes)."""
