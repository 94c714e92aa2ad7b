"""Random sequences over member and team-wallet ledgers together, against a model.

Three members: one with the Design role, one with Design and Marketing, one with neither. Each
example runs on its own SQLite file; after every operation both ledgers must agree with the model
and with themselves: balances, holds, conservation of credits, one payer per job, uniqueness.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store.backends import SQLitePlace
from tests.store.faults import assert_ledger_consistent
from wanbot.credits import choose_wallet
from wanbot.errors import InsufficientCredits, QueueFull
from wanbot.providers.models import GenerationRequest
from wanbot.store import Budget, JobStateError, NewJob, SpendCaps, SQLiteStore
from wanbot.store.base import NewWallet, WalletTerms

GUILD = 1
DESIGN, MARKETING = 70, 71
ROLES = {101: (DESIGN,), 102: (DESIGN, MARKETING), 103: ()}
USERS = tuple(ROLES)
WALLETS = {"d" * 32: DESIGN, "m" * 32: MARKETING}  # created in this order
MAX_QUEUED = 3
NO_CAPS = SpendCaps(day_start=0.0)


@dataclass(frozen=True)
class Admit:
    user: int
    n: int
    cost: int


@dataclass(frozen=True)
class Deliver:
    job: int
    delivered: int


@dataclass(frozen=True)
class Fail:
    job: int
    cancelled: bool


@dataclass(frozen=True)
class Grant:
    wallet: str
    amount: int


@dataclass(frozen=True)
class NextPeriod:
    pass


@dataclass(frozen=True)
class Delete:
    wallet: str


Op = Admit | Deliver | Fail | Grant | NextPeriod | Delete

ops = st.one_of(
    st.builds(Admit, st.sampled_from(USERS), st.integers(1, 4), st.integers(1, 3)),
    st.builds(Deliver, st.integers(0, 50), st.integers(0, 4)),
    st.builds(Fail, st.integers(0, 50), st.booleans()),
    st.builds(Grant, st.sampled_from(list(WALLETS)), st.integers(1, 15)),
    st.just(NextPeriod()),
    st.builds(Delete, st.sampled_from(list(WALLETS))),
)


@dataclass
class MJob:
    id: str
    user: int
    amount: int
    cost: int
    payer: str | None  # wallet id, or None: the member
    ended: bool = False


@dataclass
class Account:
    """One ledger's worth of model: a member's or a wallet's."""

    allowance: int
    available: int = 0
    refilled: set[int] = field(default_factory=set)
    refills: int = 0
    grants: int = 0
    captured: int = 0
    live: bool = True

    def refill_amount(self, period: int) -> int:
        if period in self.refilled or not self.live:
            return 0
        return max(0, self.allowance - self.available)

    def refill(self, period: int) -> None:
        if not self.live:
            return
        top = self.refill_amount(period)
        self.refilled.add(period)
        self.available += top
        self.refills += top


@dataclass
class Model:
    member_allowance: int
    wallet_allowances: tuple[int, int]
    period: int = 0
    members: dict[int, Account] = field(default_factory=dict)
    wallets: dict[str, Account] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    jobs: list[MJob] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.members = {u: Account(self.member_allowance) for u in USERS}

    def keys(self) -> dict[str, str | None]:
        return {"daily": f"p{self.period}"}

    def held(self, payer: str | None, user: int | None = None) -> int:
        return sum(
            j.amount
            for j in self.jobs
            if not j.ended and j.payer == payer and (user is None or j.user == user)
        )


def table(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def everything(path: Path) -> list[list[tuple[object, ...]]]:
    return [
        table(path, f"SELECT * FROM {t} ORDER BY 1") for t in ("jobs", "ledger", "wallet_ledger")
    ]


def sums(path: Path, ledger: str, where: str, params: tuple[object, ...]) -> tuple[int, ...]:
    [row] = table(
        path,
        f"SELECT COALESCE(SUM(available), 0), COALESCE(SUM(held), 0) FROM {ledger} WHERE {where}",
        params,
    )
    return tuple(int(str(v)) for v in row)


async def check(store: SQLiteStore, path: Path, model: Model) -> None:
    for user, account in model.members.items():
        available, held = sums(path, "ledger", "user_id = ?", (user,))
        assert await store.balance(GUILD, user) == available == account.available >= 0
        assert held == model.held(None, user)
        captured = -sums(path, "ledger", "user_id = ? AND kind = 'capture'", (user,))[1]
        assert captured == account.captured
        refills = sums(path, "ledger", "user_id = ? AND kind = 'refill'", (user,))[0]
        assert refills == account.refills
        assert available + held + captured == account.refills + account.grants
    for wallet_id, account in model.wallets.items():
        available, held = sums(path, "wallet_ledger", "wallet_id = ?", (wallet_id,))
        funds = await store.wallet_funds(wallet_id)
        assert funds is not None and funds.balance == available == account.available >= 0
        assert funds.held == held == model.held(wallet_id)
        assert (funds.wallet.deleted_at is None) == account.live
        captured = -sums(path, "wallet_ledger", "wallet_id = ? AND kind = 'capture'", (wallet_id,))[
            1
        ]
        assert captured == account.captured
        assert available + held + captured == account.refills + account.grants
    payers = {row[0]: row[1] for row in table(path, "SELECT id, wallet_id FROM jobs")}
    assert payers == {j.id: j.payer for j in model.jobs}
    await assert_ledger_consistent(SQLitePlace(path))


async def advance(store: SQLiteStore, job_id: str) -> None:
    assert await store.mark_submitting(job_id)
    await store.mark_running(job_id, "mock", f"p-{job_id}")
    await store.mark_delivering(job_id, [f"https://x/{job_id}"], None)


def expected_payer(model: Model, user: int, amount: int) -> str | None:
    """The model's choice: of the member's live wallets (after refills) that cover it all, the
    one with the most left; on a tie, the one created first."""
    best: tuple[int, int, str] | None = None
    for order, wallet_id in enumerate(model.created):
        account = model.wallets[wallet_id]
        if not account.live or WALLETS[wallet_id] not in ROLES[user]:
            continue
        left = account.available + account.refill_amount(model.period)
        if left >= amount and (best is None or (-left, order) < best[:2]):
            best = (-left, order, wallet_id)
    return None if best is None else best[2]


async def admit(store: SQLiteStore, path: Path, model: Model, op: Admit) -> None:
    amount = op.n * op.cost
    job = MJob(f"j{len(model.jobs)}", op.user, amount, op.cost, None)
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
    member = model.members[op.user]
    budget = Budget(member.allowance, f"p{model.period}")
    terms = WalletTerms(ROLES[op.user], model.keys(), choose_wallet)
    full = sum(1 for j in model.jobs if j.user == op.user and not j.ended) >= MAX_QUEUED
    payer = None if full else expected_payer(model, op.user, amount)
    short = payer is None and member.available + member.refill_amount(model.period) < amount
    if full or short:
        before = everything(path)
        try:
            await store.admit_job_paid(new, budget, NO_CAPS, MAX_QUEUED, terms)
        except (QueueFull, InsufficientCredits) as e:
            assert isinstance(e, QueueFull) == full
        else:
            raise AssertionError(f"{op} should have been refused")
        assert everything(path) == before  # not even the refills due
        return
    paid = await store.admit_job_paid(new, budget, NO_CAPS, MAX_QUEUED, terms)
    # Every wallet of the member was refilled in the admission, whoever paid.
    for wallet_id in model.created:
        if WALLETS[wallet_id] in ROLES[op.user]:
            model.wallets[wallet_id].refill(model.period)
    if payer is None:
        member.refill(model.period)
    account = member if payer is None else model.wallets[payer]
    account.available -= amount
    job.payer = payer
    model.jobs.append(job)
    assert (paid.wallet.id if paid.wallet else None) == payer
    assert paid.balance == account.available


async def settle(store: SQLiteStore, path: Path, model: Model, op: Deliver | Fail) -> None:
    if not model.jobs:
        return
    job = model.jobs[op.job % len(model.jobs)]
    if job.ended:
        before = everything(path)
        try:
            if isinstance(op, Deliver):
                await store.settle_delivered(job.id, [1], op.delivered)
            else:
                await store.settle_failed(job.id, "again", cancelled=op.cancelled)
        except JobStateError:
            pass
        else:
            raise AssertionError(f"settled {job.id} twice")
        assert everything(path) == before
        return
    if isinstance(op, Deliver):
        await advance(store, job.id)
        delivered = min(op.delivered, job.amount // job.cost)
        result = await store.settle_delivered(job.id, [1], delivered)
        captured = delivered * job.cost
    else:
        result = await store.settle_failed(job.id, "boom", cancelled=op.cancelled)
        captured = 0
    job.ended = True
    account = model.members[job.user] if job.payer is None else model.wallets[job.payer]
    account.available += job.amount - captured
    account.captured += captured
    assert (result.captured, result.released, result.balance, result.wallet_id) == (
        captured,
        job.amount - captured,
        account.available,
        job.payer,
    )


async def step(store: SQLiteStore, path: Path, model: Model, op: Op) -> None:
    if isinstance(op, Admit):
        await admit(store, path, model, op)
    elif isinstance(op, Deliver | Fail):
        await settle(store, path, model, op)
    elif isinstance(op, Grant):
        account = model.wallets[op.wallet]
        name = "Design" if WALLETS[op.wallet] == DESIGN else "Marketing"
        granted = await store.grant_wallet(GUILD, name, op.amount, 1, None, model.keys())
        if not account.live:
            assert granted is None
            return
        account.refill(model.period)
        account.available += op.amount
        account.grants += op.amount
        assert granted is not None and granted[0].balance == account.available
    elif isinstance(op, NextPeriod):
        model.period += 1
        listed = await store.wallets(GUILD, model.keys())
        for wallet_id in model.created:
            model.wallets[wallet_id].refill(model.period)
        assert {f.wallet.id: f.balance for f in listed} == {
            w: a.available for w, a in model.wallets.items() if a.live
        }
    else:
        name = "Design" if WALLETS[op.wallet] == DESIGN else "Marketing"
        gone = await store.delete_wallet(GUILD, name)
        assert (gone is not None) == model.wallets[op.wallet].live
        model.wallets[op.wallet].live = False


async def run(path: Path, model: Model, operations: list[Op]) -> None:
    store = await SQLiteStore.open(path)
    try:
        for (wallet_id, role), allowance in zip(
            WALLETS.items(), model.wallet_allowances, strict=True
        ):
            name = "Design" if role == DESIGN else "Marketing"
            new = NewWallet(wallet_id, GUILD, name, role, allowance, "daily", 1)
            made = await store.create_wallet(new, model.keys())
            account = model.wallets[wallet_id] = Account(allowance)
            model.created.append(wallet_id)
            account.refill(model.period)
            assert made.balance == account.available
        for op in operations:
            await step(store, path, model, op)
            await check(store, path, model)
    finally:
        await store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    member_allowance=st.integers(0, 12),
    wallet_allowances=st.tuples(st.integers(0, 12), st.integers(0, 12)),
    operations=st.lists(ops, max_size=25),
)
def test_wallet_and_member_ledgers_match_the_model_and_conserve_credits(
    member_allowance: int, wallet_allowances: tuple[int, int], operations: list[Op]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = Model(member_allowance, wallet_allowances)
        asyncio.run(run(Path(tmp) / "ledger.db", model, operations))
