"""Simulated drives: scripted fault sources for tests and the built-in demo drive."""
