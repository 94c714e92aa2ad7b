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
    """Each job: one hold; a capture only when done, a release iff it ended; holds net out."""
    with sqlite3.connect(path) as conn:
        dup = conn.execute(
            "SELECT job_id, kind FROM ledger WHERE job_id IS NOT NULL"
            " GROUP BY job_id, kind HAVING COUNT(*) > 1"
        ).fetchall()
        assert dup == []
        jobs = conn.execute("SELECT id, state FROM jobs WHERE seq > 0").fetchall()
        for job_id, state in jobs:
            kinds = {
                r[0]: (r[1], r[2])
                for r in conn.execute(
                    "SELECT kind, available, held FROM ledger WHERE job_id = ?", (job_id,)
                )
            }
            assert "hold" in kinds, f"{job_id} has no hold"
            ended = state in ("done", "failed", "cancelled")
            assert ("release" in kinds) == ended, (job_id, state, kinds)
            assert ("capture" in kinds) == (state == "done"), (job_id, state, kinds)
            held = sum(h for _, h in kinds.values())
            assert held == (0 if ended else kinds["hold"][1]), (job_id, kinds)
        orphans = conn.execute(
            "SELECT COUNT(*) FROM ledger l LEFT JOIN jobs j ON j.id = l.job_id"
            " WHERE l.job_id IS NOT NULL AND j.id IS NULL"
        ).fetchone()
        assert orphans == (0,)
        negative = conn.execute(
            "SELECT guild_id, user_id FROM ledger GROUP BY guild_id, user_id"
            " HAVING SUM(available) < 0 OR SUM(held) < 0"
        ).fetchall()
        assert negative == []
