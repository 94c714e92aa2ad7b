"""Open the store a `storage.url` names: the one place that picks an engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from wanbot.store.protocols import Store

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class UnsupportedStorageURL(ValueError):
    """`storage.url` names an engine this build cannot open."""


def sqlite_path(url: str) -> Path:
    if not url.startswith(SQLITE_PREFIX) or url == SQLITE_PREFIX:
        raise UnsupportedStorageURL(f"not an sqlite:///PATH url: {_scheme(url)}")
    return Path(url.removeprefix(SQLITE_PREFIX))


def is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


async def open_store(url: str, *, clock: Callable[[], float] = time.time) -> Store:
    """`sqlite:///path` (one process) or `postgresql://user:pass@host:port/db` (several)."""
    if url.startswith(SQLITE_PREFIX):
        from wanbot.store.sqlite import SQLiteStore

        return await SQLiteStore.open(sqlite_path(url), clock=clock)
    if is_postgres(url):
        from wanbot.store.postgres import PostgresStore

        return await PostgresStore.open(url, clock=clock)
    raise UnsupportedStorageURL(
        f"storage.url with scheme {_scheme(url)!r} is not supported;"
        " use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    )


def _scheme(url: str) -> str:
    # Never echo the whole URL: a database URL may carry a password.
    return url.split(":", 1)[0] if ":" in url else "(none)"
