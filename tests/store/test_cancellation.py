"""No transaction survives a cancelled caller: every store operation, cancelled at every await.

For each public operation, a reference run counts the awaits it makes into SQLite and records the
state it leaves. Then, for k = 1..N and for both victims (the caller, or the transaction's own
task), a fresh copy of the same database runs the operation cancelled at the k-th await. After
each: the database holds either the state before or the reference state after (all or nothing),
the ledger is consistent, and the next operations work on the same store.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from tests.store.faults import CancelAt, assert_ledger_consistent, snapshot
from tests.store.test_sqlite_store import Clock, make_job
from wanbot.store import Budget, SpendCaps, SQLiteStore, Store
from wanbot.store.base import JobPhase

GUILD = 1
USER = 10
OTHER = 11
CAPS = SpendCaps(day_start=0.0, per_guild=1_000, total=1_000)
REFILL = Budget(allowance=50, period_key="p1")
NOW = 1_000.0

Operation = Callable[[SQLiteStore], Coroutine[Any, Any, Any]]

OPERATIONS: dict[str, Operation] = {
    "get_meta": lambda s: s.get_meta("k"),
    "set_meta": lambda s: s.set_meta("k", "v2"),
    "admit_job": lambda s: s.admit_job(make_job("new", n=2, image_cost=3), REFILL, CAPS, 10),
    "set_placeholder": lambda s: s.set_placeholder("q", 77),
    "get_job": lambda s: s.get_job("r"),
    "jobs_in": lambda s: s.jobs_in([JobPhase.QUEUED, JobPhase.RUNNING]),
    "mark_submitting": lambda s: s.mark_submitting("q"),
    "mark_requeued": lambda s: s.mark_requeued("s"),
    "mark_running": lambda s: s.mark_running("s", "mock", "p-s"),
    "mark_delivering": lambda s: s.mark_delivering("r", ["https://x/r"], 0.5),
    "settle_delivered": lambda s: s.settle_delivered("d", [1, 2], 1),
    "settle_failed": lambda s: s.settle_failed("r", "boom", cancelled=True),
    "balance": lambda s: s.balance(GUILD, OTHER, REFILL),
    "grant": lambda s: s.grant(GUILD, USER, -5, 1, "revoke"),
    "ledger": lambda s: s.ledger(GUILD, USER),
    "recent_durations": lambda s: s.recent_durations("mock", "2K"),
    "get_preferences": lambda s: s.get_preferences(GUILD, USER),
    "save_preferences": lambda s: s.save_preferences(GUILD, USER, {"size": "4K"}),
    "guild_settings": lambda s: s.guild_settings(GUILD),
    "set_audit_channel": lambda s: s.set_audit_channel(GUILD, 600),
    "set_nsfw_policy": lambda s: s.set_nsfw_policy(GUILD, "allow"),
    "set_channel_rule": lambda s: s.set_channel_rule(GUILD, 501, "deny", 1),
    "clear_channel_rules": lambda s: s.clear_channel_rules(GUILD),
    "add_blocked": lambda s: s.add_blocked(GUILD, "dog", False, 1),
    "remove_blocked": lambda s: s.remove_blocked(GUILD, "cat"),
    "ban_member": lambda s: s.ban_member(GUILD, OTHER, 1, "spam"),
    "unban_member": lambda s: s.unban_member(GUILD, 12),
    "member_ban": lambda s: s.member_ban(GUILD, 12),
    "bans": lambda s: s.bans(GUILD),
    "last_job_at": lambda s: s.last_job_at(GUILD, USER),
    "held_credits": lambda s: s.held_credits(GUILD, USER),
    "activity": lambda s: s.activity(GUILD, USER),
    "guild_stats": lambda s: s.guild_stats(GUILD, 0.0, 0.0),
    "forget_member": lambda s: s.forget_member(GUILD, USER),
    "blank_prompts_older_than": lambda s: s.blank_prompts_older_than(NOW + 1),
}


def public_operations() -> set[str]:
    names = {n for n in dir(Store) if not n.startswith("_")}
    return names - {"close"}


def test_every_public_operation_is_exercised() -> None:
    assert set(OPERATIONS) == public_operations()


async def seed(path: Path) -> None:
    store = await SQLiteStore.open(path, clock=Clock(NOW))
    try:
        await store.grant(GUILD, USER, 100, 1, "seed")
        for job_id in ("q", "s", "r", "d", "e", "f"):
            await store.admit_job(make_job(job_id, n=2, image_cost=2), REFILL, CAPS, 10)
        for job_id in ("s", "r", "d", "e", "f"):
            assert await store.mark_submitting(job_id)
        for job_id in ("r", "d", "e", "f"):
            await store.mark_running(job_id, "mock", f"p-{job_id}")
        for job_id in ("d", "e"):
            await store.mark_delivering(job_id, [f"https://x/{job_id}"], 0.5)
        await store.settle_delivered("e", [9], 2)
        await store.settle_failed("f", "host down")
        await store.set_meta("k", "v")
        await store.save_preferences(GUILD, USER, {"size": "1K"})
        await store.set_channel_rule(GUILD, 500, "allow", 1)
        await store.add_blocked(GUILD, "cat", False, 1)
        await store.ban_member(GUILD, 12, 1, "rude")
    finally:
        await store.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "seed.db"
    asyncio.run(seed(path))
    return path


async def fresh(template: Path, folder: Path, name: str) -> tuple[Path, SQLiteStore]:
    path = folder / f"{name}.db"
    shutil.copy(template, path)  # closed cleanly: no WAL to copy along
    return path, await SQLiteStore.open(path, clock=Clock(NOW))


async def reference(template: Path, folder: Path, name: str) -> tuple[int, dict[str, Any]]:
    path, store = await fresh(template, folder, f"{name}-ref")
    probe = CancelAt(store.database.connection, 0, asyncio.current_task)
    probe.install()
    try:
        await OPERATIONS[name](store)
    finally:
        probe.remove()
        await store.close()
    return probe.count, snapshot(path)


async def still_works(store: SQLiteStore, tag: str) -> None:
    await store.set_meta("after", tag)
    assert await store.get_meta("after") == tag
    await store.grant(GUILD, 20, 10, 1, None)
    await store.admit_job(make_job(f"after-{tag}", user_id=20, image_cost=1), REFILL, CAPS, 10)
    assert (await store.get_job(f"after-{tag}")) is not None
    assert not store.database.connection.in_transaction


@pytest.mark.parametrize("name", sorted(OPERATIONS))
async def test_cancelled_at_every_await_leaves_all_or_nothing(
    name: str, template: Path, tmp_path: Path
) -> None:
    before = snapshot(template)
    awaits, after = await reference(template, tmp_path, name)
    assert awaits >= 1
    outcomes: set[str] = set()
    for victim_name in ("caller", "transaction"):
        for k in range(1, awaits + 1):
            path, store = await fresh(template, tmp_path, f"{name}-{victim_name}-{k}")
            try:
                caller = asyncio.create_task(OPERATIONS[name](store))
                victim = always(caller) if victim_name == "caller" else asyncio.current_task
                fault = CancelAt(store.database.connection, k, victim)
                fault.install()
                try:
                    await asyncio.wait([caller])
                finally:
                    fault.remove()
                assert fault.fired
                assert caller.cancelled(), f"{name} k={k} {victim_name}: {caller}"
                # The next operation waits for whatever the cancelled one left running.
                await store.get_meta("k")
                state = snapshot(path)
                assert state in (before, after), f"{name}: partial state at k={k} ({victim_name})"
                outcomes.add("done" if state == after else "undone")
                assert_ledger_consistent(path)
                await still_works(store, f"{victim_name}{k}")
                assert_ledger_consistent(path)
            finally:
                await store.close()
    if before != after:
        # Cancelling the caller never undoes a begun transaction; cancelling the transaction
        # itself before its COMMIT undoes it.
        assert outcomes == {"done", "undone"}, outcomes


# -- a writer in another connection holds the file lock while operations are cancelled ----------


def always(task: asyncio.Task[Any]) -> Callable[[], asyncio.Task[Any]]:
    return lambda: task


def lock_file(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    return other


async def test_cancelled_while_another_connection_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    await seed(path)
    store = await SQLiteStore.open(path, clock=Clock(NOW), busy_timeout_s=5)
    try:
        before = snapshot(path)
        other = lock_file(path)
        # The first admit's BEGIN IMMEDIATE blocks on the file lock; the second waits its turn.
        first = asyncio.create_task(store.admit_job(make_job("x1"), REFILL, CAPS, 10))
        second = asyncio.create_task(store.admit_job(make_job("x2"), REFILL, CAPS, 10))
        await asyncio.sleep(0.3)
        first.cancel()
        second.cancel()
        await asyncio.wait([first, second])
        assert first.cancelled() and second.cancelled()
        await asyncio.to_thread(other.rollback)
        other.close()
        await still_works(store, "unlocked")
        # The begun admit completed; the one still waiting for its turn never started.
        assert await store.get_job("x1") is not None
        assert await store.get_job("x2") is None
        assert snapshot(path) != before
        assert_ledger_consistent(path)
    finally:
        await store.close()


@pytest.mark.parametrize("busy_timeout_s", [5.0, 0.2])
async def test_transaction_cancelled_in_begin_while_locked(
    tmp_path: Path, busy_timeout_s: float
) -> None:
    """Issue 15's Cancel click: the job task is cancelled while BEGIN IMMEDIATE waits for a lock
    another process holds, whether the lock comes free before the busy timeout or not."""
    path = tmp_path / "locked.db"
    await seed(path)
    store = await SQLiteStore.open(path, clock=Clock(NOW), busy_timeout_s=busy_timeout_s)
    try:
        before = snapshot(path)
        other = lock_file(path)
        fault = CancelAt(store.database.connection, 1, asyncio.current_task)  # at BEGIN
        fault.install()
        started = time.monotonic()
        try:
            op = asyncio.create_task(store.settle_failed("q", "cancelled", cancelled=True))
            await asyncio.sleep(0.5)
            await asyncio.to_thread(other.rollback)
            other.close()
            await asyncio.wait([op])
        finally:
            fault.remove()
        assert op.cancelled() and fault.fired
        assert time.monotonic() - started < 5
        assert snapshot(path) == before  # rolled back (or never begun): nothing written
        await still_works(store, "after-begin")
        assert await store.settle_failed("q", "cancelled", cancelled=True)
        assert_ledger_consistent(path)
    finally:
        await store.close()


async def test_close_waits_for_a_transaction_whose_caller_was_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "close.db"
    await seed(path)
    store = await SQLiteStore.open(path, clock=Clock(NOW))
    op = asyncio.create_task(store.settle_delivered("d", [1], 2))
    fault = CancelAt(store.database.connection, 2, always(op))
    fault.install()
    await asyncio.wait([op])
    assert op.cancelled()
    await store.close()
    job = (rows_of(path, "SELECT state FROM jobs WHERE id = 'd'"))[0]
    assert job == ("done",)
    assert_ledger_consistent(path)


def rows_of(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()
