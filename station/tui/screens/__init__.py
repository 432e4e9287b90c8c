"""Screens of the workstation: devices, new session, live session, sessions, comparison, dialogs."""
