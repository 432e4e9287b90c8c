"""The hardware driver API (imagers, power relays) and the registry that finds driver plugins."""
