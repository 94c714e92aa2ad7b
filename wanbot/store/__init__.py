"""Persistence: narrow store protocols by table family and their implementations."""

from wanbot.store import models, protocols
from wanbot.store.models import *  # noqa: F403  (the records, as `models` lists them)
from wanbot.store.protocols import *  # noqa: F403  (the protocols, as `protocols` lists them)
from wanbot.store.sqlite import SQLiteStore
from wanbot.store.url import UnsupportedStorageURL, open_store

__all__ = ["SQLiteStore", "UnsupportedStorageURL", "open_store"]
__all__ += models.__all__
__all__ += protocols.__all__
