"""The Store on one SQLite file (aiosqlite, WAL), one transaction per operation."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from wanbot.store.database import migrations
from wanbot.store.protocols import JobStateError, StoreInUse
from wanbot.store.sql import SqlStore, migrated
from wanbot.store.sqlite_database import SQLiteDatabase


class SQLiteStore(SqlStore):
    database: SQLiteDatabase

    @classmethod
    async def open(
        cls, path: Path | str, *, clock: Callable[[], float] = time.time, busy_timeout_s: float = 10
    ) -> SQLiteStore:
        """Open (creating it if need be) and migrate; StoreInUse if another process has it."""
        db = await SQLiteDatabase.open(Path(path), busy_timeout_s=busy_timeout_s)
        return await migrated(cls(db, clock))


__all__ = ["JobStateError", "SQLiteStore", "StoreInUse", "migrations"]
