"""Saving the map the one safe way: the sink synced first, so that a saved map never calls
finished what the destination does not hold yet.  If the sync fails, the old map stays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from station.core.events import Event, MapSaved, Notice
from station.media.base import Sink
from station.rescue.outcome import Outcome, Stop
from station.rescue.rescuemap import RescueMap

# (the run's result, the Notice, the reason a run stops) when the sync or the save fails
_SYNC_FAILED = (
    "could not sync the destination ({})",
    "destination sync failed ({}); map left as it was",
    "destination sync failed: {}",
)
_SAVE_FAILED = (
    "could not save the mapfile ({})",
    "could not save the mapfile: {}",
    "could not save the mapfile: {}",
)


@dataclass
class MapSaver:
    """Syncs the sink, then hands the map to the caller's `save_map` (which writes the mapfile)."""

    sink: Sink
    map: RescueMap
    save_map: Callable[[RescueMap], None] | None
    map_path: str
    clock: Callable[[], float]
    emit: Callable[[Event], None]
    t: Callable[[], float]
    last_save: float = 0.0
    error: str = ""  # why the last failed save failed, for the run's result

    def due(self, now: float, interval: float) -> bool:
        """Whether `interval` seconds have passed since the last save."""
        return now - self.last_save >= interval

    def save(self, final: bool = False) -> bool:
        """Sync the sink, then save the map.  Returns False if that failed on the final save;
        a failure during the run stops it instead (going on would risk more than it saves)."""
        self.last_save = self.clock()
        try:
            self.sink.sync()
        except OSError as e:
            return self._failed(_SYNC_FAILED, e.strerror, final)
        if self.save_map is None:
            return True
        try:
            self.save_map(self.map)
        except OSError as e:
            return self._failed(_SAVE_FAILED, e.strerror, final)
        self.emit(MapSaved(self.t(), self.map_path, len(self.map)))
        return True

    def _failed(self, messages: tuple[str, str, str], why: str, final: bool) -> bool:
        """A save failed: say so; at the end return False (the result says it), before that stop."""
        error, notice, stop = (m.format(why) for m in messages)
        self.error = error
        self.emit(Notice(self.t(), notice))
        if final:
            return False
        raise Stop(Outcome.FAILED, stop) from None
