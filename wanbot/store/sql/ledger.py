"""The credit ledger, and the job transitions that move credits: admit (hold) and settle.

Append-only: `available` is an entry's effect on the member's spendable balance, `held` its effect
on credits set aside for a job; a balance is a sum. One hold, capture and release per job at most
(unique constraints). Admission and settlement write the job row and its ledger entries in one
transaction, so a job and its hold exist together or not at all. A job a team wallet pays for has
them in the wallet's ledger instead (`wallets`), chosen in the same admission transaction
(`admission`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from wanbot.store.database import Connection
from wanbot.store.models import (
    ACTIVE_PHASES,
    REMOVED_PROMPT,
    Activity,
    Budget,
    JobPhase,
    LedgerEntry,
    NewJob,
    Paid,
    Settlement,
    SpendCaps,
    WalletTerms,
    token_digest,
)
from wanbot.store.protocols import JobStateError
from wanbot.store.sql.admission import admit
from wanbot.store.sql.balances import available, refill
from wanbot.store.sql.common import Clock, SqlFamily, record, transition
from wanbot.store.sql.wallets import (
    settle_from_wallet,
)


class LedgerSql(SqlFamily):
    async def admit_job(
        self, job: NewJob, budget: Budget, caps: SpendCaps, max_queued_per_user: int
    ) -> int:
        paid = await self.database.write(
            admit, job, budget, caps, max_queued_per_user, self._clock, self.admission_lease
        )
        return paid.balance

    async def admit_job_paid(
        self,
        job: NewJob,
        budget: Budget,
        caps: SpendCaps,
        max_queued_per_user: int,
        terms: WalletTerms,
    ) -> Paid:
        return await self.database.write(
            admit, job, budget, caps, max_queued_per_user, self._clock, self.admission_lease, terms
        )

    async def settle_delivered(
        self, job_id: str, message_ids: Sequence[int], delivered: int
    ) -> Settlement:
        return await self.database.write(
            _settle_delivered,
            job_id,
            list(message_ids),
            delivered,
            self._clock,
            self.lease_holder,
        )

    async def settle_failed(
        self, job_id: str, error: str, *, cancelled: bool = False
    ) -> Settlement:
        end = JobPhase.CANCELLED if cancelled else JobPhase.FAILED
        return await self.database.write(_settle_failed, job_id, error, end, self._clock)

    async def balance(self, guild_id: int, user_id: int, budget: Budget | None = None) -> int:
        if budget is None or budget.period_key is None:
            return await self.database.read(available, guild_id, user_id)
        return await self.database.write(_refill_now, guild_id, user_id, budget, self._clock)

    async def grant(
        self, guild_id: int, user_id: int, amount: int, actor_id: int | None, reason: str | None
    ) -> int:
        return await self.database.write(
            _grant, guild_id, user_id, amount, actor_id, reason, self._clock
        )

    async def ledger(self, guild_id: int, user_id: int, limit: int = 10) -> list[LedgerEntry]:
        return await self.database.read(_ledger, guild_id, user_id, limit)

    async def held_credits(self, guild_id: int, user_id: int) -> int:
        return await self.database.read(_held, guild_id, user_id)

    async def activity(self, guild_id: int, user_id: int, limit: int = 5) -> list[Activity]:
        return await self.database.read(_activity, guild_id, user_id, limit)


async def _refill_now(
    conn: Connection, guild_id: int, user_id: int, budget: Budget, clock: Clock
) -> int:
    return await refill(conn, guild_id, user_id, budget, clock())


async def _hold(conn: Connection, job_id: str) -> tuple[int, int, int]:
    row = await conn.fetchone(
        "SELECT guild_id, user_id, held FROM ledger WHERE job_id = ? AND kind = 'hold'",
        (job_id,),
    )
    if row is None:
        raise JobStateError(f"job {job_id} has no hold")
    return int(row[0]), int(row[1]), int(row[2])


async def _entry(
    conn: Connection,
    kind: str,
    member: tuple[int, int],
    available: int,
    held: int,
    job_id: str,
    now: float,
) -> None:
    await conn.execute(
        "INSERT INTO ledger (guild_id, user_id, kind, available, held, job_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (*member, kind, available, held, job_id, now),
    )


async def _settle_delivered(
    conn: Connection,
    job_id: str,
    message_ids: list[int],
    delivered: int,
    clock: Clock,
    holder: str | None,
) -> Settlement:
    now = clock()
    row = await conn.fetchone(
        "SELECT image_cost, interaction_token, wallet_id FROM jobs WHERE id = ?", (job_id,)
    )
    if row is None:
        raise JobStateError(f"no job {job_id}")
    image_cost = int(row["image_cost"])
    if not await transition(
        conn,
        job_id,
        [JobPhase.DELIVERING],
        JobPhase.DONE,
        now,
        holder=holder,
        message_ids_json=json.dumps(message_ids),
        images_delivered=delivered,
        # A finished job needs its token no more; the digest still finds the job by it.
        interaction_token=token_digest(row["interaction_token"]),
    ):
        raise JobStateError(f"job {job_id} was not delivering")
    if row["wallet_id"] is not None:
        return await settle_from_wallet(conn, row["wallet_id"], job_id, delivered * image_cost, now)
    guild_id, user_id, held = await _hold(conn, job_id)
    captured = min(held, delivered * image_cost)
    released = held - captured
    await _entry(conn, "capture", (guild_id, user_id), 0, -captured, job_id, now)
    await _entry(conn, "release", (guild_id, user_id), released, -released, job_id, now)
    balance = await available(conn, guild_id, user_id)
    return Settlement(captured=captured, released=released, balance=balance)


async def _settle_failed(
    conn: Connection, job_id: str, error: str, end: JobPhase, clock: Clock
) -> Settlement:
    now = clock()
    row = await conn.fetchone(
        "SELECT interaction_token, wallet_id FROM jobs WHERE id = ?", (job_id,)
    )
    token = None if row is None else row["interaction_token"]
    if token is None or not await transition(
        conn,
        job_id,
        ACTIVE_PHASES,
        end,
        now,
        error=error[:500],
        finished_at=now,
        interaction_token=token_digest(token),
    ):
        raise JobStateError(f"job {job_id} has already ended")
    assert row is not None
    if row["wallet_id"] is not None:
        return await settle_from_wallet(conn, row["wallet_id"], job_id, None, now)
    guild_id, user_id, held = await _hold(conn, job_id)
    await _entry(conn, "release", (guild_id, user_id), held, -held, job_id, now)
    balance = await available(conn, guild_id, user_id)
    return Settlement(captured=0, released=held, balance=balance)


async def _grant(
    conn: Connection,
    guild_id: int,
    user_id: int,
    amount: int,
    actor_id: int | None,
    reason: str | None,
    clock: Clock,
) -> int:
    now = clock()
    kind = "grant" if amount >= 0 else "revoke"
    balance = await available(conn, guild_id, user_id)
    # A revoke never takes the balance below zero.
    effective = amount if amount >= 0 else -min(-amount, balance)
    await conn.execute(
        "INSERT INTO ledger (guild_id, user_id, kind, available, held, actor_id, reason,"
        " created_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
        (guild_id, user_id, kind, effective, actor_id, reason, now),
    )
    return balance + effective


async def _ledger(conn: Connection, guild_id: int, user_id: int, limit: int) -> list[LedgerEntry]:
    rows = await conn.fetchall(
        "SELECT id, guild_id, user_id, kind, available, held, job_id, actor_id, reason,"
        " created_at FROM ledger WHERE guild_id = ? AND user_id = ? ORDER BY id DESC LIMIT ?",
        (guild_id, user_id, limit),
    )
    return [record(LedgerEntry, r) for r in rows]


async def _held(conn: Connection, guild_id: int, user_id: int) -> int:
    return int(
        await conn.fetchval(
            "SELECT COALESCE(SUM(held), 0) FROM ledger WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
    )


async def _activity(conn: Connection, guild_id: int, user_id: int, limit: int) -> list[Activity]:
    rows = await conn.fetchall(
        "SELECT l.kind, l.available AS amount, l.actor_id, l.reason, l.created_at,"
        " j.kind AS job_kind, j.state AS job_state, j.request_json"
        " FROM ledger l LEFT JOIN jobs j ON j.id = l.job_id"
        " WHERE l.guild_id = ? AND l.user_id = ? AND l.available <> 0"
        " ORDER BY l.id DESC LIMIT ?",
        (guild_id, user_id, limit),
    )
    found = []
    for r in rows:
        prompt = None
        if r["request_json"]:
            prompt = str(json.loads(r["request_json"]).get("prompt", "")) or None
            if prompt == REMOVED_PROMPT:
                prompt = None
        found.append(record(Activity, r, prompt=prompt))
    return found
