"""Team wallets on both engines: who pays, refills, refunds, caps, restarts, the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from tests.store.backends import Place
from tests.store.faults import assert_ledger_consistent
from tests.store.helpers import Clock, make_job, to_delivering
from wanbot.credits import choose_wallet
from wanbot.errors import InsufficientCredits, Refusal, RefusalReason, SpendCapReached
from wanbot.store import Budget, JobPhase, JobStateError, SpendCaps
from wanbot.store.base import NewWallet, Paid, WalletTerms
from wanbot.store.sql import SqlStore

GUILD = 1
DESIGN = 70  # role ids
MARKETING = 71
ALICE, BOB, CAROL = 10, 11, 12
NO_CAPS = SpendCaps(day_start=0.0)
MEMBER = Budget(allowance=50, period_key="day-1")
DAY1: Mapping[str, str | None] = {"daily": "day-1", "never": "initial"}
DAY2: Mapping[str, str | None] = {"daily": "day-2", "never": "initial"}


def terms(*roles: int, keys: Mapping[str, str | None] = DAY1) -> WalletTerms:
    return WalletTerms(tuple(roles), keys, choose_wallet)


def wallet(
    name: str, role: int, allowance: int, period: str = "daily", wallet_id: str = ""
) -> NewWallet:
    return NewWallet(wallet_id or name.lower()[:1] * 32, GUILD, name, role, allowance, period, 1)


async def admit(
    store: SqlStore, job_id: str, user: int, *roles: int, n: int = 2, cost: int = 2
) -> Paid:
    job = make_job(job_id, user_id=user, n=n, image_cost=cost)
    return await store.admit_job_paid(job, MEMBER, NO_CAPS, 10, terms(*roles))


async def wallet_sums(db: Place, wallet_id: str) -> tuple[int, int]:
    [(available, held)] = await db.rows(
        "SELECT COALESCE(SUM(available), 0), COALESCE(SUM(held), 0) FROM wallet_ledger"
        " WHERE wallet_id = ?",
        (wallet_id,),
    )
    return int(str(available)), int(str(held))


async def test_a_new_wallet_is_filled_and_listed_by_role(store: SqlStore) -> None:
    made = await store.create_wallet(wallet("Design team", DESIGN, 30), DAY1)
    assert (made.wallet.name, made.balance, made.held) == ("Design team", 30, 0)
    await store.create_wallet(wallet("Marketing", MARKETING, 10, "never"), DAY1)
    listed = await store.wallets(GUILD, DAY1)
    assert [(f.wallet.name, f.balance) for f in listed] == [("Design team", 30), ("Marketing", 10)]
    mine = await store.wallets(GUILD, DAY1, [DESIGN, 999])
    assert [f.wallet.name for f in mine] == ["Design team"]
    assert await store.wallets(GUILD, DAY1, []) == []
    [entry] = await store.wallet_entries(made.wallet.id)
    assert (entry.kind, entry.available, entry.held) == ("refill", 30, 0)


async def test_names_are_unique_in_any_case_until_deleted(store: SqlStore) -> None:
    await store.create_wallet(wallet("Design team", DESIGN, 30, wallet_id="1" * 32), DAY1)
    with pytest.raises(Refusal) as refused:
        await store.create_wallet(wallet("design  TEAM", MARKETING, 5, wallet_id="2" * 32), DAY1)
    assert refused.value.reason is RefusalReason.WALLET_ADMIN
    assert refused.value.details["problem"] == "name_taken"
    gone = await store.delete_wallet(GUILD, "DESIGN TEAM")
    assert gone is not None and gone.wallet.deleted_at is not None and gone.balance == 30
    assert await store.delete_wallet(GUILD, "design team") is None
    again = await store.create_wallet(wallet("Design team", DESIGN, 8, wallet_id="3" * 32), DAY1)
    assert again.balance == 8
    # The deleted one keeps its ledger, and pays for nothing new.
    assert len(await store.wallet_entries("1" * 32)) == 1
    assert [f.wallet.id for f in await store.wallets(GUILD, DAY1)] == ["3" * 32]


async def test_a_member_with_the_role_spends_from_the_wallet_first(
    store: SqlStore, db: Place
) -> None:
    made = await store.create_wallet(wallet("Design team", DESIGN, 10), DAY1)
    paid = await admit(store, "j1", ALICE, DESIGN)
    assert paid.wallet is not None and paid.wallet.id == made.wallet.id and paid.balance == 6
    job = await store.get_job("j1")
    assert job is not None and job.wallet_id == made.wallet.id
    # The member's own ledger is untouched: not even a refill.
    assert await db.rows("SELECT COUNT(*) FROM ledger") == [(0,)]
    assert await wallet_sums(db, made.wallet.id) == (6, 4)
    # Without the role, the member pays.
    mine = await admit(store, "j2", BOB)
    assert mine == Paid(balance=46, wallet=None)
    assert await store.balance(GUILD, BOB) == 46
    await assert_ledger_consistent(db)


async def test_the_member_pays_when_the_wallet_cannot_cover_the_whole_job(
    store: SqlStore, db: Place
) -> None:
    made = await store.create_wallet(wallet("Design team", DESIGN, 5), DAY1)
    first = await admit(store, "j1", ALICE, DESIGN)  # 4 of 5
    assert first.wallet is not None and first.balance == 1
    second = await admit(store, "j2", ALICE, DESIGN)  # 4 more: the wallet has 1
    assert second == Paid(balance=46, wallet=None)
    assert await wallet_sums(db, made.wallet.id) == (1, 4)
    assert await store.balance(GUILD, ALICE) == 46
    await assert_ledger_consistent(db)


async def test_of_two_wallets_the_one_with_more_left_pays(store: SqlStore) -> None:
    design = (await store.create_wallet(wallet("Design", DESIGN, 10), DAY1)).wallet
    marketing = (await store.create_wallet(wallet("Marketing", MARKETING, 12), DAY1)).wallet
    payers = []
    for i in range(5):
        paid = await admit(store, f"j{i}", ALICE, DESIGN, MARKETING)
        assert paid.wallet is not None
        payers.append((paid.wallet.name, paid.balance))
    # 12 vs 10 → Marketing (8); 8 vs 10 → Design (6); 8 vs 6 → Marketing (4); 4 vs 6 → Design (2)
    assert payers[:4] == [("Marketing", 8), ("Design", 6), ("Marketing", 4), ("Design", 2)]
    assert payers[4] == ("Marketing", 0)
    design_now, marketing_now = (
        await store.wallet_funds(design.id),
        await store.wallet_funds(marketing.id),
    )
    assert design_now is not None and (design_now.balance, design_now.held) == (2, 8)
    assert marketing_now is not None and (marketing_now.balance, marketing_now.held) == (0, 12)
    funds = {f.wallet.name: (f.balance, f.held) for f in await store.wallets(GUILD, DAY1)}
    assert funds == {"Design": (2, 8), "Marketing": (0, 12)}


async def test_nobody_able_to_pay_is_refused_naming_the_wallet_and_writes_nothing(
    store: SqlStore, db: Place
) -> None:
    await store.create_wallet(wallet("Design team", DESIGN, 3, "never"), DAY1)
    await store.grant(GUILD, ALICE, 0, 1, None)
    before = (await db.rows("SELECT * FROM ledger"), await db.rows("SELECT * FROM wallet_ledger"))
    broke = Budget(allowance=0, period_key="day-1")
    job = make_job("j1", user_id=ALICE, n=2, image_cost=2)
    with pytest.raises(InsufficientCredits) as refused:
        await store.admit_job_paid(job, broke, NO_CAPS, 10, terms(DESIGN))
    details = refused.value.details
    assert (details["balance"], details["needed"]) == (0, 4)
    assert (details["wallet"], details["wallet_balance"]) == ("Design team", 3)
    after = (await db.rows("SELECT * FROM ledger"), await db.rows("SELECT * FROM wallet_ledger"))
    assert after == before
    assert await db.rows("SELECT COUNT(*) FROM jobs") == [(0,)]


async def test_a_deleted_wallet_pays_for_nothing_new_but_settles_what_it_held(
    store: SqlStore, db: Place
) -> None:
    made = await store.create_wallet(wallet("Design team", DESIGN, 10), DAY1)
    assert (await admit(store, "j1", ALICE, DESIGN)).wallet is not None
    await store.delete_wallet(GUILD, "Design team")
    assert (await admit(store, "j2", ALICE, DESIGN)).wallet is None
    settled = await store.settle_failed("j1", "host down")
    assert (settled.released, settled.balance, settled.wallet_id) == (4, 10, made.wallet.id)
    assert await wallet_sums(db, made.wallet.id) == (10, 0)
    await assert_ledger_consistent(db)


async def test_three_members_at_once_hold_exactly_what_the_wallet_has(
    store: SqlStore, db: Place
) -> None:
    made = await store.create_wallet(wallet("Design team", DESIGN, 20), DAY1)
    members = (ALICE, BOB, CAROL)
    results = await asyncio.gather(
        *(admit(store, f"j{i:02d}", members[i % 3], DESIGN, cost=1) for i in range(30))
    )
    by_wallet = [r for r in results if r.wallet is not None]
    # 2 credits a job: the wallet pays for ten, the members' own allowances for the rest.
    assert len(by_wallet) == 10
    assert sorted(r.balance for r in by_wallet) == list(range(0, 20, 2))
    assert await wallet_sums(db, made.wallet.id) == (0, 20)
    balances = [await store.balance(GUILD, m) for m in members]
    assert sum(50 - b for b in balances) == 2 * 20
    await assert_ledger_consistent(db)


async def test_delivery_captures_from_the_wallet_and_failure_refunds_it(
    store: SqlStore, db: Place
) -> None:
    made = await store.create_wallet(wallet("Design team", DESIGN, 20), DAY1)
    await admit(store, "done", ALICE, DESIGN)
    await admit(store, "part", BOB, DESIGN)
    await admit(store, "fail", CAROL, DESIGN)
    assert await wallet_sums(db, made.wallet.id) == (8, 12)
    for job_id in ("done", "part"):
        await to_delivering(store, job_id)
    full = await store.settle_delivered("done", [1], 2)
    assert (full.captured, full.released, full.balance, full.wallet_id) == (
        4,
        0,
        8,
        made.wallet.id,
    )
    partial = await store.settle_delivered("part", [2], 1)
    assert (partial.captured, partial.released, partial.balance) == (2, 2, 10)
    failed = await store.settle_failed("fail", "content rejected")
    assert (failed.captured, failed.released, failed.balance) == (0, 4, 14)
    with pytest.raises(JobStateError):
        await store.settle_failed("fail", "again")
    assert await wallet_sums(db, made.wallet.id) == (14, 0)
    kinds = await db.rows(
        "SELECT job_id, user_id, kind, available, held FROM wallet_ledger"
        " WHERE job_id IS NOT NULL ORDER BY id",
    )
    assert kinds == [
        ("done", ALICE, "hold", -4, 4),
        ("part", BOB, "hold", -4, 4),
        ("fail", CAROL, "hold", -4, 4),
        ("done", ALICE, "capture", 0, -4),
        ("done", ALICE, "release", 0, 0),
        ("part", BOB, "capture", 0, -2),
        ("part", BOB, "release", 2, -2),
        ("fail", CAROL, "release", 4, -4),
    ]
    assert await db.rows("SELECT COUNT(*) FROM ledger") == [(0,)]
    stats = await store.guild_stats(GUILD, 0.0, 0.0)
    assert stats.today.credits == 6
    assert {(m.user_id, m.credits) for m in stats.top} == {(ALICE, 4), (BOB, 2), (CAROL, 0)}
    await assert_ledger_consistent(db)


async def test_refills_once_per_period_and_grants_are_not_swallowed(
    store: SqlStore, db: Place
) -> None:
    made = await store.create_wallet(wallet("Design team", DESIGN, 10), DAY1)
    await admit(store, "j1", ALICE, DESIGN)  # 6 left
    granted = await store.grant_wallet(GUILD, "design team", 5, 99, "launch week", DAY1)
    assert granted is not None and granted[0].balance == 11 and granted[1] == 0
    # Day 2: the refill tops up to the allowance (nothing: 11 > 10), once.
    [funds] = await store.wallets(GUILD, DAY2)
    assert funds.balance == 11
    await admit(store, "j2", BOB, DESIGN)
    await admit(store, "j3", BOB, DESIGN)  # 3 left
    [funds] = await store.wallets(GUILD, DAY2)
    assert funds.balance == 3
    # Day 3, through a grant: the refill due comes first (to 10), then the grant (15).
    granted = await store.grant_wallet(GUILD, "Design team", 5, 99, None, {"daily": "day-3"})
    assert granted is not None and (granted[0].balance, granted[1]) == (15, 7)
    refills = await db.rows(
        "SELECT period_key, available FROM wallet_ledger WHERE kind = 'refill' ORDER BY id",
    )
    assert refills == [("day-1", 10), ("day-2", 0), ("day-3", 7)]
    assert await store.grant_wallet(GUILD, "nobody", 5, 99, None, DAY1) is None
    assert await wallet_sums(db, made.wallet.id) == (15, 12)


async def test_refill_in_the_admission_is_undone_with_a_refusal(store: SqlStore, db: Place) -> None:
    await store.create_wallet(wallet("Design team", DESIGN, 3), DAY1)
    before = await db.rows("SELECT * FROM wallet_ledger")
    broke = Budget(allowance=0, period_key=None)
    job = make_job("j1", user_id=ALICE, n=2, image_cost=2)
    with pytest.raises(InsufficientCredits):
        await store.admit_job_paid(job, broke, NO_CAPS, 10, terms(DESIGN, keys=DAY2))
    assert await db.rows("SELECT * FROM wallet_ledger") == before


async def test_spend_caps_count_what_wallets_hold(store: SqlStore) -> None:
    await store.create_wallet(wallet("Design team", DESIGN, 100), DAY1)
    caps = SpendCaps(day_start=0.0, per_guild=10)
    for i in range(2):
        job = make_job(f"w{i}", user_id=ALICE, n=2, image_cost=2)
        assert (await store.admit_job_paid(job, MEMBER, caps, 10, terms(DESIGN))).wallet
    # 8 held by the wallet: a member's own 4 would pass 10.
    with pytest.raises(SpendCapReached):
        await store.admit_job(make_job("m1", user_id=BOB, n=2, image_cost=2), MEMBER, caps, 10)
    await store.settle_failed("w0", "boom")  # the released 4 no longer count
    assert await store.admit_job(make_job("m1", user_id=BOB, n=2, image_cost=2), MEMBER, caps, 10)


async def test_a_restart_mid_job_settles_into_the_same_wallet(db: Place) -> None:
    store = await db.open(clock=Clock())
    made = await store.create_wallet(wallet("Design team", DESIGN, 10), DAY1)
    await admit(store, "j1", ALICE, DESIGN)
    await admit(store, "j2", BOB, DESIGN)
    await to_delivering(store, "j1")
    assert await store.mark_submitting("j2")
    await store.close()

    store = await db.open(clock=Clock())
    try:
        [j1, j2] = sorted(await store.jobs_in(list(JobPhase)), key=lambda j: j.id)
        assert j1.wallet_id == j2.wallet_id == made.wallet.id
        delivered = await store.settle_delivered("j1", [5], 2)
        failed = await store.settle_failed("j2", "restarted while submitting")
        assert (delivered.captured, delivered.balance) == (4, 2)
        assert (failed.released, failed.balance) == (4, 6)
        funds = await store.wallet_funds(made.wallet.id)
        assert funds is not None and (funds.balance, funds.held) == (6, 0)
        assert await wallet_sums(db, made.wallet.id) == (6, 0)
        await assert_ledger_consistent(db)
    finally:
        await store.close()


async def test_active_jobs_of_a_member(store: SqlStore) -> None:
    await admit(store, "a1", ALICE)
    await admit(store, "b1", BOB)
    await admit(store, "a2", ALICE)
    await store.settle_failed("a1", "cancelled", cancelled=True)
    assert [j.id for j in await store.active_jobs_of(GUILD, ALICE)] == ["a2"]
    assert [j.id for j in await store.active_jobs_of(GUILD, BOB)] == ["b1"]
    assert await store.active_jobs_of(2, ALICE) == []


async def test_a_job_knows_its_hold_whoever_pays_after_a_dearer_fallback(
    store: SqlStore, db: Place
) -> None:
    """`Job.held` is the hold in the payer's ledger: the wallet's or the member's. A fallback host
    with another price changes `image_cost`, never what was held."""
    made = await store.create_wallet(wallet("Design team", DESIGN, 10), DAY1)
    assert (await admit(store, "w1", ALICE, DESIGN)).wallet is not None  # 2 images at 2
    assert (await admit(store, "m1", BOB)).wallet is None
    for job_id in ("w1", "m1"):
        assert await store.mark_submitting(job_id)
        await store.mark_running(job_id, "mock", f"p-{job_id}", image_cost=5)
    read = [
        await store.get_job("w1"),
        await store.get_job("m1"),
        *await store.jobs_in([JobPhase.RUNNING]),
        *await store.active_jobs_of(GUILD, ALICE),
        *await store.active_jobs_of(GUILD, BOB),
    ]
    assert [(j.id, j.image_cost, j.held, j.hold_amount) for j in read if j is not None] == [
        ("w1", 5, 4, 4),
        ("m1", 5, 4, 4),
        ("w1", 5, 4, 4),
        ("m1", 5, 4, 4),
        ("w1", 5, 4, 4),
        ("m1", 5, 4, 4),
    ]
    await store.mark_delivering("w1", ("https://x/w1",), 0.5)
    settled = await store.settle_delivered("w1", [1], 2)
    assert (settled.captured, settled.released, settled.wallet_id) == (4, 0, made.wallet.id)
    await assert_ledger_consistent(db)
