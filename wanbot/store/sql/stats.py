"""Reports over jobs and the ledger: durations for ETAs, a member's last job, server statistics."""

from __future__ import annotations

from wanbot.store.database import Connection
from wanbot.store.models import GuildStats, MemberSpend, PeriodStats
from wanbot.store.sql.common import SqlFamily

# Captures of members and of team wallets (whose entries name the member whose job it was).
_CAPTURES = (
    "(SELECT guild_id, user_id, held, created_at FROM ledger WHERE kind = 'capture'"
    " UNION ALL SELECT guild_id, user_id, held, created_at FROM wallet_ledger"
    " WHERE kind = 'capture') AS captures"
)


class StatsSql(SqlFamily):
    async def recent_durations(self, provider: str, size: str, limit: int = 20) -> list[float]:
        return await self.database.read(_recent_durations, provider, size, limit)

    async def last_job_at(self, guild_id: int, user_id: int) -> float | None:
        return await self.database.read(_last_job_at, guild_id, user_id)

    async def guild_stats(
        self, guild_id: int, day_start: float, month_start: float, top: int = 5
    ) -> GuildStats:
        return await self.database.read(_guild_stats, guild_id, day_start, month_start, top)


async def _recent_durations(conn: Connection, provider: str, size: str, limit: int) -> list[float]:
    rows = await conn.fetchall(
        "SELECT finished_at - submitted_at FROM jobs WHERE provider = ? AND size = ? AND"
        " state IN ('delivering', 'done') AND submitted_at IS NOT NULL AND"
        " finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
        (provider, size, limit),
    )
    return [float(r[0]) for r in rows]


async def _last_job_at(conn: Connection, guild_id: int, user_id: int) -> float | None:
    value = await conn.fetchval(
        "SELECT MAX(created_at) FROM jobs WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    )
    return None if value is None else float(value)


async def _period_stats(conn: Connection, guild_id: int, since: float) -> PeriodStats:
    jobs = await conn.fetchone(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0)"
        " FROM jobs WHERE guild_id = ? AND created_at >= ?",
        (guild_id, since),
    )
    spent = await conn.fetchval(
        f"SELECT COALESCE(SUM(-held), 0) FROM {_CAPTURES} WHERE guild_id = ? AND created_at >= ?",
        (guild_id, since),
    )
    assert jobs is not None
    return PeriodStats(jobs=int(jobs[0]), failed=int(jobs[1]), credits=int(spent))


async def _guild_stats(
    conn: Connection, guild_id: int, day_start: float, month_start: float, top: int
) -> GuildStats:
    rows = await conn.fetchall(
        "SELECT user_id, COUNT(*) FROM jobs WHERE guild_id = ? AND created_at >= ?"
        " GROUP BY user_id",
        (guild_id, month_start),
    )
    jobs = {int(r[0]): int(r[1]) for r in rows}
    rows = await conn.fetchall(
        f"SELECT user_id, SUM(-held) FROM {_CAPTURES}"
        " WHERE guild_id = ? AND created_at >= ? GROUP BY user_id",
        (guild_id, month_start),
    )
    spent = {int(r[0]): int(r[1]) for r in rows}
    members = [
        MemberSpend(user_id=u, jobs=jobs.get(u, 0), credits=spent.get(u, 0))
        for u in set(jobs) | set(spent)
    ]
    members.sort(key=lambda m: (-m.credits, -m.jobs, m.user_id))
    return GuildStats(
        today=await _period_stats(conn, guild_id, day_start),
        month=await _period_stats(conn, guild_id, month_start),
        top=tuple(members[:top]),
    )
