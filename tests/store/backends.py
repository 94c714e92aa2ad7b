"""The store's tests on either engine: a fresh, empty database per test and raw access to it.

A `Place` is one test's database: an SQLite file under tmp_path, or a PostgreSQL schema of its
own in the session's database (`postgres_dsn`). Tests open stores on it through the real path
(the storage URL) and read it back with SQL of their own, `?` placeholders on both engines.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from tests.pg import with_setting
from wanbot.store.postgres import PostgresStore
from wanbot.store.postgres_database import numbered
from wanbot.store.sql import SqlStore
from wanbot.store.sqlite import SQLiteStore

Rows = list[tuple[Any, ...]]


class Place(Protocol):
    dialect: str
    url: str
    # What a raw statement that breaks a constraint raises.
    integrity_errors: tuple[type[BaseException], ...]

    async def open(self, clock: Callable[[], float] = time.time) -> SqlStore: ...

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    async def tables(self) -> set[str]: ...

    async def holds(self, text: bytes) -> bool:
        """Whether the database still holds `text`. SQLite: anywhere in its files (free pages,
        WAL and journal included). PostgreSQL: in any row of any table; its files keep dead row
        versions until VACUUM, an operator's job (the server's files are not ours to read)."""
        ...

    async def drop(self) -> None: ...


async def snapshot(place: Place) -> dict[str, Rows]:
    """Every row of every table, as committed, in a stable order."""
    return {
        table: sorted(await place.rows(f"SELECT * FROM {table}"), key=repr)
        for table in sorted(await place.tables())
    }


def idle(store: SqlStore) -> bool:
    """No transaction open on any of the store's connections."""
    if isinstance(store, SQLiteStore):
        return not store.database.connection.in_transaction
    assert isinstance(store, PostgresStore)
    pool = store.database.pool
    return pool.get_idle_size() == pool.get_size()


class SQLitePlace:
    dialect = "sqlite"
    integrity_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"

    async def open(self, clock: Callable[[], float] = time.time) -> SqlStore:
        return await SQLiteStore.open(self.path, clock=clock)

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with sqlite3.connect(self.path) as conn:
            return [tuple(r) for r in conn.execute(sql, tuple(params)).fetchall()]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute(sql, tuple(params))

    async def tables(self) -> set[str]:
        found = await self.rows("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(r[0]) for r in found}

    async def holds(self, text: bytes) -> bool:
        found = b""
        for suffix in ("", "-wal", "-journal"):
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                found += part.read_bytes()
        return text in found

    async def drop(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)


class PostgresPlace:
    dialect = "postgresql"
    integrity_errors: tuple[type[BaseException], ...] = (asyncpg.IntegrityConstraintViolationError,)

    def __init__(self, database_dsn: str, schema: str) -> None:
        self.database_dsn = database_dsn
        self.schema = schema
        self.url = with_setting(database_dsn, "search_path", schema)
        self._raw: asyncpg.Connection[asyncpg.Record] | None = None

    @classmethod
    async def create(cls, database_dsn: str) -> PostgresPlace:
        place = cls(database_dsn, f"t_{uuid.uuid4().hex[:12]}")
        conn = await asyncpg.connect(database_dsn)
        try:
            await conn.execute(f'CREATE SCHEMA "{place.schema}"')
        finally:
            await conn.close()
        return place

    async def open(self, clock: Callable[[], float] = time.time) -> SqlStore:
        return await PostgresStore.open(self.url, clock=clock, max_connections=5)

    async def _connection(self) -> asyncpg.Connection[asyncpg.Record]:
        if self._raw is None or self._raw.is_closed():
            self._raw = await asyncpg.connect(self.url)
        return self._raw

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        conn = await self._connection()
        return [tuple(r) for r in await conn.fetch(numbered(sql), *params)]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        conn = await self._connection()
        await conn.execute(numbered(sql), *params)

    async def tables(self) -> set[str]:
        found = await self.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
            (self.schema,),
        )
        return {str(r[0]) for r in found}

    async def holds(self, text: bytes) -> bool:
        for table in await self.tables():
            for row in await self.rows(f"SELECT * FROM {table}"):
                if text in repr(row).encode():
                    return True
        return False

    async def refill_from(self, template: PostgresPlace) -> None:
        """Every table emptied and refilled with the template's rows, in one transaction, and
        every sequence set where the template's stands."""
        conn = await self._connection()
        tables = sorted(await template.tables())
        sequences = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'S' AND n.nspname = $1",
            template.schema,
        )
        async with conn.transaction():
            # Foreign keys unchecked while refilling: the rows come from a consistent state.
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(f"TRUNCATE {', '.join(tables)}")
            for table in tables:
                await conn.execute(
                    f'INSERT INTO "{self.schema}".{table} SELECT * FROM "{template.schema}".{table}'
                )
            for (name,) in sequences:
                state = await conn.fetchrow(
                    f'SELECT last_value, is_called FROM "{template.schema}".{name}'
                )
                assert state is not None
                await conn.execute(
                    "SELECT setval($1::regclass, $2, $3)", f'"{self.schema}".{name}', *state
                )

    async def drop(self) -> None:
        conn = await self._connection()
        try:
            await conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
        finally:
            await conn.close()
            self._raw = None


class Backend(Protocol):
    name: str

    async def fresh(self, tag: str = "wanbot") -> Place: ...

    async def copy(self, template: Place) -> Place:
        """A place holding exactly the template's committed state (no store open on either):
        SQLite, a new file copied from it; PostgreSQL, one scratch schema per template, emptied
        and refilled from it on each call (sequences included), dropped with the session's
        database."""
        ...


class SQLiteBackend:
    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def fresh(self, tag: str = "wanbot") -> Place:
        return SQLitePlace(self.folder / f"{tag}-{uuid.uuid4().hex[:8]}.db")

    async def copy(self, template: Place) -> Place:
        assert isinstance(template, SQLitePlace)
        place = await self.fresh("copy")
        assert isinstance(place, SQLitePlace)
        shutil.copy(template.path, place.path)  # closed cleanly: no WAL to copy along
        return place

    async def close(self) -> None:
        """Copies live under tmp_path, which pytest removes."""


class PostgresBackend:
    name = "postgres"

    def __init__(self, database_dsn: str) -> None:
        self.database_dsn = database_dsn
        self._scratch: dict[str, PostgresPlace] = {}

    async def fresh(self, tag: str = "wanbot") -> Place:
        return await PostgresPlace.create(self.database_dsn)

    async def copy(self, template: Place) -> Place:
        assert isinstance(template, PostgresPlace)
        scratch = self._scratch.get(template.schema)
        if scratch is None:
            scratch = await PostgresPlace.create(self.database_dsn)
            await (await scratch.open()).close()  # the same migrations make the same tables
            self._scratch[template.schema] = scratch
        await scratch.refill_from(template)
        return scratch

    async def close(self) -> None:
        for scratch in self._scratch.values():
            await scratch.drop()
        self._scratch.clear()
