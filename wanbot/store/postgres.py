"""The Store on PostgreSQL: the same SQL and numbered migrations as SQLite, shared by processes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from wanbot.store.database import Connection, migrations, statements
from wanbot.store.postgres_database import PostgresDatabase
from wanbot.store.sql import SqlStore, migrated

log = logging.getLogger(__name__)


class PostgresStore(SqlStore):
    database: PostgresDatabase

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        clock: Callable[[], float] = time.time,
        min_connections: int = 1,
        max_connections: int = 10,
    ) -> PostgresStore:
        """Connect a pool and migrate. `dsn` is a postgresql:// URL; query parameters other than
        libpq's are server settings (`?search_path=wanbot` puts the tables in that schema)."""
        db = await PostgresDatabase.open(dsn, min_size=min_connections, max_size=max_connections)
        return await migrated(cls(db, clock))

    async def migrate(self) -> None:
        """Apply every numbered migration not applied yet, all in one transaction under the
        migration lock: processes that start together migrate once, and a failed migration
        leaves the schema as it was (PostgreSQL's DDL is transactional)."""
        await self.database.migrate(_migrate, migrations(self.database.dialect), self._clock)


async def _migrate(
    conn: Connection, versions: list[tuple[int, str]], clock: Callable[[], float]
) -> None:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
    )
    done = {int(r[0]) for r in await conn.fetchall("SELECT version FROM schema_migrations")}
    for version, sql in versions:
        if version in done:
            continue
        for statement in statements(sql):
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (version, clock())
        )
        log.info("applied migration %04d", version)
