"""The workstation's screens: the app's services and its jobs, typed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from station.tui.app import StationApp
    from station.tui.services import Services


class StationScreen(Screen):
    """A screen of StationApp.  Textual types `self.app` as any App; these say which one it is."""

    @property
    def station(self) -> StationApp:
        """The app: its current job (`live`), starting jobs, moving between screens."""
        from station.tui.app import StationApp

        app = self.app
        if not isinstance(app, StationApp):
            raise TypeError(f"{type(self).__name__} runs in StationApp, not {type(app).__name__}")
        return app

    @property
    def services(self) -> Services:
        """The session store, the drive, SMART and device providers, the relay settings, the clock."""
        return self.station.services
