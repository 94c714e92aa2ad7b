"""A member's spendable balance in the ledger, and its top-up to the allowance once a period."""

from __future__ import annotations

from wanbot.store.database import Connection
from wanbot.store.models import Budget


async def available(conn: Connection, guild_id: int, user_id: int) -> int:
    return int(
        await conn.fetchval(
            "SELECT COALESCE(SUM(available), 0) FROM ledger WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
    )


async def refill(
    conn: Connection, guild_id: int, user_id: int, budget: Budget | None, now: float
) -> int:
    """Top the balance up to the allowance once per period; return the balance after."""
    balance = await available(conn, guild_id, user_id)
    if budget is None or budget.period_key is None:
        return balance
    if await conn.fetchone(
        "SELECT 1 FROM ledger WHERE guild_id = ? AND user_id = ? AND kind = 'refill' "
        "AND period_key = ?",
        (guild_id, user_id, budget.period_key),
    ):
        return balance
    top_up = max(0, budget.allowance - balance)
    # A concurrent transaction's refill of the same period (PostgreSQL, SERIALIZABLE): DO NOTHING
    # on a row this snapshot can't see is a serialization failure (retried), not a unique one.
    await conn.execute(
        "INSERT INTO ledger (guild_id, user_id, kind, available, held, period_key, created_at)"
        " VALUES (?, ?, 'refill', ?, 0, ?, ?) ON CONFLICT DO NOTHING",
        (guild_id, user_id, top_up, budget.period_key, now),
    )
    return balance + top_up
