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
    """Each job: one hold; a capture only when done, a release iff it ended; holds net out."""
    dup = await place.rows(
        "SELECT job_id, kind FROM ledger WHERE job_id IS NOT NULL"
        " GROUP BY job_id, kind HAVING COUNT(*) > 1"
    )
    assert dup == []
    jobs = await place.rows("SELECT id, state FROM jobs WHERE seq > 0")
    for job_id, state in jobs:
        kinds = {
            r[0]: (r[1], r[2])
            for r in await place.rows(
                "SELECT kind, available, held FROM ledger WHERE job_id = ?", (job_id,)
            )
        }
        assert "hold" in kinds, f"{job_id} has no hold"
        ended = state in ("done", "failed", "cancelled")
        assert ("release" in kinds) == ended, (job_id, state, kinds)
        assert ("capture" in kinds) == (state == "done"), (job_id, state, kinds)
        held = sum(h for _, h in kinds.values())
        assert held == (0 if ended else kinds["hold"][1]), (job_id, kinds)
    orphans = await place.rows(
        "SELECT COUNT(*) FROM ledger l LEFT JOIN jobs j ON j.id = l.job_id"
        " WHERE l.job_id IS NOT NULL AND j.id IS NULL"
    )
    assert orphans == [(0,)]
    negative = await place.rows(
        "SELECT guild_id, user_id FROM ledger GROUP BY guild_id, user_id"
        " HAVING SUM(available) < 0 OR SUM(held) < 0"
    )
    assert negative == []
