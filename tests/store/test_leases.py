"""Leases on jobs, waking on new work, and the queue as the database sees it: on both engines."""

from __future__ import annotations

import asyncio

import pytest

from tests.store.backends import Place
from tests.store.helpers import NO_CAPS, NO_REFILL, Clock, funded, make_job
from wanbot.errors import InsufficientCredits
from wanbot.store import Budget, InFlight, JobPhase
from wanbot.store.sql import SqlStore

QUEUED = [JobPhase.QUEUED]
ACTIVE = [JobPhase.QUEUED, JobPhase.SUBMITTING, JobPhase.RUNNING, JobPhase.DELIVERING]


async def admit(store: SqlStore, *job_ids: str, user_id: int = 10) -> None:
    await funded(store, 10 * len(job_ids), user_id=user_id)
    for job_id in job_ids:
        await store.admit_job(make_job(job_id, user_id=user_id), NO_REFILL, NO_CAPS, 50)


async def test_claims_take_the_oldest_unleased_jobs_once(store: SqlStore, clock: Clock) -> None:
    await admit(store, "a", "b", "c", "d", "e")
    first = await store.claim_jobs("w1", QUEUED, 2, lease_s=30)
    assert [j.id for j in first] == ["a", "b"]
    assert {(j.worker_id, j.lease_until) for j in first} == {("w1", clock.now + 30)}
    second = await store.claim_jobs("w2", QUEUED, 10, lease_s=30)
    assert [j.id for j in second] == ["c", "d", "e"]
    assert await store.claim_jobs("w3", QUEUED, 10, lease_s=30) == []
    assert await store.claim_jobs("w3", QUEUED, 0, lease_s=30) == []
    stored = await store.get_job("a")
    assert stored is not None and (stored.worker_id, stored.state) == ("w1", JobPhase.QUEUED)


async def test_claims_only_the_phases_asked_and_never_ended_jobs(store: SqlStore) -> None:
    await admit(store, "q", "r", "f")
    assert await store.mark_submitting("r")
    await store.mark_running("r", "mock", "p-r")
    await store.settle_failed("f", "host down")
    running = await store.claim_jobs("w1", [JobPhase.RUNNING], 10, lease_s=30)
    assert [j.id for j in running] == ["r"]
    everything = await store.claim_jobs("w2", [*ACTIVE, JobPhase.FAILED], 10, lease_s=30)
    assert [j.id for j in everything] == ["q"]


async def test_an_expired_lease_is_taken_over_and_the_old_holder_learns_it(
    store: SqlStore, clock: Clock
) -> None:
    await admit(store, "a", "b")
    await store.claim_jobs("w1", QUEUED, 2, lease_s=10)
    assert await store.expired_leases() == []
    clock.now += 5
    assert await store.renew_leases("w1", ["b"], lease_s=10) == {"b"}  # b now until +15
    clock.now += 6  # a's lease ran out at +10
    assert [j.id for j in await store.expired_leases()] == ["a"]
    taken = await store.claim_jobs("w2", QUEUED, 10, lease_s=10)
    assert [(j.id, j.worker_id) for j in taken] == [("a", "w2")]
    assert await store.expired_leases() == []
    # w1 keeps b, and finds a gone when it renews.
    assert await store.renew_leases("w1", ["a", "b"], lease_s=10) == {"b"}
    assert await store.renew_leases("w1", [], lease_s=10) == set()


async def test_renewal_stops_at_the_end_of_a_job(store: SqlStore, clock: Clock) -> None:
    await admit(store, "a", "b")
    await store.claim_jobs("w1", QUEUED, 2, lease_s=10)
    await store.settle_failed("a", "cancelled", cancelled=True)
    assert await store.renew_leases("w1", ["a", "b"], lease_s=60) == {"b"}
    b = await store.get_job("b")
    assert b is not None and b.lease_until == clock.now + 60
    clock.now += 100
    assert [j.id for j in await store.expired_leases()] == ["b"]  # ended jobs never expire


async def test_released_leases_are_claimable_at_once(store: SqlStore) -> None:
    await admit(store, "a", "b", "c")
    await store.claim_jobs("w1", QUEUED, 3, lease_s=300)
    await store.settle_failed("c", "host down")
    assert await store.release_leases("w2") == 0  # holds nothing
    assert await store.release_leases("w1", ["a"]) == 1
    assert await store.release_leases("w1", []) == 0
    assert [j.id for j in await store.claim_jobs("w2", QUEUED, 10, lease_s=300)] == ["a"]
    assert await store.release_leases("w1") == 1  # b; the ended c is left as it was
    assert [j.id for j in await store.claim_jobs("w2", QUEUED, 10, lease_s=300)] == ["b"]
    c = await store.get_job("c")
    assert c is not None and c.worker_id == "w1"


async def test_wait_for_jobs_wakes_on_admission_and_release_not_on_a_refusal(
    store: SqlStore, db: Place
) -> None:
    # PostgreSQL: another pool, as another process would have. SQLite: one process per file.
    other = await db.open() if db.dialect == "postgresql" else store
    try:
        await asyncio.wait_for(_drain_wakes(other), 5)
        assert not await other.wait_for_jobs(0.05)

        waiter = asyncio.create_task(other.wait_for_jobs(10))
        await asyncio.sleep(0.1)
        with pytest.raises(InsufficientCredits):
            await store.admit_job(make_job("poor", n=2), Budget(1, "p"), NO_CAPS, 5)
        await asyncio.sleep(0.2)
        assert not waiter.done()  # a refused admission wrote nothing and notified nobody
        await admit(store, "a")
        assert await asyncio.wait_for(waiter, 5)

        await store.claim_jobs("w1", QUEUED, 1, lease_s=300)
        await _drain_wakes(other)
        waiter = asyncio.create_task(other.wait_for_jobs(10))
        await asyncio.sleep(0.1)
        assert await store.release_leases("w1") == 1
        assert await asyncio.wait_for(waiter, 5)
    finally:
        if other is not store:
            await other.close()


async def _drain_wakes(store: SqlStore) -> None:
    """Swallow any wake-up already pending (a spare one is allowed)."""
    while await store.wait_for_jobs(0.05):
        pass


async def test_queue_positions_take_turns_across_members(store: SqlStore, clock: Clock) -> None:
    await admit(store, "a1", "a2", "a3", user_id=1)
    await admit(store, "b1", user_id=2)
    await admit(store, "c1", "c2", user_id=3)
    assert await store.queue_positions() == {
        "a1": 1,
        "b1": 2,
        "c1": 3,
        "a2": 4,
        "c2": 5,
        "a3": 6,
    }
    assert await store.queued_ahead("c2") == 4
    assert await store.queued_ahead("a1") == 0
    clock.now += 10
    assert await store.mark_submitting("a1")  # a was served: to the back of the line
    assert await store.queued_ahead("a1") is None
    assert await store.queued_ahead("nope") is None
    assert await store.queue_positions() == {"b1": 1, "c1": 2, "a2": 3, "c2": 4, "a3": 5}
    clock.now += 10
    await admit(store, "d1", user_id=4)  # joins the back of the line
    assert await store.mark_submitting("b1")
    assert await store.queue_positions() == {"c1": 1, "a2": 2, "d1": 3, "c2": 4, "a3": 5}


async def test_in_flight_counts_by_provider_and_member(store: SqlStore) -> None:
    assert await store.in_flight() == InFlight(total=0, by_provider={}, by_member={})
    await funded(store, 50, user_id=1)
    await funded(store, 50, user_id=2)
    for job_id, user, provider in (("x", 1, "mock"), ("y", 1, "dashscope"), ("z", 2, "mock")):
        job = make_job(job_id, user_id=user, provider=provider)
        await store.admit_job(job, NO_REFILL, NO_CAPS, 10)
    await store.admit_job(make_job("queued", user_id=2), NO_REFILL, NO_CAPS, 10)
    for job_id in ("x", "y", "z"):
        assert await store.mark_submitting(job_id)
    await store.mark_running("y", "dashscope", "p-y")
    assert await store.in_flight() == InFlight(
        total=3, by_provider={"mock": 2, "dashscope": 1}, by_member={(1, 1): 2, (1, 2): 1}
    )
    await store.settle_failed("x", "host down")
    assert (await store.in_flight()).by_member == {(1, 1): 1, (1, 2): 1}


async def test_jobs_admitted_after_lease_new_jobs_to_are_born_leased(
    store: SqlStore, clock: Clock
) -> None:
    await admit(store, "before")
    store.lease_new_jobs_to("w1", 10)
    await admit(store, "mine")
    store.lease_new_jobs_to(None)
    await admit(store, "after")
    mine = await store.get_job("mine")
    assert mine is not None and (mine.worker_id, mine.lease_until) == ("w1", clock.now + 10)
    # Another process claims only what no live lease holds.
    taken = await store.claim_jobs("w2", QUEUED, 10, lease_s=100)
    assert [j.id for j in taken] == ["before", "after"]
    clock.now += 11
    assert [j.id for j in await store.claim_jobs("w2", QUEUED, 10, lease_s=10)] == ["mine"]
