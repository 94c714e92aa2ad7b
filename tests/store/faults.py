"""Fault injection below the store: count every await that reaches the engine, cancel at the k-th.

SQLite: aiosqlite sends every statement, fetch and cursor close to its worker thread through one
method, `Connection._execute`. PostgreSQL: every BEGIN, statement and COMMIT on a transaction's
connection goes through `PostgresDatabase.call`. Wrapping that one method on the instance sees
each await a store operation makes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.store.backends import Place
from wanbot.store.postgres import PostgresStore
from wanbot.store.sql import SqlStore
from wanbot.store.sqlite import SQLiteStore


class CancelAt:
    """Cancel a task at the k-th await into the engine (k = 0: only count).

    `victim` picks the task: the store's caller (it stops waiting), or `asyncio.current_task`
    at that await (the transaction's own task is cancelled, as at shutdown).
    """

    def __init__(
        self, store: SqlStore, k: int, victim: Callable[[], asyncio.Task[Any] | None]
    ) -> None:
        self.k = k
        self.count = 0
        self.fired = False
        self._victim = victim
        if isinstance(store, SQLiteStore):
            self._owner: Any = store.database.connection
            self._name = "_execute"
        else:
            assert isinstance(store, PostgresStore)
            self._owner = store.database
            self._name = "call"
        self._real = getattr(self._owner, self._name)

    def install(self) -> None:
        setattr(self._owner, self._name, self._call)

    def remove(self) -> None:
        delattr(self._owner, self._name)

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        if self.count == self.k:
            task = self._victim()
            assert task is not None
            task.cancel()
            self.fired = True
        return await self._real(fn, *args, **kwargs)


async def assert_ledger_consistent(place: Place) -> None:
    """Each job: one hold, in its payer's ledger only (the member's, or the team wallet's named by
    `jobs.wallet_id`); a capture only when done, a release iff it ended; holds net out."""
    for table in ("ledger", "wallet_ledger"):
        dup = await place.rows(
            f"SELECT job_id, kind FROM {table} WHERE job_id IS NOT NULL"
            " GROUP BY job_id, kind HAVING COUNT(*) > 1"
        )
        assert dup == [], table
    jobs = await place.rows("SELECT id, state, wallet_id FROM jobs WHERE seq > 0")
    for job_id, state, wallet_id in jobs:
        payer, other = ("wallet_ledger", "ledger") if wallet_id else ("ledger", "wallet_ledger")
        kinds = {
            r[0]: (r[1], r[2])
            for r in await place.rows(
                f"SELECT kind, available, held FROM {payer} WHERE job_id = ?", (job_id,)
            )
        }
        elsewhere = await place.rows(f"SELECT COUNT(*) FROM {other} WHERE job_id = ?", (job_id,))
        assert elsewhere == [(0,)], f"{job_id} has entries in {other}"
        if wallet_id:
            holders = await place.rows(
                "SELECT DISTINCT wallet_id FROM wallet_ledger WHERE job_id = ?", (job_id,)
            )
            assert holders == [(wallet_id,)], (job_id, holders)
        assert "hold" in kinds, f"{job_id} has no hold"
        ended = state in ("done", "failed", "cancelled")
        assert ("release" in kinds) == ended, (job_id, state, kinds)
        assert ("capture" in kinds) == (state == "done"), (job_id, state, kinds)
        held = sum(h for _, h in kinds.values())
        assert held == (0 if ended else kinds["hold"][1]), (job_id, kinds)
    for table in ("ledger", "wallet_ledger"):
        orphans = await place.rows(
            f"SELECT COUNT(*) FROM {table} l LEFT JOIN jobs j ON j.id = l.job_id"
            " WHERE l.job_id IS NOT NULL AND j.id IS NULL"
        )
        assert orphans == [(0,)], table
    negative = await place.rows(
        "SELECT guild_id, user_id FROM ledger GROUP BY guild_id, user_id"
        " HAVING SUM(available) < 0 OR SUM(held) < 0"
    )
    assert negative == []
    negative = await place.rows(
        "SELECT wallet_id FROM wallet_ledger GROUP BY wallet_id"
        " HAVING SUM(available) < 0 OR SUM(held) < 0"
    )
    assert negative == []
    # A wallet's running sums are the sums of its entries.
    drift = await place.rows(
        "SELECT w.id, w.balance, w.held, COALESCE(SUM(l.available), 0),"
        " COALESCE(SUM(l.held), 0) FROM wallets w LEFT JOIN wallet_ledger l"
        " ON l.wallet_id = w.id GROUP BY w.id, w.balance, w.held"
        " HAVING w.balance <> COALESCE(SUM(l.available), 0)"
        " OR w.held <> COALESCE(SUM(l.held), 0)"
    )
    assert drift == [], drift
