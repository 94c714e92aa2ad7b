"""No transaction survives a cancelled caller: every store operation, cancelled at every await.

For each public operation, a reference run counts the awaits it makes into the engine and records
the state it leaves. Then, for k = 1..N and for both victims (the caller, or the transaction's own
task), a fresh copy of the same database runs the operation cancelled at the k-th await. After
each: the database holds either the state before or the reference state after (all or nothing),
the ledger is consistent, and the next operations work on the same store. On both engines.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.store.backends import Backend, Place, PostgresPlace, SQLitePlace, idle, snapshot
from tests.store.faults import CancelAt, assert_ledger_consistent
from tests.store.helpers import Clock, make_job
from wanbot.credits import choose_wallet
from wanbot.store import Budget, SpendCaps, Store
from wanbot.store.base import JobPhase, NewWallet, WalletTerms
from wanbot.store.sql import SqlStore
from wanbot.store.sqlite import SQLiteStore

GUILD = 1
USER = 10
OTHER = 11
CAPS = SpendCaps(day_start=0.0, per_guild=1_000, total=1_000)
REFILL = Budget(allowance=50, period_key="p1")
NOW = 1_000.0
TEAM_ROLE = 7
KEYS = {"daily": "d1"}
NEXT_KEYS = {"daily": "d2"}  # a new day: the wallet's refill is due
TEAM = WalletTerms((TEAM_ROLE,), KEYS, choose_wallet)

Operation = Callable[[SqlStore], Coroutine[Any, Any, Any]]

OPERATIONS: dict[str, Operation] = {
    "get_meta": lambda s: s.get_meta("k"),
    "set_meta": lambda s: s.set_meta("k", "v2"),
    "admit_job": lambda s: s.admit_job(make_job("new", n=2, image_cost=3), REFILL, CAPS, 10),
    "set_placeholder": lambda s: s.set_placeholder("q", 77),
    "get_job": lambda s: s.get_job("r"),
    "jobs_in": lambda s: s.jobs_in([JobPhase.QUEUED, JobPhase.RUNNING]),
    "count_in": lambda s: s.count_in([JobPhase.QUEUED, JobPhase.RUNNING]),
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
    "private_members": lambda s: s.private_members(),
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
    "claim_jobs": lambda s: s.claim_jobs("w2", [JobPhase.QUEUED, JobPhase.RUNNING], 5, 30),
    "renew_leases": lambda s: s.renew_leases("w1", ["r", "d", "q"], 60),
    "release_leases": lambda s: s.release_leases("w1"),
    "expired_leases": lambda s: s.expired_leases(),
    "wait_for_jobs": lambda s: s.wait_for_jobs(0.01),
    "queue_positions": lambda s: s.queue_positions(),
    "queued_ahead": lambda s: s.queued_ahead("q"),
    "in_flight": lambda s: s.in_flight(),
    "active_jobs_of": lambda s: s.active_jobs_of(GUILD, USER),
    "admit_job_paid": lambda s: s.admit_job_paid(
        make_job("new-w", user_id=OTHER, n=2, image_cost=3), REFILL, CAPS, 10, TEAM
    ),
    "create_wallet": lambda s: s.create_wallet(
        NewWallet("a" * 32, GUILD, "Art", 8, 20, "weekly", 1), {"weekly": "w1"}
    ),
    "delete_wallet": lambda s: s.delete_wallet(GUILD, "team"),
    "grant_wallet": lambda s: s.grant_wallet(GUILD, "Team", 5, 1, "bonus", NEXT_KEYS),
    "wallets": lambda s: s.wallets(GUILD, NEXT_KEYS, [TEAM_ROLE]),
    "wallet_funds": lambda s: s.wallet_funds("w" * 32),
    "wallet_entries": lambda s: s.wallet_entries("w" * 32),
}

# Operations that make no transaction: nothing to cancel inside one.
NO_TRANSACTION = {"wait_for_jobs"}

# The same operations again on jobs a team wallet pays for.
ON_WALLET_JOBS: dict[str, Operation] = {
    "settle_delivered(wallet)": lambda s: s.settle_delivered("wd", [1, 2], 1),
    "settle_failed(wallet)": lambda s: s.settle_failed("wr", "boom", cancelled=True),
    "settle_failed(wallet, queued)": lambda s: s.settle_failed("wq", "not queued"),
}
EVERY_OPERATION = OPERATIONS | ON_WALLET_JOBS


def public_operations() -> set[str]:
    names = {n for n in dir(Store) if not n.startswith("_")}
    return names - {"close", "lease_new_jobs_to"}  # the latter a setting: it awaits nothing


def test_every_public_operation_is_exercised() -> None:
    assert set(OPERATIONS) == public_operations()


async def seed(place: Place) -> None:
    store = await place.open(clock=Clock(NOW))
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
        # Leases: "q" and "r" held by w1 (r's ran out), "d" held by w1 and live.
        await store.claim_jobs("w1", [JobPhase.QUEUED, JobPhase.RUNNING], 2, 5)
        await store.claim_jobs("w1", [JobPhase.DELIVERING], 1, 500)
        # A team wallet paying for jobs in every state: "wq" queued, "wr" running, "wd"
        # delivering, "we" done.
        await store.create_wallet(
            NewWallet("w" * 32, GUILD, "Team", TEAM_ROLE, 40, "daily", 1), KEYS
        )
        for job_id in ("wq", "wr", "wd", "we"):
            paid = await store.admit_job_paid(
                make_job(job_id, user_id=OTHER, n=2, image_cost=2), REFILL, CAPS, 10, TEAM
            )
            assert paid.wallet is not None
        for job_id in ("wr", "wd", "we"):
            assert await store.mark_submitting(job_id)
            await store.mark_running(job_id, "mock", f"p-{job_id}")
        for job_id in ("wd", "we"):
            await store.mark_delivering(job_id, [f"https://x/{job_id}"], 0.5)
        await store.settle_delivered("we", [8], 1)
    finally:
        await store.close()


@pytest.fixture
async def template(backend: Backend) -> AsyncIterator[Place]:
    place = await backend.fresh("template")
    await seed(place)
    try:
        yield place
    finally:
        await place.drop()


async def fresh(backend: Backend, template: Place) -> tuple[Place, SqlStore]:
    place = await backend.copy(template)
    return place, await place.open(clock=Clock(NOW + 10))


async def reference(backend: Backend, template: Place, name: str) -> tuple[int, dict[str, Any]]:
    place, store = await fresh(backend, template)
    probe = CancelAt(store, 0, asyncio.current_task)
    probe.install()
    try:
        await EVERY_OPERATION[name](store)
    finally:
        probe.remove()
        await store.close()
    return probe.count, await snapshot(place)


async def still_works(store: SqlStore, tag: str) -> None:
    await store.set_meta("after", tag)
    assert await store.get_meta("after") == tag
    await store.grant(GUILD, 20, 10, 1, None)
    await store.admit_job(make_job(f"after-{tag}", user_id=20, image_cost=1), REFILL, CAPS, 10)
    assert (await store.get_job(f"after-{tag}")) is not None
    assert idle(store)


@pytest.mark.parametrize("name", sorted(set(EVERY_OPERATION) - NO_TRANSACTION))
async def test_cancelled_at_every_await_leaves_all_or_nothing(
    name: str, backend: Backend, template: Place
) -> None:
    before = await snapshot(template)
    awaits, after = await reference(backend, template, name)
    assert awaits >= 1
    outcomes: set[str] = set()
    for victim_name in ("caller", "transaction"):
        for k in range(1, awaits + 1):
            place, store = await fresh(backend, template)
            try:
                caller = asyncio.create_task(EVERY_OPERATION[name](store))
                victim = always(caller) if victim_name == "caller" else asyncio.current_task
                fault = CancelAt(store, k, victim)
                fault.install()
                try:
                    await asyncio.wait([caller])
                finally:
                    fault.remove()
                assert fault.fired
                assert caller.cancelled(), f"{name} k={k} {victim_name}: {caller}"
                # Whatever the cancelled caller left running finishes on its own.
                await store.database.drain()
                state = await snapshot(place)
                assert state in (before, after), f"{name}: partial state at k={k} ({victim_name})"
                outcomes.add("done" if state == after else "undone")
                await assert_ledger_consistent(place)
                await still_works(store, f"{victim_name}{k}")
                await assert_ledger_consistent(place)
            finally:
                await store.close()
    if before != after:
        # Cancelling the caller never undoes a begun transaction; cancelling the transaction
        # itself before its COMMIT undoes it.
        assert outcomes == {"done", "undone"}, outcomes


async def test_waiting_for_jobs_cancelled_leaves_nothing_behind(store: SqlStore) -> None:
    waiter = asyncio.create_task(store.wait_for_jobs(30))
    await asyncio.sleep(0.05)
    waiter.cancel()
    await asyncio.wait([waiter])
    assert waiter.cancelled()
    assert idle(store)
    await store.set_meta("k", "v")
    assert not await store.wait_for_jobs(0.05)  # nothing admitted since


# -- a writer in another connection holds the file lock while operations are cancelled ----------


def always(task: asyncio.Task[Any]) -> Callable[[], asyncio.Task[Any]]:
    return lambda: task


def lock_file(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    return other


async def test_cancelled_while_another_connection_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    place = SQLitePlace(path)
    await seed(place)
    store = await SQLiteStore.open(path, clock=Clock(NOW), busy_timeout_s=5)
    try:
        before = await snapshot(place)
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
        assert await snapshot(place) != before
        await assert_ledger_consistent(place)
    finally:
        await store.close()


@pytest.mark.parametrize("busy_timeout_s", [5.0, 0.2])
async def test_transaction_cancelled_in_begin_while_locked(
    tmp_path: Path, busy_timeout_s: float
) -> None:
    """Issue 15's Cancel click: the job task is cancelled while BEGIN IMMEDIATE waits for a lock
    another process holds, whether the lock comes free before the busy timeout or not."""
    path = tmp_path / "locked.db"
    place = SQLitePlace(path)
    await seed(place)
    store = await SQLiteStore.open(path, clock=Clock(NOW), busy_timeout_s=busy_timeout_s)
    try:
        before = await snapshot(place)
        other = lock_file(path)
        fault = CancelAt(store, 1, asyncio.current_task)  # at BEGIN
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
        assert await snapshot(place) == before  # rolled back (or never begun): nothing written
        await still_works(store, "after-begin")
        assert await store.settle_failed("q", "cancelled", cancelled=True)
        await assert_ledger_consistent(place)
    finally:
        await store.close()


async def test_transaction_cancelled_while_a_row_lock_holds_it_postgres(
    backend: Backend, template: Place
) -> None:
    """The Cancel click on PostgreSQL: the job's transaction is cancelled while its UPDATE waits
    for a row lock another session holds. Its connection is closed (the server rolls back), none
    goes back to the pool mid-transaction, and the row is free once the other session ends."""
    if not isinstance(template, PostgresPlace):
        pytest.skip("the SQLite counterpart is test_transaction_cancelled_in_begin_while_locked")
    place, store = await fresh(backend, template)
    assert isinstance(place, PostgresPlace)
    other = await asyncpg.connect(place.url)
    try:
        before = await snapshot(place)
        await other.execute("BEGIN")
        await other.execute("SELECT * FROM jobs WHERE id = 'q' FOR UPDATE")
        op = asyncio.create_task(store.settle_failed("q", "cancelled", cancelled=True))
        await asyncio.sleep(0.5)  # settle's UPDATE now waits for the row lock
        started = time.monotonic()
        transactions = [
            t
            for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "") == "PostgresDatabase._transaction"
        ]
        assert len(transactions) == 1
        transactions[0].cancel()  # the transaction's own task, as at shutdown
        await asyncio.wait([op])
        assert op.cancelled()
        assert time.monotonic() - started < 5
        await other.execute("ROLLBACK")
        await store.database.drain()
        assert await snapshot(place) == before
        assert idle(store)
        await still_works(store, "after-lock")
        assert await store.settle_failed("q", "cancelled", cancelled=True)
        await assert_ledger_consistent(place)
    finally:
        await other.close()
        await store.close()


async def test_close_waits_for_a_transaction_whose_caller_was_cancelled(
    backend: Backend, template: Place
) -> None:
    place, store = await fresh(backend, template)
    op = asyncio.create_task(store.settle_delivered("d", [1], 2))
    fault = CancelAt(store, 2, always(op))
    fault.install()
    await asyncio.wait([op])
    assert op.cancelled()
    await store.close()
    assert await place.rows("SELECT state FROM jobs WHERE id = 'd'") == [("done",)]
    await assert_ledger_consistent(place)
