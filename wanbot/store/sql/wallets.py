"""Team wallets and their ledger: a role's shared budget, refilled like an allowance.

`wallet_ledger` keeps a wallet's refills, grants, holds, captures and releases exactly as `ledger`
keeps a member's: append-only, a balance is a sum, one hold, capture and release per job, one
refill per period. Which of the two ledgers holds a job's credits is `jobs.wallet_id`; the job's
admission (see `ledger._admit`) chooses and holds in one transaction, so the choice is made
against the balances the hold then changes.

Every member of a role spends from one wallet, so its entries pile up faster than any member's:
`wallets.balance` and `wallets.held` carry the sums of its entries, changed by `_append` in the
transaction that appends each entry, so paying from a wallet never reads its whole history.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypedDict, Unpack

from wanbot.errors import Refusal, RefusalReason
from wanbot.store.database import Connection, Row
from wanbot.store.models import (
    NewJob,
    NewWallet,
    Paid,
    PeriodKeys,
    Settlement,
    Wallet,
    WalletEntry,
    WalletFunds,
    WalletTerms,
)
from wanbot.store.protocols import JobStateError
from wanbot.store.sql.common import Clock, SqlFamily, marks

MAX_WALLETS = 25  # per server: /admin wallet list stays one message
_WALLET_COLUMNS = "id, guild_id, name, role_id, allowance, period, actor_id, created_at, deleted_at"


class WalletSql(SqlFamily):
    async def create_wallet(self, wallet: NewWallet, period_keys: PeriodKeys) -> WalletFunds:
        return await self.database.write(_create, wallet, period_keys, self._clock)

    async def delete_wallet(self, guild_id: int, name: str) -> WalletFunds | None:
        return await self.database.write(_delete, guild_id, name, self._clock)

    async def grant_wallet(
        self,
        guild_id: int,
        name: str,
        amount: int,
        actor_id: int | None,
        reason: str | None,
        period_keys: PeriodKeys,
    ) -> tuple[WalletFunds, int] | None:
        return await self.database.write(
            _grant,
            guild_id,
            name,
            amount,
            period_keys,
            self._clock,
            actor_id=actor_id,
            reason=reason,
        )

    async def wallets(
        self,
        guild_id: int,
        period_keys: PeriodKeys,
        role_ids: Sequence[int] | None = None,
    ) -> list[WalletFunds]:
        roles = None if role_ids is None else list(role_ids)
        return await self.database.write(_wallets, guild_id, period_keys, roles, self._clock)

    async def wallet_funds(self, wallet_id: str) -> WalletFunds | None:
        return await self.database.read(_funds_of, wallet_id)

    async def wallet_entries(self, wallet_id: str, limit: int = 10) -> list[WalletEntry]:
        return await self.database.read(_entries, wallet_id, limit)


# -- reading --------------------------------------------------------------------------------------


def wallet_from_row(row: Row) -> Wallet:
    return Wallet(
        id=row["id"],
        guild_id=row["guild_id"],
        name=row["name"],
        role_id=row["role_id"],
        allowance=row["allowance"],
        period=row["period"],
        actor_id=row["actor_id"],
        created_at=row["created_at"],
        deleted_at=row["deleted_at"],
    )


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


async def _live(conn: Connection, guild_id: int, role_ids: list[int] | None) -> list[Wallet]:
    sql = f"SELECT {_WALLET_COLUMNS} FROM wallets WHERE guild_id = ? AND deleted_at IS NULL"
    params: list[Any] = [guild_id]
    if role_ids is not None:
        if not role_ids:
            return []
        sql += f" AND role_id IN ({marks(role_ids)})"
        params += role_ids
    rows = await conn.fetchall(sql + " ORDER BY created_at, id", params)
    return [wallet_from_row(r) for r in rows]


async def _named(conn: Connection, guild_id: int, name: str) -> Wallet | None:
    row = await conn.fetchone(
        f"SELECT {_WALLET_COLUMNS} FROM wallets"
        " WHERE guild_id = ? AND name_key = ? AND deleted_at IS NULL",
        (guild_id, name_key(name)),
    )
    return None if row is None else wallet_from_row(row)


async def _sums(conn: Connection, wallet_id: str) -> tuple[int, int]:
    """(spendable, held) of a wallet: the sums of its entries, as `_append` keeps them."""
    row = await conn.fetchone("SELECT balance, held FROM wallets WHERE id = ?", (wallet_id,))
    if row is None:
        raise JobStateError(f"no wallet {wallet_id}")
    return int(row[0]), int(row[1])


class _About(TypedDict, total=False):
    """What a wallet ledger entry concerns, as far as its kind has it; the rest stays NULL."""

    user_id: int | None  # holds, captures, releases: whose job
    job_id: str
    period_key: str  # refills
    actor_id: int | None  # grants
    reason: str | None


async def _append(
    conn: Connection,
    wallet: tuple[str, int],
    kind: str,
    available: int,
    held: int,
    now: float,
    **about: Unpack[_About],
) -> None:
    """One entry in the wallet's ledger, and its running sums moved by as much."""
    wallet_id, guild_id = wallet
    await conn.execute(
        "INSERT INTO wallet_ledger (wallet_id, guild_id, user_id, kind, available, held, job_id,"
        " period_key, actor_id, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            wallet_id,
            guild_id,
            about.get("user_id"),
            kind,
            available,
            held,
            about.get("job_id"),
            about.get("period_key"),
            about.get("actor_id"),
            about.get("reason"),
            now,
        ),
    )
    await conn.execute(
        "UPDATE wallets SET balance = balance + ?, held = held + ? WHERE id = ?",
        (available, held, wallet_id),
    )


async def wallet_available(conn: Connection, wallet_id: str) -> int:
    return (await _sums(conn, wallet_id))[0]


async def _funds(conn: Connection, wallet: Wallet) -> WalletFunds:
    return WalletFunds(wallet, *await _sums(conn, wallet.id))


async def _funds_of(conn: Connection, wallet_id: str) -> WalletFunds | None:
    row = await conn.fetchone(f"SELECT {_WALLET_COLUMNS} FROM wallets WHERE id = ?", (wallet_id,))
    return None if row is None else await _funds(conn, wallet_from_row(row))


async def _entries(conn: Connection, wallet_id: str, limit: int) -> list[WalletEntry]:
    rows = await conn.fetchall(
        "SELECT id, wallet_id, user_id, kind, available, held, job_id, actor_id, reason,"
        " created_at FROM wallet_ledger WHERE wallet_id = ? ORDER BY id DESC LIMIT ?",
        (wallet_id, limit),
    )
    return [
        WalletEntry(
            id=r["id"],
            wallet_id=r["wallet_id"],
            user_id=r["user_id"],
            kind=r["kind"],
            available=r["available"],
            held=r["held"],
            job_id=r["job_id"],
            actor_id=r["actor_id"],
            reason=r["reason"],
            created_at=r["created_at"],
        )
        for r in rows
    ]


async def wallet_committed_since(conn: Connection, since: float, guild_id: int | None) -> int:
    """Credits wallets held since `since`, net of those holds' releases (for the spend caps)."""
    where = "WHERE h.kind = 'hold' AND h.created_at >= ?"
    params: list[Any] = [since]
    if guild_id is not None:
        where += " AND h.guild_id = ?"
        params.append(guild_id)
    return int(
        await conn.fetchval(
            "SELECT COALESCE(SUM(h.held - COALESCE(r.available, 0)), 0) FROM wallet_ledger h"
            f" LEFT JOIN wallet_ledger r ON r.job_id = h.job_id AND r.kind = 'release' {where}",
            params,
        )
    )


# -- refills and the payer ------------------------------------------------------------------------


async def _refill(
    conn: Connection, wallet: Wallet, period_keys: PeriodKeys, now: float
) -> WalletFunds:
    """Top the wallet up to its allowance once per period; return its funds after."""
    balance, held = await _sums(conn, wallet.id)
    key = period_keys.get(wallet.period)
    if key is None or wallet.deleted_at is not None:
        return WalletFunds(wallet, balance, held)
    if await conn.fetchone(
        "SELECT 1 FROM wallet_ledger WHERE wallet_id = ? AND kind = 'refill' AND period_key = ?",
        (wallet.id, key),
    ):
        return WalletFunds(wallet, balance, held)
    top_up = max(0, wallet.allowance - balance)
    await _append(conn, (wallet.id, wallet.guild_id), "refill", top_up, 0, now, period_key=key)
    return WalletFunds(wallet, balance + top_up, held)


async def _refilled(
    conn: Connection, wallets: list[Wallet], period_keys: PeriodKeys, now: float
) -> list[WalletFunds]:
    return [await _refill(conn, wallet, period_keys, now) for wallet in wallets]


async def offered_wallets(
    conn: Connection, job: NewJob, terms: WalletTerms, now: float
) -> list[WalletFunds]:
    """The member's live wallets with their balances after any refill due."""
    wallets = await _live(conn, job.guild_id, list(terms.role_ids))
    return await _refilled(conn, wallets, terms.period_keys, now)


async def hold_from_wallet(conn: Connection, job: NewJob, funds: WalletFunds, now: float) -> Paid:
    """The wallet pays: its hold, and the job marked as paid by it (the job row exists)."""
    cost = job.hold_amount
    if funds.balance < cost:
        raise JobStateError(f"wallet {funds.wallet.id} can't hold {cost}")
    wallet = (funds.wallet.id, job.guild_id)
    await _append(conn, wallet, "hold", -cost, cost, now, user_id=job.user_id, job_id=job.id)
    await conn.execute("UPDATE jobs SET wallet_id = ? WHERE id = ?", (funds.wallet.id, job.id))
    return Paid(balance=funds.balance - cost, wallet=funds.wallet)


async def settle_from_wallet(
    conn: Connection, wallet_id: str, job_id: str, capture: int | None, now: float
) -> Settlement:
    """Capture up to `capture` of the job's hold (None: a failure, capture nothing) and release
    the rest to the wallet, in the job's settling transaction."""
    row = await conn.fetchone(
        "SELECT guild_id, user_id, held FROM wallet_ledger WHERE job_id = ? AND kind = 'hold'",
        (job_id,),
    )
    if row is None:
        raise JobStateError(f"job {job_id} has no hold in wallet {wallet_id}")
    wallet = (wallet_id, int(row["guild_id"]))
    whose = {"user_id": row["user_id"], "job_id": job_id}
    held = int(row["held"])
    captured = 0 if capture is None else min(held, capture)
    released = held - captured
    if capture is not None:
        await _append(conn, wallet, "capture", 0, -captured, now, **whose)
    await _append(conn, wallet, "release", released, -released, now, **whose)
    balance = await wallet_available(conn, wallet_id)
    return Settlement(captured=captured, released=released, balance=balance, wallet_id=wallet_id)


# -- administration --------------------------------------------------------------------------------


def _admin_refusal(problem: str, **details: object) -> Refusal:
    return Refusal(RefusalReason.WALLET_ADMIN, {"problem": problem, **details})


async def _create(
    conn: Connection, new: NewWallet, period_keys: PeriodKeys, clock: Clock
) -> WalletFunds:
    now = clock()
    if await _named(conn, new.guild_id, new.name) is not None:
        raise _admin_refusal("name_taken", name=new.name)
    count = await conn.fetchval(
        "SELECT COUNT(*) FROM wallets WHERE guild_id = ? AND deleted_at IS NULL", (new.guild_id,)
    )
    if int(count) >= MAX_WALLETS:
        raise _admin_refusal("too_many", limit=MAX_WALLETS)
    wallet = Wallet(**dataclasses.asdict(new), created_at=now)
    await conn.execute(
        "INSERT INTO wallets (id, guild_id, name, name_key, role_id, allowance, period, actor_id,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            wallet.id,
            wallet.guild_id,
            wallet.name,
            name_key(wallet.name),
            wallet.role_id,
            wallet.allowance,
            wallet.period,
            wallet.actor_id,
            now,
        ),
    )
    [funds] = await _refilled(conn, [wallet], period_keys, now)
    return funds


async def _delete(conn: Connection, guild_id: int, name: str, clock: Clock) -> WalletFunds | None:
    """Stop the wallet paying for new jobs; its unfinished jobs still settle into it."""
    wallet = await _named(conn, guild_id, name)
    if wallet is None:
        return None
    now = clock()
    await conn.execute("UPDATE wallets SET deleted_at = ? WHERE id = ?", (now, wallet.id))
    return await _funds(conn, dataclasses.replace(wallet, deleted_at=now))


async def _grant(
    conn: Connection,
    guild_id: int,
    name: str,
    amount: int,
    period_keys: PeriodKeys,
    clock: Clock,
    **about: Unpack[_About],
) -> tuple[WalletFunds, int] | None:
    """Add credits after the refill due (so the refill can't swallow them); the wallet and what
    the refill itself added. `about`: who granted them and why."""
    wallet = await _named(conn, guild_id, name)
    if wallet is None:
        return None
    now = clock()
    before = await wallet_available(conn, wallet.id)
    refilled = (await _refill(conn, wallet, period_keys, now)).balance - before
    await _append(conn, (wallet.id, guild_id), "grant", amount, 0, now, **about)
    return await _funds(conn, wallet), refilled


async def _wallets(
    conn: Connection,
    guild_id: int,
    period_keys: PeriodKeys,
    role_ids: list[int] | None,
    clock: Clock,
) -> list[WalletFunds]:
    wallets = await _live(conn, guild_id, role_ids)
    return await _refilled(conn, wallets, period_keys, clock())
