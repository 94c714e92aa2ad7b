"""The store on both engines: migrations, admission, the ledger and job transitions."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import aiosqlite
import pytest

from tests.store.backends import Place, snapshot
from tests.store.helpers import (
    GUILD,
    NO_CAPS,
    NO_REFILL,
    USER,
    Clock,
    funded,
    make_job,
    to_delivering,
)
from wanbot.errors import InsufficientCredits, QueueFull, SpendCapReached
from wanbot.store import Budget, JobPhase, JobStateError, SpendCaps, SQLiteStore
from wanbot.store.database import migrations
from wanbot.store.sql import SqlStore

# -- migrations and meta -----------------------------------------------------------------


async def test_migrations_applied_once_and_not_again_on_reopen(db: Place) -> None:
    versions = [v for v, _ in migrations(db.dialect)]
    assert versions == sorted(versions) and versions[0] == 1

    first = await db.open(clock=Clock(111.0))
    await first.set_meta("k", "v")
    await first.close()
    applied = await db.rows("SELECT version, applied_at FROM schema_migrations ORDER BY version")
    assert applied == [(v, 111.0) for v in versions]

    again = await db.open(clock=Clock(222.0))
    try:
        await again.migrate()  # a second explicit run is a no-op too
        assert await again.get_meta("k") == "v"
    finally:
        await again.close()
    assert await db.rows("SELECT version, applied_at FROM schema_migrations") == applied
    assert {"meta", "jobs", "ledger", "schema_migrations"} <= await db.tables()


async def test_meta_get_set_overwrites(store: SqlStore) -> None:
    assert await store.get_meta("missing") is None
    await store.set_meta("commands_hash", "abc")
    assert await store.get_meta("commands_hash") == "abc"
    await store.set_meta("commands_hash", "def")
    assert await store.get_meta("commands_hash") == "def"


# -- admission and refills ---------------------------------------------------------------


async def test_admit_holds_n_times_cost_and_returns_balance(store: SqlStore) -> None:
    await funded(store, 20)
    left = await store.admit_job(make_job("j1", n=4, image_cost=3), NO_REFILL, NO_CAPS, 5)
    assert left == 8
    assert await store.balance(GUILD, USER) == 8
    hold = [e for e in await store.ledger(GUILD, USER) if e.kind == "hold"]
    assert [(h.available, h.held, h.job_id) for h in hold] == [(-12, 12, "j1")]
    job = await store.get_job("j1")
    assert job is not None
    assert job.state is JobPhase.QUEUED
    assert job.request.n == 4 and job.image_cost == 3 and job.hold_amount == 12
    assert job.created_at == 1_000.0


async def test_refill_tops_up_once_per_period(store: SqlStore) -> None:
    p1 = Budget(allowance=50, period_key="2026-11-01")
    assert await store.balance(GUILD, USER, p1) == 50
    assert await store.admit_job(make_job("j1", n=4, image_cost=5), p1, NO_CAPS, 5) == 30
    assert await store.balance(GUILD, USER, p1) == 30  # same period: no second refill
    p2 = Budget(allowance=50, period_key="2026-11-02")
    assert await store.balance(GUILD, USER, p2) == 50  # tops up by 20, not 50
    refills = [e.available for e in await store.ledger(GUILD, USER) if e.kind == "refill"]
    assert sorted(refills) == [20, 50]


async def test_refill_never_cuts_granted_credits(store: SqlStore) -> None:
    assert await store.balance(GUILD, USER, Budget(50, "p1")) == 50
    assert await store.grant(GUILD, USER, 100, actor_id=7, reason="prize") == 150
    assert await store.balance(GUILD, USER, Budget(50, "p2")) == 150
    assert (
        await store.admit_job(make_job("j1", n=2, image_cost=5), Budget(50, "p3"), NO_CAPS, 5)
        == 140
    )


async def test_insufficient_credits_writes_nothing_not_even_the_refill(
    store: SqlStore, db: Place
) -> None:
    before = await snapshot(db)
    with pytest.raises(InsufficientCredits) as err:
        await store.admit_job(make_job("j1", n=4, image_cost=2), Budget(5, "p1"), NO_CAPS, 5)
    assert err.value.balance == 5 and err.value.needed == 8
    assert (err.value.balance, err.value.needed, err.value.per_image) == (5, 8, 2)
    assert await snapshot(db) == before
    assert (before["jobs"], before["ledger"]) == ([], [])
    # The refill is still due afterwards, exactly once.
    assert await store.balance(GUILD, USER, Budget(5, "p1")) == 5


async def test_queue_full_writes_nothing(store: SqlStore, db: Place) -> None:
    await funded(store, 100)
    for i in range(3):
        await store.admit_job(make_job(f"j{i}"), NO_REFILL, NO_CAPS, 3)
    before = await snapshot(db)
    with pytest.raises(QueueFull) as err:
        await store.admit_job(make_job("j9"), Budget(500, "fresh"), NO_CAPS, 3)
    assert err.value.limit == 3
    assert await snapshot(db) == before
    assert await store.get_job("j9") is None
    # An ended job frees its place in line.
    await store.settle_failed("j0", "boom")
    await store.admit_job(make_job("j9"), NO_REFILL, NO_CAPS, 3)


async def test_spend_caps_per_guild_and_total_write_nothing(store: SqlStore, db: Place) -> None:
    caps = SpendCaps(day_start=0.0, per_guild=10, total=15)
    for guild, user in ((1, 10), (1, 11), (2, 20)):
        await funded(store, 100, user_id=user, guild_id=guild)
    await store.admit_job(
        make_job("g1a", guild_id=1, user_id=10, n=4, image_cost=2), NO_REFILL, caps, 5
    )

    before = await snapshot(db)
    with pytest.raises(SpendCapReached) as err:
        job = make_job("g1b", guild_id=1, user_id=11, n=3, image_cost=1)
        await store.admit_job(job, Budget(500, "fresh"), caps, 5)
    assert err.value.scope == "guild"
    assert await snapshot(db) == before

    await store.admit_job(
        make_job("g2a", guild_id=2, user_id=20, n=1, image_cost=6), NO_REFILL, caps, 5
    )
    before = await snapshot(db)
    with pytest.raises(SpendCapReached) as err:
        await store.admit_job(
            make_job("g2b", guild_id=2, user_id=20, n=2, image_cost=1), NO_REFILL, caps, 5
        )
    assert err.value.scope == "total"
    assert err.value.scope == "total"
    assert await snapshot(db) == before

    # A release frees committed budget; exactly reaching a cap is allowed (total 6 + 9 = 15).
    await store.settle_failed("g1a", "provider down")
    await store.admit_job(
        make_job("g1c", guild_id=1, user_id=11, n=3, image_cost=3), NO_REFILL, caps, 5
    )


async def test_spend_caps_count_only_since_day_start(store: SqlStore, clock: Clock) -> None:
    await funded(store, 100)
    await store.admit_job(make_job("old", n=4, image_cost=2), NO_REFILL, NO_CAPS, 5)
    clock.now = 90_000.0
    caps = SpendCaps(day_start=86_400.0, per_guild=8, total=8)
    await store.admit_job(make_job("new", n=4, image_cost=2), NO_REFILL, caps, 5)


# -- job lifecycle and settlement ------------------------------------------------------------


async def test_lifecycle_partial_delivery_captures_delivered_and_releases_rest(
    store: SqlStore, clock: Clock
) -> None:
    await funded(store, 20)
    assert await store.admit_job(make_job("j1", n=4, image_cost=3), NO_REFILL, NO_CAPS, 5) == 8
    assert await store.mark_submitting("j1")
    assert (await store.get_job("j1")).state is JobPhase.SUBMITTING  # type: ignore[union-attr]
    clock.now = 1_010.0
    await store.mark_running("j1", "mock", "prov-1")
    job = await store.get_job("j1")
    assert job is not None
    assert (job.state, job.provider_job_id, job.submitted_at) == (
        JobPhase.RUNNING,
        "prov-1",
        1_010.0,
    )
    clock.now = 1_040.0
    await store.mark_delivering("j1", ["https://x/1.png", "https://x/2.png"], 0.12)
    job = await store.get_job("j1")
    assert job is not None
    assert job.state is JobPhase.DELIVERING
    assert job.result_urls == ("https://x/1.png", "https://x/2.png")
    assert (job.provider_cost, job.finished_at) == (0.12, 1_040.0)

    settlement = await store.settle_delivered("j1", [111, 222], delivered=3)
    assert (settlement.captured, settlement.released, settlement.balance) == (9, 3, 11)
    assert await store.balance(GUILD, USER) == 11
    job = await store.get_job("j1")
    assert job is not None
    assert job.state is JobPhase.DONE
    assert (job.images_delivered, job.message_ids) == (3, (111, 222))

    entries = {e.kind: (e.available, e.held) for e in await store.ledger(GUILD, USER, limit=50)}
    assert entries == {"grant": (20, 0), "hold": (-12, 12), "capture": (0, -9), "release": (3, -3)}


async def test_settle_failed_releases_everything(store: SqlStore) -> None:
    await funded(store, 10)
    await store.admit_job(make_job("j1", n=3, image_cost=2), NO_REFILL, NO_CAPS, 5)
    assert await store.mark_submitting("j1")
    await store.mark_running("j1", "mock", "p")
    settlement = await store.settle_failed("j1", "x" * 900)
    assert (settlement.captured, settlement.released, settlement.balance) == (0, 6, 10)
    job = await store.get_job("j1")
    assert job is not None
    assert job.state is JobPhase.FAILED
    assert job.error == "x" * 500  # truncated


@pytest.mark.parametrize("first", ["delivered", "failed", "cancelled"])
@pytest.mark.parametrize("second", ["delivered", "failed", "cancelled"])
async def test_second_settle_raises_and_writes_nothing(
    store: SqlStore, db: Place, first: str, second: str
) -> None:
    await funded(store, 10)
    await store.admit_job(make_job("j1", n=2, image_cost=2), NO_REFILL, NO_CAPS, 5)
    await to_delivering(store, "j1")

    async def settle(how: str) -> None:
        if how == "delivered":
            await store.settle_delivered("j1", [1], delivered=2)
        else:
            await store.settle_failed("j1", "err", cancelled=how == "cancelled")

    await settle(first)
    balance = await store.balance(GUILD, USER)
    before = await snapshot(db)
    with pytest.raises(JobStateError):
        await settle(second)
    assert await snapshot(db) == before
    assert await store.balance(GUILD, USER) == balance


async def test_settle_delivered_needs_a_delivering_job(store: SqlStore, db: Place) -> None:
    await funded(store, 10)
    await store.admit_job(make_job("j1"), NO_REFILL, NO_CAPS, 5)
    before = await snapshot(db)
    with pytest.raises(JobStateError):
        await store.settle_delivered("j1", [1], delivered=1)
    with pytest.raises(JobStateError):
        await store.settle_delivered("nope", [1], delivered=1)
    with pytest.raises(JobStateError):
        await store.mark_running("j1", "mock", "p")  # queued, not submitting
    with pytest.raises(JobStateError):
        await store.mark_delivering("j1", [], None)  # queued, not running
    assert await snapshot(db) == before


async def test_ledger_unique_job_kind_blocks_raw_second_capture_or_release(
    store: SqlStore, db: Place
) -> None:
    await funded(store, 10)
    await store.admit_job(make_job("j1", n=2, image_cost=2), NO_REFILL, NO_CAPS, 5)
    await to_delivering(store, "j1")
    await store.settle_delivered("j1", [1], delivered=1)
    for kind in ("hold", "capture", "release"):
        with pytest.raises(db.integrity_errors):
            await db.execute(
                "INSERT INTO ledger (guild_id, user_id, kind, available, held, job_id, created_at)"
                " VALUES (?, ?, ?, 2, -2, 'j1', 0)",
                (GUILD, USER, kind),
            )
    assert await db.rows("SELECT COUNT(*) FROM ledger WHERE job_id = 'j1'") == [(3,)]


async def test_mark_submitting_false_for_cancelled_job(store: SqlStore) -> None:
    await funded(store, 10)
    await store.admit_job(make_job("j1", n=2, image_cost=2), NO_REFILL, NO_CAPS, 5)
    settlement = await store.settle_failed("j1", "cancelled by member", cancelled=True)
    assert settlement.released == 4 and settlement.balance == 10
    assert not await store.mark_submitting("j1")
    job = await store.get_job("j1")
    assert job is not None and job.state is JobPhase.CANCELLED
    assert not await store.mark_submitting("missing")


async def test_a_refused_submission_goes_back_to_queued_with_its_hold(
    store: SqlStore,
) -> None:
    await funded(store, 10)
    await store.admit_job(make_job("j1", n=2, image_cost=2), NO_REFILL, NO_CAPS, 5)
    assert not await store.mark_requeued("j1")  # only a job being submitted goes back
    assert await store.mark_submitting("j1")
    assert await store.mark_requeued("j1")
    job = await store.get_job("j1")
    assert job is not None and job.state is JobPhase.QUEUED and job.provider_job_id is None
    assert await store.held_credits(GUILD, USER) == 4
    assert await store.mark_submitting("j1")  # its turn again
    await store.mark_running("j1", "mock", "p-1")
    assert not await store.mark_requeued("j1")  # the host took it: it never goes back
    await store.settle_failed("j1", "gone")
    assert not await store.mark_requeued("j1")
    assert not await store.mark_requeued("missing")


async def test_jobs_in_returns_by_seq(store: SqlStore) -> None:
    await funded(store, 100)
    for name in ("c", "a", "d", "b"):
        await store.admit_job(make_job(name), NO_REFILL, NO_CAPS, 10)
    assert await store.mark_submitting("a")
    await store.mark_running("a", "mock", "p")
    await store.settle_failed("d", "gone")

    found = await store.jobs_in([JobPhase.RUNNING, JobPhase.QUEUED])
    assert [j.id for j in found] == ["c", "a", "b"]
    assert [j.seq for j in found] == sorted(j.seq for j in found)
    assert [j.id for j in await store.jobs_in([JobPhase.FAILED])] == ["d"]
    assert await store.jobs_in([JobPhase.DONE]) == []
    assert await store.count_in([JobPhase.QUEUED, JobPhase.RUNNING, JobPhase.DONE]) == {
        JobPhase.QUEUED: 2,
        JobPhase.RUNNING: 1,
        JobPhase.DONE: 0,
    }


async def test_recent_durations(store: SqlStore, clock: Clock) -> None:
    await funded(store, 100)

    async def run(
        job_id: str, start: float, seconds: float, provider: str = "mock", size: str = "2K"
    ) -> None:
        await store.admit_job(make_job(job_id, size=size), NO_REFILL, NO_CAPS, 50)
        assert await store.mark_submitting(job_id)
        clock.now = start
        await store.mark_running(job_id, provider, "p")
        clock.now = start + seconds
        await store.mark_delivering(job_id, [], None)

    await run("a", 100, 12)
    await run("b", 200, 20)
    await store.settle_delivered("b", [1], 1)  # done counts as well as delivering
    await run("c", 300, 7, provider="other")
    await run("d", 400, 9, size="4K")
    await store.admit_job(make_job("e"), NO_REFILL, NO_CAPS, 50)
    assert await store.mark_submitting("e")
    clock.now = 500
    await store.mark_running("e", "mock", "p")
    clock.now = 999
    await store.settle_failed("e", "boom")  # failed jobs say nothing about duration

    assert await store.recent_durations("mock", "2K") == [20.0, 12.0]  # newest first
    assert await store.recent_durations("mock", "2K", limit=1) == [20.0]
    assert await store.recent_durations("other", "2K") == [7.0]
    assert await store.recent_durations("mock", "4K") == [9.0]
    assert await store.recent_durations("mock", "1K") == []


async def test_grant_and_revoke_never_below_zero(store: SqlStore) -> None:
    assert await store.grant(GUILD, USER, 10, actor_id=7, reason="welcome") == 10
    assert await store.grant(GUILD, USER, -4, actor_id=7, reason="oops") == 6
    assert await store.grant(GUILD, USER, -100, actor_id=8, reason="abuse") == 0
    assert await store.balance(GUILD, USER) == 0
    assert await store.grant(GUILD, USER, -5, actor_id=8, reason=None) == 0
    entries = await store.ledger(GUILD, USER)
    assert [(e.kind, e.available, e.actor_id, e.reason) for e in entries] == [
        ("revoke", 0, 8, None),
        ("revoke", -6, 8, "abuse"),
        ("revoke", -4, 7, "oops"),
        ("grant", 10, 7, "welcome"),
    ]
    assert [e.kind for e in await store.ledger(GUILD, USER, limit=2)] == ["revoke", "revoke"]
    # Another member and another guild are separate accounts.
    assert await store.balance(GUILD, USER + 1) == 0
    assert await store.grant(GUILD + 1, USER, 3, actor_id=None, reason=None) == 3
    assert await store.balance(GUILD, USER) == 0


async def test_revoke_leaves_held_credits_alone(store: SqlStore) -> None:
    await funded(store, 10)
    await store.admit_job(make_job("j1", n=3, image_cost=2), NO_REFILL, NO_CAPS, 5)
    assert await store.grant(GUILD, USER, -100, actor_id=1, reason=None) == 0
    assert (await store.settle_failed("j1", "x")).balance == 6


async def test_concurrent_admissions_admit_exactly_what_the_balance_covers(
    store: SqlStore, db: Place
) -> None:
    await funded(store, 20)
    results = await asyncio.gather(
        *(
            store.admit_job(make_job(f"j{i:02d}", n=1, image_cost=2), NO_REFILL, NO_CAPS, 100)
            for i in range(50)
        ),
        return_exceptions=True,
    )
    admitted = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, InsufficientCredits)]
    assert len(admitted) == 10 and len(refused) == 40
    assert sorted(admitted) == list(range(0, 20, 2))
    assert await store.balance(GUILD, USER) == 0
    assert await db.rows("SELECT COUNT(*) FROM jobs") == [(10,)]
    assert await db.rows("SELECT COUNT(*), SUM(held) FROM ledger WHERE kind = 'hold'") == [(10, 20)]


async def test_release_of_an_earlier_days_hold_does_not_raise_todays_cap(
    store: SqlStore, clock: Clock
) -> None:
    await funded(store, 100)
    await store.admit_job(make_job("yesterday", n=4, image_cost=2), NO_REFILL, NO_CAPS, 5)
    clock.now = 90_000.0  # the next UTC day
    await store.settle_failed("yesterday", "provider down")  # released today
    caps = SpendCaps(day_start=86_400.0, per_guild=8, total=8)
    await store.admit_job(make_job("today1", n=4, image_cost=2), NO_REFILL, caps, 5)
    with pytest.raises(SpendCapReached):
        await store.admit_job(make_job("today2", n=1, image_cost=2), NO_REFILL, caps, 5)


async def test_a_failed_open_closes_its_connection(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE meta (x)")  # clashes with migration 0001

    def workers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if isinstance(t, aiosqlite.Connection)}

    before = workers()
    with pytest.raises(sqlite3.OperationalError):
        await SQLiteStore.open(path)
    await asyncio.sleep(0.1)
    assert workers() <= before  # no worker thread left to keep the process alive
