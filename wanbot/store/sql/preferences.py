"""Member defaults: one JSON object per member and server, holding only the options they set."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from wanbot.store.database import Connection
from wanbot.store.sql.common import Clock, SqlFamily


class PreferenceSql(SqlFamily):
    async def get_preferences(self, guild_id: int, user_id: int) -> dict[str, Any]:
        stored = await self.database.read(_get, guild_id, user_id)
        if stored is None:
            return {}
        data = json.loads(stored)
        return data if isinstance(data, dict) else {}

    async def save_preferences(self, guild_id: int, user_id: int, prefs: Mapping[str, Any]) -> None:
        encoded = json.dumps(dict(prefs), sort_keys=True) if prefs else None
        await self.database.write(_save, guild_id, user_id, encoded, self._clock)

    async def private_members(self) -> list[tuple[int, int]]:
        rows = await self.database.read(_maybe_private)
        return [(guild, user) for guild, user, stored in rows if _private(stored)]


def _private(stored: str) -> bool:
    data = json.loads(stored)
    return isinstance(data, dict) and data.get("private") is True


async def _maybe_private(conn: Connection) -> list[tuple[int, int, str]]:
    # Only rows that may say so are read (prefs are saved with json.dumps' own spacing); the
    # JSON itself decides.
    rows = await conn.fetchall(
        "SELECT guild_id, user_id, prefs_json FROM member_preferences"
        " WHERE prefs_json LIKE '%\"private\": true%'",
        (),
    )
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


async def _get(conn: Connection, guild_id: int, user_id: int) -> str | None:
    value = await conn.fetchval(
        "SELECT prefs_json FROM member_preferences WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    )
    return None if value is None else str(value)


async def _save(
    conn: Connection, guild_id: int, user_id: int, encoded: str | None, clock: Clock
) -> None:
    if encoded is None:
        await conn.execute(
            "DELETE FROM member_preferences WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return
    await conn.execute(
        "INSERT INTO member_preferences (guild_id, user_id, prefs_json, updated_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET"
        " prefs_json = excluded.prefs_json, updated_at = excluded.updated_at",
        (guild_id, user_id, encoded, clock()),
    )
