"""Every store test runs on both engines: `backend` is parametrised ["sqlite", "postgres"], and
`db` (a fresh database) and `store` (opened on it) follow it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.store.backends import Backend, Place, PostgresBackend, SQLiteBackend
from tests.store.helpers import Clock
from wanbot.store.sql import SqlStore


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    chosen: Backend
    if request.param == "sqlite":
        chosen = SQLiteBackend(tmp_path)
    else:
        # Skips (with the reason) where PostgreSQL is not installed.
        chosen = PostgresBackend(request.getfixturevalue("postgres_dsn"))
    try:
        yield chosen
    finally:
        await chosen.close()


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[Place]:
    place = await backend.fresh()
    try:
        yield place
    finally:
        await place.drop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(db: Place, clock: Clock) -> AsyncIterator[SqlStore]:
    s = await db.open(clock=clock)
    try:
        yield s
    finally:
        await s.close()
