"""Persistence: narrow store protocols by table family and their implementations."""

from wanbot.store import base
from wanbot.store.base import *  # noqa: F403  (the records and protocols, as `base` lists them)
from wanbot.store.sqlite import SQLiteStore
from wanbot.store.url import UnsupportedStorageURL, open_store

__all__ = ["SQLiteStore", "UnsupportedStorageURL", "open_store"]
__all__ += base.__all__
