"""Server policy and moderation: settings, channel rules, the blocklist and member bans."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wanbot.store.database import Connection
from wanbot.store.models import BlockEntry, GuildSettings, MemberBan
from wanbot.store.sql.common import SqlFamily, ban_from_row


class GuildPolicySql(SqlFamily):
    async def guild_settings(self, guild_id: int) -> GuildSettings:
        return await self.database.read(_guild_settings, guild_id)

    async def set_audit_channel(self, guild_id: int, channel_id: int | None) -> None:
        await self._upsert_guild(guild_id, "audit_channel_id", channel_id)

    async def set_nsfw_policy(self, guild_id: int, policy: str) -> None:
        if policy not in ("allow", "filter"):
            raise ValueError(f"unknown nsfw policy {policy!r}")
        await self._upsert_guild(guild_id, "nsfw_policy", policy)

    async def _upsert_guild(self, guild_id: int, column: str, value: Any) -> None:
        await self._changed(
            f"INSERT INTO guild_settings (guild_id, {column}, updated_at) VALUES (?, ?, ?)"
            f" ON CONFLICT (guild_id) DO UPDATE SET {column} = excluded.{column},"
            " updated_at = excluded.updated_at",
            (guild_id, value, self._clock()),
        )

    async def set_channel_rule(
        self, guild_id: int, channel_id: int, rule: str | None, actor_id: int | None
    ) -> bool:
        if rule not in (None, "allow", "deny"):
            raise ValueError(f"unknown channel rule {rule!r}")
        if rule is None:
            return await self._changed_any(
                "DELETE FROM channel_rules WHERE guild_id = ? AND channel_id = ?",
                (guild_id, channel_id),
            )
        return await self._changed_any(
            "INSERT INTO channel_rules (guild_id, channel_id, rule, actor_id, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, channel_id) DO UPDATE SET"
            " rule = excluded.rule, actor_id = excluded.actor_id,"
            " created_at = excluded.created_at WHERE channel_rules.rule <> excluded.rule",
            (guild_id, channel_id, rule, actor_id, self._clock()),
        )

    async def clear_channel_rules(self, guild_id: int) -> int:
        return await self._changed("DELETE FROM channel_rules WHERE guild_id = ?", (guild_id,))

    async def add_blocked(
        self, guild_id: int, pattern: str, is_regex: bool, actor_id: int | None
    ) -> bool:
        return await self._changed_any(
            "INSERT INTO blocklist (guild_id, pattern, is_regex, actor_id, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, pattern, is_regex) DO NOTHING",
            (guild_id, pattern, is_regex, actor_id, self._clock()),
        )

    async def remove_blocked(self, guild_id: int, pattern: str) -> bool:
        return await self._changed_any(
            "DELETE FROM blocklist WHERE guild_id = ? AND pattern = ?", (guild_id, pattern)
        )

    async def ban_member(
        self, guild_id: int, user_id: int, actor_id: int | None, reason: str | None
    ) -> bool:
        return await self._changed_any(
            "INSERT INTO member_bans (guild_id, user_id, reason, actor_id, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO NOTHING",
            (guild_id, user_id, reason, actor_id, self._clock()),
        )

    async def unban_member(self, guild_id: int, user_id: int) -> bool:
        return await self._changed_any(
            "DELETE FROM member_bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )

    async def member_ban(self, guild_id: int, user_id: int) -> MemberBan | None:
        return await self.database.read(_member_ban, guild_id, user_id)

    async def bans(self, guild_id: int) -> list[MemberBan]:
        return await self.database.read(_bans, guild_id)

    async def _changed_any(self, sql: str, params: Sequence[Any]) -> bool:
        """Whether one write statement, in its own transaction, changed a row."""
        return bool(await self._changed(sql, params))

    async def _changed(self, sql: str, params: Sequence[Any]) -> int:
        """Run one write statement in its own transaction; return how many rows it changed."""
        return await self.database.write(_execute, sql, params)


async def _execute(conn: Connection, sql: str, params: Sequence[Any]) -> int:
    return await conn.execute(sql, params)


async def _guild_settings(conn: Connection, guild_id: int) -> GuildSettings:
    row = await conn.fetchone(
        "SELECT audit_channel_id, nsfw_policy FROM guild_settings WHERE guild_id = ?",
        (guild_id,),
    )
    rules = await conn.fetchall(
        "SELECT channel_id, rule FROM channel_rules WHERE guild_id = ?", (guild_id,)
    )
    blocked = await conn.fetchall(
        "SELECT id, pattern, is_regex FROM blocklist WHERE guild_id = ? ORDER BY id", (guild_id,)
    )
    return GuildSettings(
        guild_id=guild_id,
        audit_channel_id=None if row is None else row["audit_channel_id"],
        nsfw_policy="filter" if row is None else row["nsfw_policy"],
        allowed_channels=frozenset(int(r[0]) for r in rules if r[1] == "allow"),
        denied_channels=frozenset(int(r[0]) for r in rules if r[1] == "deny"),
        blocklist=tuple(
            BlockEntry(id=r["id"], pattern=r["pattern"], is_regex=bool(r["is_regex"]))
            for r in blocked
        ),
    )


async def _member_ban(conn: Connection, guild_id: int, user_id: int) -> MemberBan | None:
    row = await conn.fetchone(
        "SELECT user_id, reason, actor_id, created_at FROM member_bans"
        " WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    )
    return None if row is None else ban_from_row(row)


async def _bans(conn: Connection, guild_id: int) -> list[MemberBan]:
    rows = await conn.fetchall(
        "SELECT user_id, reason, actor_id, created_at FROM member_bans WHERE guild_id = ?"
        " ORDER BY created_at",
        (guild_id,),
    )
    return [ban_from_row(r) for r in rows]
