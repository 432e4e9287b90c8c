"""Exit statuses, the same for every command and every job (README: "Exit status")."""

from __future__ import annotations

EXIT_OK = 0  # the job finished (bad sectors may remain), or the command did what it was asked
EXIT_STOPPED = 1  # the job stopped early (interrupted, a stop condition, a full disk): rerun to resume
EXIT_BAD_INPUT = 2  # bad input: refused with one line, nothing created or changed
