"""Open the store a `storage.url` names: the one place that picks an engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from wanbot.store.protocols import Store

SQLITE_PREFIX = "sqlite:///"


class UnsupportedStorageURL(ValueError):
    """`storage.url` names an engine this build cannot open."""


def sqlite_path(url: str) -> Path:
    if not url.startswith(SQLITE_PREFIX) or url == SQLITE_PREFIX:
        raise UnsupportedStorageURL(f"not an sqlite:///PATH url: {_scheme(url)}")
    return Path(url.removeprefix(SQLITE_PREFIX))


async def open_store(url: str, *, clock: Callable[[], float] = time.time) -> Store:
    """`sqlite:///path` today; a PostgreSQL engine adds its branch here (`postgresql://...`)."""
    if url.startswith(SQLITE_PREFIX):
        from wanbot.store.sqlite import SQLiteStore

        return await SQLiteStore.open(sqlite_path(url), clock=clock)
    raise UnsupportedStorageURL(
        f"storage.url with scheme {_scheme(url)!r} is not supported; use sqlite:///PATH"
    )


def _scheme(url: str) -> str:
    # Never echo the whole URL: a database URL may carry a password.
    return url.split(":", 1)[0] if ":" in url else "(none)"
