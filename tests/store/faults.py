"""Fault injection below the store: count every await that reaches SQLite, cancel at the k-th.

aiosqlite sends every statement, fetch and cursor close to its worker thread through one method,
`Connection._execute`; wrapping it on the instance sees each await a store operation makes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite


class CancelAt:
    """Cancel a task at the k-th await into SQLite (k = 0: only count).

    `victim` picks the task: the store's caller (it stops waiting), or `asyncio.current_task`
    at that await (the transaction's own task is cancelled, as at shutdown).
    """

    def __init__(
        self, conn: aiosqlite.Connection, k: int, victim: Callable[[], asyncio.Task[Any] | None]
    ) -> None:
        self.k = k
        self.count = 0
        self.fired = False
        self._victim = victim
        self._conn = conn
        self._real = conn._execute

    def install(self) -> None:
        self._conn._execute = self._execute  # type: ignore[method-assign]

    def remove(self) -> None:
        del self._conn._execute

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        if self.count == self.k:
            task = self._victim()
            assert task is not None
            task.cancel()
            self.fired = True
        return await self._real(fn, *args, **kwargs)


def snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, committed state, read through a connection of its own."""
    with sqlite3.connect(path) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            ).fetchall()
        ]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


def assert_ledger_consistent(path: Path) -> None:
    """Each job: one hold, in its payer's ledger only (the member's, or the team wallet's named by
    `jobs.wallet_id`); a capture only when done, a release iff it ended; holds net out."""
    with sqlite3.connect(path) as conn:
        for table in ("ledger", "wallet_ledger"):
            dup = conn.execute(
                f"SELECT job_id, kind FROM {table} WHERE job_id IS NOT NULL"
                " GROUP BY job_id, kind HAVING COUNT(*) > 1"
            ).fetchall()
            assert dup == [], table
        jobs = conn.execute("SELECT id, state, wallet_id FROM jobs WHERE seq > 0").fetchall()
        for job_id, state, wallet_id in jobs:
            payer, other = ("wallet_ledger", "ledger") if wallet_id else ("ledger", "wallet_ledger")
            kinds = {
                r[0]: (r[1], r[2])
                for r in conn.execute(
                    f"SELECT kind, available, held FROM {payer} WHERE job_id = ?", (job_id,)
                )
            }
            elsewhere = conn.execute(f"SELECT COUNT(*) FROM {other} WHERE job_id = ?", (job_id,))
            assert elsewhere.fetchone() == (0,), f"{job_id} has entries in {other}"
            if wallet_id:
                holders = conn.execute(
                    "SELECT DISTINCT wallet_id FROM wallet_ledger WHERE job_id = ?", (job_id,)
                ).fetchall()
                assert holders == [(wallet_id,)], (job_id, holders)
            assert "hold" in kinds, f"{job_id} has no hold"
            ended = state in ("done", "failed", "cancelled")
            assert ("release" in kinds) == ended, (job_id, state, kinds)
            assert ("capture" in kinds) == (state == "done"), (job_id, state, kinds)
            held = sum(h for _, h in kinds.values())
            assert held == (0 if ended else kinds["hold"][1]), (job_id, kinds)
        for table in ("ledger", "wallet_ledger"):
            orphans = conn.execute(
                f"SELECT COUNT(*) FROM {table} l LEFT JOIN jobs j ON j.id = l.job_id"
                " WHERE l.job_id IS NOT NULL AND j.id IS NULL"
            ).fetchone()
            assert orphans == (0,), table
        negative = conn.execute(
            "SELECT guild_id, user_id FROM ledger GROUP BY guild_id, user_id"
            " HAVING SUM(available) < 0 OR SUM(held) < 0"
        ).fetchall()
        assert negative == []
        negative = conn.execute(
            "SELECT wallet_id FROM wallet_ledger GROUP BY wallet_id"
            " HAVING SUM(available) < 0 OR SUM(held) < 0"
        ).fetchall()
        assert negative == []
        # A wallet's running sums are the sums of its entries.
        drift = conn.execute(
            "SELECT w.id, w.balance, w.held, COALESCE(SUM(l.available), 0),"
            " COALESCE(SUM(l.held), 0) FROM wallets w LEFT JOIN wallet_ledger l"
            " ON l.wallet_id = w.id GROUP BY w.id, w.balance, w.held"
            " HAVING w.balance <> COALESCE(SUM(l.available), 0)"
            " OR w.held <> COALESCE(SUM(l.held), 0)"
        ).fetchall()
        assert drift == [], drift
