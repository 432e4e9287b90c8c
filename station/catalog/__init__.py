"""The catalog: every session and image of this station, findable and labelled (SQLite by default).

    from station.catalog import Catalog, ImageQuery, LabelEdit
    with Catalog.open() as cat: ...

The session store's files stay the truth (records, maps, events, and the technicians' labels in
each image's label.json); the catalog indexes them, is brought level with the store at every
opening (station.catalog.sync), and can be deleted or rebuilt at any time.  See
docs/formats/catalog.md for the tables and docs/architecture.md for the choices.
"""

from station.catalog.catalog import Catalog, ImageQuery, parse_since
from station.catalog.db import CatalogError
from station.catalog.entries import ImageEntry, Restore, SessionEntry, Source, Verification
from station.catalog.labels import LabelEdit, Labels
from station.catalog.sync import SyncReport

__all__ = [
    "Catalog",
    "CatalogError",
    "ImageEntry",
    "ImageQuery",
    "LabelEdit",
    "Labels",
    "Restore",
    "SessionEntry",
    "Source",
    "SyncReport",
    "Verification",
    "parse_since",
]
