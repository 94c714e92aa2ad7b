"""Admission: one transaction checks the member's queue, the spend caps and the balance (or a team
wallet's), then writes the job row and its hold together, or nothing."""

from __future__ import annotations

from typing import Any

from wanbot.errors import InsufficientCredits, QueueFull, SpendCapReached
from wanbot.store.database import Connection
from wanbot.store.models import (
    ACTIVE_PHASES,
    Budget,
    NewJob,
    Paid,
    SpendCaps,
    WalletFunds,
    WalletTerms,
)
from wanbot.store.sql.balances import refill
from wanbot.store.sql.common import JOBS_CHANNEL, Clock, marks
from wanbot.store.sql.wallets import hold_from_wallet, offered_wallets, wallet_committed_since


async def _committed_since(conn: Connection, since: float, guild_id: int | None) -> int:
    """Credits held since `since`, net of those holds' releases (what was really spent).

    A release counts only against its own hold, so freeing an earlier day's hold does not raise
    today's allowance.
    """
    where = "WHERE h.kind = 'hold' AND h.created_at >= ?"
    params: list[Any] = [since]
    if guild_id is not None:
        where += " AND h.guild_id = ?"
        params.append(guild_id)
    members = int(
        await conn.fetchval(
            "SELECT COALESCE(SUM(h.held - COALESCE(r.available, 0)), 0) FROM ledger h"
            f" LEFT JOIN ledger r ON r.job_id = h.job_id AND r.kind = 'release' {where}",
            params,
        )
    )
    return members + await wallet_committed_since(conn, since, guild_id)


async def admit(
    conn: Connection,
    job: NewJob,
    budget: Budget,
    caps: SpendCaps,
    max_queued: int,
    clock: Clock,
    lease: tuple[str, float] | None,
    terms: WalletTerms | None = None,
) -> Paid:
    now = clock()
    cost = job.hold_amount
    active = [str(p) for p in ACTIVE_PHASES]
    queued = await conn.fetchval(
        "SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ?"
        f" AND state IN ({marks(active)})",
        (job.guild_id, job.user_id, *active),
    )
    if int(queued) >= max_queued:
        raise QueueFull(max_queued)
    if caps.per_guild and (
        await _committed_since(conn, caps.day_start, job.guild_id) + cost > caps.per_guild
    ):
        raise SpendCapReached("guild")
    if caps.total and await _committed_since(conn, caps.day_start, None) + cost > caps.total:
        raise SpendCapReached("total")
    offered = await offered_wallets(conn, job, terms, now) if terms else []
    wallet = terms.choose(offered, cost) if terms and offered else None
    balance = 0
    if wallet is None:
        balance = await refill(conn, job.guild_id, job.user_id, budget, now)
        if balance < cost:
            # Refills (if any) are rolled back with the refusal: nothing is written.
            raise _short(balance, cost, job.image_cost, offered)
    seq = await next_seq(conn)
    await conn.execute(
        "INSERT INTO jobs (id, seq, kind, state, guild_id, channel_id, user_id,"
        " application_id, interaction_token, token_expires_at, placeholder_message_id,"
        " request_json, provider, image_cost, images_requested, size, private,"
        " parent_job_id, created_at, updated_at, deadline_at, upload_limit, locale, worker_id,"
        " lease_until)"
        " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?)",
        (
            job.id,
            seq,
            job.kind,
            job.guild_id,
            job.channel_id,
            job.user_id,
            job.application_id,
            job.interaction_token,
            job.token_expires_at,
            job.placeholder_message_id,
            job.request.model_dump_json(),
            job.provider,
            job.image_cost,
            job.request.n,
            job.request.size,
            job.private,
            job.parent_job_id,
            now,
            now,
            job.deadline_at,
            job.upload_limit,
            job.locale,
            None if lease is None else lease[0],
            None if lease is None else now + lease[1],
        ),
    )
    if wallet is not None:
        paid = await hold_from_wallet(conn, job, wallet, now)
        await conn.notify(JOBS_CHANNEL)
        return paid
    await conn.execute(
        "INSERT INTO ledger (guild_id, user_id, kind, available, held, job_id, created_at)"
        " VALUES (?, ?, 'hold', ?, ?, ?, ?)",
        (job.guild_id, job.user_id, -cost, cost, job.id, now),
    )
    await conn.notify(JOBS_CHANNEL)
    return Paid(balance=balance - cost)


def _short(
    balance: int, cost: int, per_image: int, offered: list[WalletFunds]
) -> InsufficientCredits:
    """Not enough: the member's balance, and the member's best-provided wallet if they have one."""
    error = InsufficientCredits(balance, cost, per_image)
    if offered:
        best = max(offered, key=lambda f: f.balance)
        error.details.update(wallet=best.wallet.name, wallet_balance=best.balance)
    return error


async def next_seq(conn: Connection) -> int:
    """The next place in the queue order."""
    if conn.dialect == "postgresql":
        # Concurrent SERIALIZABLE admissions reading MAX(seq) would all conflict on it.
        return int(await conn.fetchval("SELECT nextval('jobs_seq')"))
    # SQLite: writers are serialised, so MAX + 1 is unique.
    return int(await conn.fetchval("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs"))
