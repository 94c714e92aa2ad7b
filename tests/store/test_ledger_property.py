"""Random sequences of ledger operations against a real database, checked against a model.

Each example runs in its own event loop and its own fresh database (an SQLite file, or a
PostgreSQL schema); after every operation the ledger must agree with the model and with itself
(balances, holds, conservation, uniqueness). PostgreSQL examples are fewer: each costs a schema.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store.backends import Backend, Place
from wanbot.errors import InsufficientCredits, QueueFull
from wanbot.providers.models import GenerationRequest
from wanbot.store import Budget, JobPhase, JobStateError, NewJob, SpendCaps
from wanbot.store.sql import SqlStore

GUILD = 1
USERS = (101, 102, 103)
MAX_QUEUED = 3
NO_CAPS = SpendCaps(day_start=0.0)


@dataclass(frozen=True)
class Admit:
    user: int
    n: int
    cost: int


@dataclass(frozen=True)
class Deliver:
    job: int  # index into the jobs admitted so far (modulo)
    delivered: int


@dataclass(frozen=True)
class Fail:
    job: int
    advance: int  # 0 queued, 1 submitting, 2 running, 3 delivering before the failure
    cancelled: bool


@dataclass(frozen=True)
class Grant:
    user: int
    amount: int  # negative: a revoke


@dataclass(frozen=True)
class Refill:
    user: int


Op = Admit | Deliver | Fail | Grant | Refill

users = st.sampled_from(USERS)
ops = st.one_of(
    st.builds(Admit, users, st.integers(1, 4), st.integers(1, 3)),
    st.builds(Deliver, st.integers(0, 50), st.integers(0, 4)),
    st.builds(Fail, st.integers(0, 50), st.integers(0, 3), st.booleans()),
    st.builds(Grant, users, st.integers(-15, 15).filter(bool)),
    st.builds(Refill, users),
)


@dataclass
class MJob:
    id: str
    user: int
    n: int
    cost: int
    ended: bool = False


@dataclass
class Model:
    allowance: int
    period: int = 0
    available: dict[int, int] = field(default_factory=lambda: dict.fromkeys(USERS, 0))
    refilled: set[tuple[int, int]] = field(default_factory=set)
    jobs: list[MJob] = field(default_factory=list)
    refills: dict[int, int] = field(default_factory=lambda: dict.fromkeys(USERS, 0))
    grants: dict[int, int] = field(default_factory=lambda: dict.fromkeys(USERS, 0))
    revokes: dict[int, int] = field(default_factory=lambda: dict.fromkeys(USERS, 0))

    @property
    def budget(self) -> Budget:
        return Budget(self.allowance, f"p{self.period}")

    def refill_amount(self, user: int) -> int:
        if (user, self.period) in self.refilled:
            return 0
        return max(0, self.allowance - self.available[user])

    def apply_refill(self, user: int) -> None:
        top = self.refill_amount(user)
        self.refilled.add((user, self.period))
        self.available[user] += top
        self.refills[user] += top

    def active(self, user: int) -> int:
        return sum(1 for j in self.jobs if j.user == user and not j.ended)


async def everything(place: Place) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    return await place.rows("SELECT * FROM jobs ORDER BY id"), await place.rows(
        "SELECT * FROM ledger ORDER BY id"
    )


async def sums(place: Place, where: str) -> dict[int, tuple[int, int]]:
    found = await place.rows(
        f"SELECT user_id, COALESCE(SUM(available), 0), COALESCE(SUM(held), 0) FROM ledger "
        f"WHERE {where} GROUP BY user_id",
    )
    result = dict.fromkeys(USERS, (0, 0))
    result.update({int(u): (int(a), int(h)) for u, a, h in found})
    return result


async def check(store: SqlStore, place: Place, model: Model) -> None:
    total = await sums(place, "1 = 1")
    refills = await sums(place, "kind = 'refill'")
    grants = await sums(place, "kind = 'grant'")
    revokes = await sums(place, "kind = 'revoke'")
    captures = await sums(place, "kind = 'capture'")
    for user in USERS:
        available, held = total[user]
        assert await store.balance(GUILD, user) == available == model.available[user] >= 0
        captured = -captures[user][1]
        assert (refills[user][0], grants[user][0], -revokes[user][0]) == (
            model.refills[user],
            model.grants[user],
            model.revokes[user],
        )
        assert available + held + captured == refills[user][0] + grants[user][0] + revokes[user][0]
        assert held == sum(j.n * j.cost for j in model.jobs if j.user == user and not j.ended)

    per_job = {
        str(job_id): int(held)
        for job_id, held in await place.rows(
            "SELECT job_id, SUM(held) FROM ledger WHERE job_id IS NOT NULL GROUP BY job_id"
        )
    }
    assert set(per_job) == {j.id for j in model.jobs}
    for job in model.jobs:
        assert per_job[job.id] == (0 if job.ended else job.n * job.cost)
        stored = await store.get_job(job.id)
        assert stored is not None and stored.state.terminal == job.ended
    assert (
        await place.rows(
            "SELECT job_id, kind FROM ledger WHERE job_id IS NOT NULL "
            "GROUP BY job_id, kind HAVING COUNT(*) > 1",
        )
        == []
    )


async def advance(store: SqlStore, job_id: str, steps: int) -> None:
    if steps >= 1:
        assert await store.mark_submitting(job_id)
    if steps >= 2:
        await store.mark_running(job_id, "mock", f"p-{job_id}")
    if steps >= 3:
        await store.mark_delivering(job_id, [f"https://x/{job_id}"], None)


async def step(store: SqlStore, place: Place, model: Model, op: Op) -> None:
    if isinstance(op, Admit):
        job = MJob(f"j{len(model.jobs)}", op.user, op.n, op.cost)
        new = NewJob(
            id=job.id,
            kind="imagine",
            guild_id=GUILD,
            channel_id=5,
            user_id=op.user,
            application_id=9,
            interaction_token="t",
            token_expires_at=1e9,
            request=GenerationRequest(prompt="p", n=op.n, seed=1),
            provider="mock",
            image_cost=op.cost,
            deadline_at=1e9,
        )
        need = op.n * op.cost
        full = model.active(op.user) >= MAX_QUEUED
        short = model.available[op.user] + model.refill_amount(op.user) < need
        if full or short:
            before = await everything(place)
            try:
                await store.admit_job(new, model.budget, NO_CAPS, MAX_QUEUED)
            except (QueueFull, InsufficientCredits) as e:
                assert isinstance(e, QueueFull) == full
            else:
                raise AssertionError(f"{op} should have been refused")
            assert await everything(place) == before
            return
        left = await store.admit_job(new, model.budget, NO_CAPS, MAX_QUEUED)
        model.apply_refill(op.user)
        model.available[op.user] -= need
        model.jobs.append(job)
        assert left == model.available[op.user]
    elif isinstance(op, Deliver | Fail):
        if not model.jobs:
            return
        job = model.jobs[op.job % len(model.jobs)]
        if job.ended:
            before = await everything(place)
            try:
                if isinstance(op, Deliver):
                    await store.settle_delivered(job.id, [1], op.delivered)
                else:
                    await store.settle_failed(job.id, "again", cancelled=op.cancelled)
            except JobStateError:
                pass
            else:
                raise AssertionError(f"settled {job.id} twice")
            assert await everything(place) == before
            return
        if isinstance(op, Deliver):
            await advance(store, job.id, 3)
            delivered = min(op.delivered, job.n)
            result = await store.settle_delivered(job.id, [1, 2], delivered)
            captured = delivered * job.cost
        else:
            await advance(store, job.id, op.advance)
            result = await store.settle_failed(job.id, "boom", cancelled=op.cancelled)
            captured = 0
        job.ended = True
        model.available[job.user] += job.n * job.cost - captured
        assert (result.captured, result.released, result.balance) == (
            captured,
            job.n * job.cost - captured,
            model.available[job.user],
        )
        stored = await store.get_job(job.id)
        assert stored is not None
        expected = (
            JobPhase.DONE
            if isinstance(op, Deliver)
            else JobPhase.CANCELLED
            if op.cancelled
            else JobPhase.FAILED
        )
        assert stored.state is expected
    elif isinstance(op, Grant):
        effective = op.amount if op.amount > 0 else -min(-op.amount, model.available[op.user])
        assert await store.grant(GUILD, op.user, op.amount, 1, None) == (
            model.available[op.user] + effective
        )
        model.available[op.user] += effective
        if op.amount > 0:
            model.grants[op.user] += effective
        else:
            model.revokes[op.user] -= effective
    else:
        model.period += 1
        model.apply_refill(op.user)
        assert await store.balance(GUILD, op.user, model.budget) == model.available[op.user]


async def run(backend: Backend, allowance: int, operations: list[Op]) -> None:
    place = await backend.fresh("ledger")
    try:
        store = await place.open()
        try:
            model = Model(allowance)
            for op in operations:
                await step(store, place, model, op)
                await check(store, place, model)
        finally:
            await store.close()
    finally:
        await place.drop()


EXAMPLES = {"sqlite": 60, "postgres": 30}


def test_ledger_matches_model_and_conserves_credits(backend: Backend) -> None:
    @settings(
        max_examples=EXAMPLES[backend.name],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(allowance=st.integers(0, 12), operations=st.lists(ops, max_size=25))
    def example(allowance: int, operations: list[Op]) -> None:
        asyncio.run(run(backend, allowance, operations))

    example()
