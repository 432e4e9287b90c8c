"""What the engine learns, kept with the session beside the map (issue 10 §4).

A job loads what the last run on its map learned (station.rescue.learnedfile: unless the map was
written by another tool since) and saves what this run knows right after each save of the map,
so that a resumed run, or `station map --heads`, starts from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from station.core.events import Notice
from station.rescue.learnedfile import load_learned, save_learned
from station.rescue.rescuemap import RescueMap

if TYPE_CHECKING:
    from station.jobs.lifecycle import JobRun
    from station.rescue.engine import Engine


class KeptKnowledge:
    """The knowledge file of one job's map: loaded at the start, saved after every map save."""

    def __init__(self, map_path: str, run: JobRun, *, fresh: bool) -> None:
        self.map_path = map_path
        self.run = run
        self.engine: Engine | None = None
        self.learned: dict[str, Any] | None = None
        self._failed = False
        if not fresh:
            self.learned, why = load_learned(map_path)
            if why:
                run.emit(Notice(run.t(), why))

    def saver(self, save_map: Callable[[RescueMap], None]) -> Callable[[RescueMap], None]:
        """`save_map`, then the knowledge beside it (a failure to keep it is said once, and does
        not stop the rescue: the map is what matters)."""

        def save(m: RescueMap) -> None:
            save_map(m)
            if self.engine is None:
                return
            try:
                save_learned(self.map_path, self.engine.knowledge.to_dict())
            except OSError as e:
                if not self._failed:
                    self._failed = True
                    self.run.emit(Notice(self.run.t(), f"what was learned could not be kept: {e.strerror}"))

        return save
