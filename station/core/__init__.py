"""What every layer shares: events, units, the session store and record, run control, errors."""
