"""Station: a terminal imaging workstation for data-recovery labs."""

__version__ = "0.1.0"
