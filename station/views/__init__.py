"""What the views (CLI and TUI) share without drawing: map cells, live figures, event text."""
