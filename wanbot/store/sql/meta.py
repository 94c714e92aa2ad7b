"""Small key/value state (command hashes and the like)."""

from __future__ import annotations

from wanbot.store.database import Connection
from wanbot.store.sql.common import SqlFamily


class MetaSql(SqlFamily):
    async def get_meta(self, key: str) -> str | None:
        value = await self.database.read(_get, key)
        return None if value is None else str(value)

    async def set_meta(self, key: str, value: str) -> None:
        await self.database.write(_set, key, value)


async def _get(conn: Connection, key: str) -> object:
    return await conn.fetchval("SELECT value FROM meta WHERE key = ?", (key,))


async def _set(conn: Connection, key: str, value: str) -> None:
    await conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
