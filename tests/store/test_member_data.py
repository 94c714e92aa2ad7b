"""Personal data in the database: interaction tokens of finished jobs, forgotten members' prompts
and old prompts are gone (on SQLite from the FILE, read as bytes), and no balance moves."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.store.backends import Place
from tests.store.faults import assert_ledger_consistent
from tests.store.helpers import Clock, make_job
from wanbot.providers.models import GenerationRequest, InputImage
from wanbot.store import Budget, SpendCaps
from wanbot.store.base import REMOVED_PROMPT, JobPhase, MemberForgotten, NewJob, token_digest
from wanbot.store.sql import SqlStore

GUILD = 1
OTHER_GUILD = 2
ALICE = 10
BOB = 11
NO_REFILL = Budget(allowance=0, period_key=None)
NO_CAPS = SpendCaps(day_start=0.0)


def job(
    job_id: str,
    prompt: str,
    *,
    user_id: int = ALICE,
    guild_id: int = GUILD,
    token: str = "token",
    negative: str | None = None,
    inputs: tuple[InputImage, ...] = (),
) -> NewJob:
    base = make_job(job_id, user_id=user_id, guild_id=guild_id, image_cost=2)
    request = GenerationRequest(
        prompt=prompt, negative_prompt=negative, seed=1, input_images=inputs
    )
    return dataclasses.replace(base, request=request, interaction_token=token)


async def deliver(store: SqlStore, job_id: str) -> None:
    assert await store.mark_submitting(job_id)
    await store.mark_running(job_id, "mock", f"p-{job_id}")
    await store.mark_delivering(job_id, [f"https://x/{job_id}"], 0.5)
    await store.settle_delivered(job_id, [1], 1)


# -- interaction tokens ------------------------------------------------------------------------


async def test_finished_jobs_keep_no_interaction_token_in_the_file(
    store: SqlStore, db: Place
) -> None:
    await store.grant(GUILD, ALICE, 100, 1, None)
    tokens = {name: f"interaction-token-{name}-{'x' * 40}" for name in ("done", "failed", "live")}
    for name, token in tokens.items():
        await store.admit_job(job(name, "a cat", token=token), NO_REFILL, NO_CAPS, 10)
    await deliver(store, "done")
    await store.settle_failed("failed", "host down")
    await store.close()

    assert await db.rows("SELECT id, interaction_token FROM jobs ORDER BY id") == [
        ("done", token_digest(tokens["done"])),
        ("failed", token_digest(tokens["failed"])),
        ("live", tokens["live"]),
    ]
    assert await db.holds(tokens["live"].encode())  # the check can see a token when one is there
    assert not await db.holds(tokens["done"].encode())
    assert not await db.holds(tokens["failed"].encode())


async def test_a_cancelled_job_drops_its_token(store: SqlStore) -> None:
    await store.grant(GUILD, ALICE, 10, 1, None)
    await store.admit_job(job("c", "a cat", token="secret-token"), NO_REFILL, NO_CAPS, 10)
    await store.settle_failed("c", "cancelled", cancelled=True)
    stored = await store.get_job("c")
    assert stored is not None and stored.state is JobPhase.CANCELLED
    assert stored.interaction_token != "secret-token"
    assert stored.for_interaction("secret-token") and not stored.for_interaction("other")


# -- forgetting a member -----------------------------------------------------------------------


async def member_totals(db: Place) -> list[tuple[object, ...]]:
    return await db.rows(
        "SELECT guild_id, user_id, kind, SUM(available), SUM(held), COUNT(*) FROM ledger"
        " GROUP BY guild_id, user_id, kind ORDER BY guild_id, user_id, kind",
    )


async def test_forget_member_removes_prompts_and_preferences_and_keeps_balances(
    store: SqlStore, db: Place, tmp_path: Path
) -> None:
    alice_words = [
        "alice-secret-prompt-one",
        "alice-secret-prompt-two " + "long words " * 600,  # overflows onto pages of its own
        "alice-secret-edit-prompt",
    ]
    image = InputImage(
        path=str(tmp_path / "inputs" / "alice.png"),
        content_type="image/png",
        width=8,
        height=8,
        size_bytes=100,
        source_url="https://cdn.discordapp.com/attachments/1/2/alice-holiday.png",
        filename="alice-holiday.png",
    )
    for member in (ALICE, BOB):
        await store.grant(GUILD, member, 100, 1, None)
    await store.grant(OTHER_GUILD, ALICE, 100, 1, None)
    await store.admit_job(job("a1", alice_words[0], negative="alice-neg"), NO_REFILL, NO_CAPS, 10)
    await store.admit_job(job("a2", alice_words[1]), NO_REFILL, NO_CAPS, 10)
    await store.admit_job(job("a3", alice_words[2], inputs=(image,)), NO_REFILL, NO_CAPS, 10)
    await store.admit_job(job("a-live", "alice-still-queued"), NO_REFILL, NO_CAPS, 10)
    await store.admit_job(
        job("a-elsewhere", "alice-other-server", guild_id=OTHER_GUILD), NO_REFILL, NO_CAPS, 10
    )
    await store.admit_job(job("b1", "bob-prompt-stays", user_id=BOB), NO_REFILL, NO_CAPS, 10)
    for job_id in ("a1", "a3", "a-elsewhere", "b1"):
        await deliver(store, job_id)
    await store.settle_failed("a2", "host down")
    await store.save_preferences(GUILD, ALICE, {"negative_prompt": "alice-pref-secret"})
    await store.save_preferences(GUILD, BOB, {"size": "4K"})
    balances = {m: await store.balance(GUILD, m) for m in (ALICE, BOB)}
    held = await store.held_credits(GUILD, ALICE)
    totals = await member_totals(db)
    for word in alice_words:
        assert await db.holds(word.encode()[:24])

    forgotten = await store.forget_member(GUILD, ALICE)

    assert forgotten == MemberForgotten(
        jobs=3, preferences=1, active_jobs=1, input_paths=(image.path,)
    )
    for secret in (*alice_words, "alice-neg", "alice-pref-secret", "alice-holiday"):
        assert not await db.holds(secret.encode()[:24]), secret
    for kept in ("bob-prompt-stays", "alice-still-queued", "alice-other-server"):
        assert await db.holds(kept.encode()), kept
    assert {m: await store.balance(GUILD, m) for m in (ALICE, BOB)} == balances
    assert await store.held_credits(GUILD, ALICE) == held
    assert await member_totals(db) == totals
    assert await store.get_preferences(GUILD, ALICE) == {}
    assert await store.get_preferences(GUILD, BOB) == {"size": "4K"}
    for job_id in ("a1", "a2", "a3"):
        stored = await store.get_job(job_id)
        assert stored is not None
        assert (stored.user_id, stored.request.prompt) == (0, REMOVED_PROMPT)
        assert stored.request.negative_prompt is None and stored.request.input_images == ()
    live = await store.get_job("a-live")
    assert live is not None and (live.user_id, live.request.prompt) == (ALICE, "alice-still-queued")
    assert all(a.prompt != REMOVED_PROMPT for a in await store.activity(GUILD, ALICE, 20))
    await assert_ledger_consistent(db)

    # The live job, once ended, is forgotten by a second call.
    await store.settle_failed("a-live", "cancelled", cancelled=True)
    again = await store.forget_member(GUILD, ALICE)
    assert (again.jobs, again.active_jobs, again.preferences) == (1, 0, 0)
    assert not await db.holds(b"alice-still-queued")
    assert await store.balance(GUILD, ALICE) == balances[ALICE] + held


async def test_blank_prompts_older_than(store: SqlStore, db: Place, clock: Clock) -> None:
    await store.grant(GUILD, ALICE, 100, 1, None)
    clock.now = 1_000.0
    old_job = job("old", "old-prompt-words", negative="old-negative")
    await store.admit_job(old_job, NO_REFILL, NO_CAPS, 10)
    await store.admit_job(job("old-live", "old-but-running"), NO_REFILL, NO_CAPS, 10)
    clock.now = 5_000.0
    await store.admit_job(job("new", "new-prompt-words"), NO_REFILL, NO_CAPS, 10)
    await deliver(store, "old")
    await deliver(store, "new")
    balance = await store.balance(GUILD, ALICE)

    assert await store.blank_prompts_older_than(2_000.0) == 1
    assert await store.blank_prompts_older_than(2_000.0) == 0  # done once, not counted again

    assert not await db.holds(b"old-prompt-words") and not await db.holds(b"old-negative")
    assert await db.holds(b"new-prompt-words") and await db.holds(b"old-but-running")
    old = await store.get_job("old")
    assert old is not None and old.request.prompt == REMOVED_PROMPT and old.user_id == ALICE
    assert await db.rows("SELECT id, prompt_removed_at FROM jobs ORDER BY id") == [
        ("new", None),
        ("old", 5_000.0),
        ("old-live", None),
    ]
    assert await store.balance(GUILD, ALICE) == balance
