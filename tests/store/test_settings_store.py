"""The store on both engines: member defaults, server settings, moderation tables and reports."""

from __future__ import annotations

import pytest

from tests.store.backends import Place
from tests.store.helpers import Clock, make_job
from wanbot.store import Budget, SpendCaps
from wanbot.store.base import GuildSettings, MemberSpend, PeriodStats
from wanbot.store.sql import SqlStore

GUILD = 1
OTHER_GUILD = 2
ALICE = 10
BOB = 11
ADMIN = 99
NO_CAPS = SpendCaps(day_start=0.0)
NO_REFILL = Budget(allowance=0, period_key=None)


async def test_migration_creates_the_tables(db: Place, store: SqlStore) -> None:
    names = await db.tables()
    versions = [r[0] for r in await db.rows("SELECT version FROM schema_migrations")]
    assert {
        "member_preferences",
        "guild_settings",
        "channel_rules",
        "blocklist",
        "member_bans",
    } <= names
    assert 2 in versions


async def test_preferences_saved_per_member_and_guild_and_cleared(store: SqlStore) -> None:
    assert await store.get_preferences(GUILD, ALICE) == {}
    await store.save_preferences(GUILD, ALICE, {"aspect_ratio": "16:9", "n": 2})
    await store.save_preferences(GUILD, ALICE, {"aspect_ratio": "4:3", "private": True})
    assert await store.get_preferences(GUILD, ALICE) == {"aspect_ratio": "4:3", "private": True}
    assert await store.get_preferences(OTHER_GUILD, ALICE) == {}
    assert await store.get_preferences(GUILD, BOB) == {}
    await store.save_preferences(GUILD, ALICE, {})
    assert await store.get_preferences(GUILD, ALICE) == {}


async def test_private_members_are_those_private_by_default(store: SqlStore) -> None:
    assert await store.private_members() == []
    await store.save_preferences(GUILD, ALICE, {"private": True, "n": 2})
    await store.save_preferences(OTHER_GUILD, ALICE, {"private": False})
    await store.save_preferences(GUILD, BOB, {"size": "4K"})
    await store.save_preferences(OTHER_GUILD, BOB, {"private": True})
    assert sorted(await store.private_members()) == [(GUILD, ALICE), (OTHER_GUILD, BOB)]
    await store.save_preferences(GUILD, ALICE, {})
    assert await store.private_members() == [(OTHER_GUILD, BOB)]


async def test_guild_settings_default_then_set(store: SqlStore) -> None:
    assert await store.guild_settings(GUILD) == GuildSettings(guild_id=GUILD)
    await store.set_audit_channel(GUILD, 500)
    await store.set_nsfw_policy(GUILD, "allow")
    settings = await store.guild_settings(GUILD)
    assert (settings.audit_channel_id, settings.nsfw_policy) == (500, "allow")
    await store.set_audit_channel(GUILD, None)
    settings = await store.guild_settings(GUILD)
    assert (settings.audit_channel_id, settings.nsfw_policy) == (None, "allow")
    assert (await store.guild_settings(OTHER_GUILD)).nsfw_policy == "filter"
    with pytest.raises(ValueError, match="nsfw policy"):
        await store.set_nsfw_policy(GUILD, "sometimes")


async def test_channel_rules(store: SqlStore) -> None:
    assert await store.set_channel_rule(GUILD, 100, "allow", ADMIN)
    assert not await store.set_channel_rule(GUILD, 100, "allow", ADMIN)  # no change
    assert await store.set_channel_rule(GUILD, 200, "deny", ADMIN)
    assert await store.set_channel_rule(GUILD, 300, "allow", ADMIN)
    assert await store.set_channel_rule(GUILD, 300, "deny", ADMIN)  # switched
    settings = await store.guild_settings(GUILD)
    assert settings.allowed_channels == {100}
    assert settings.denied_channels == {200, 300}
    assert await store.set_channel_rule(GUILD, 200, None, ADMIN)
    assert not await store.set_channel_rule(GUILD, 200, None, ADMIN)
    assert await store.clear_channel_rules(GUILD) == 2
    settings = await store.guild_settings(GUILD)
    assert settings.allowed_channels == settings.denied_channels == frozenset()
    with pytest.raises(ValueError, match="channel rule"):
        await store.set_channel_rule(GUILD, 1, "maybe", ADMIN)


async def test_blocklist_add_remove_per_guild(store: SqlStore) -> None:
    assert await store.add_blocked(GUILD, "dragon", False, ADMIN)
    assert not await store.add_blocked(GUILD, "dragon", False, ADMIN)
    assert await store.add_blocked(GUILD, r"\bcat\b", True, ADMIN)
    assert await store.add_blocked(OTHER_GUILD, "dragon", False, ADMIN)
    entries = (await store.guild_settings(GUILD)).blocklist
    assert [(e.pattern, e.is_regex) for e in entries] == [("dragon", False), (r"\bcat\b", True)]
    assert await store.remove_blocked(GUILD, "dragon")
    assert not await store.remove_blocked(GUILD, "dragon")
    assert [e.pattern for e in (await store.guild_settings(GUILD)).blocklist] == [r"\bcat\b"]
    assert len((await store.guild_settings(OTHER_GUILD)).blocklist) == 1


async def test_bans(store: SqlStore, clock: Clock) -> None:
    assert await store.member_ban(GUILD, ALICE) is None
    assert await store.ban_member(GUILD, ALICE, ADMIN, "spam")
    clock.now += 5
    assert not await store.ban_member(GUILD, ALICE, ADMIN, "again")
    ban = await store.member_ban(GUILD, ALICE)
    assert ban is not None and (ban.reason, ban.actor_id, ban.created_at) == ("spam", ADMIN, 1000)
    assert await store.member_ban(OTHER_GUILD, ALICE) is None
    assert [b.user_id for b in await store.bans(GUILD)] == [ALICE]
    assert await store.unban_member(GUILD, ALICE)
    assert not await store.unban_member(GUILD, ALICE)
    assert await store.bans(GUILD) == []


async def test_last_job_at_and_held(store: SqlStore, clock: Clock) -> None:
    assert await store.last_job_at(GUILD, ALICE) is None
    await store.grant(GUILD, ALICE, 10, ADMIN, None)
    await store.admit_job(make_job("j1", user_id=ALICE, n=2, image_cost=2), NO_REFILL, NO_CAPS, 5)
    clock.now = 1_050.0
    await store.admit_job(make_job("j2", user_id=ALICE, n=1, image_cost=2), NO_REFILL, NO_CAPS, 5)
    assert await store.last_job_at(GUILD, ALICE) == 1_050.0
    assert await store.last_job_at(GUILD, BOB) is None
    assert await store.held_credits(GUILD, ALICE) == 6
    await store.settle_failed("j2", "boom")
    assert await store.held_credits(GUILD, ALICE) == 4


async def test_activity_lists_balance_changes_with_their_jobs(store: SqlStore) -> None:
    budget = Budget(allowance=50, period_key="2025-01-01")
    await store.admit_job(make_job("j1", user_id=ALICE, n=2, image_cost=2), budget, NO_CAPS, 5)
    await store.settle_failed("j1", "provider down")
    await store.admit_job(make_job("j2", user_id=ALICE, n=1, image_cost=2), budget, NO_CAPS, 5)
    assert await store.mark_submitting("j2")
    await store.mark_running("j2", "mock", "p2")
    await store.mark_delivering("j2", ["u"], None)
    await store.settle_delivered("j2", [7], delivered=1)  # capture and a zero release: not shown
    await store.grant(GUILD, ALICE, 20, ADMIN, "prize")
    await store.grant(GUILD, ALICE, -5, ADMIN, None)

    found = await store.activity(GUILD, ALICE, limit=10)
    assert [(a.kind, a.amount) for a in found] == [
        ("revoke", -5),
        ("grant", 20),
        ("hold", -2),
        ("release", 4),
        ("hold", -4),
        ("refill", 50),
    ]
    assert (found[1].actor_id, found[1].reason) == (ADMIN, "prize")
    assert (found[2].job_kind, found[2].prompt, found[2].job_state) == ("imagine", "a cat", "done")
    assert found[3].job_state == "failed"
    assert [a.kind for a in await store.activity(GUILD, ALICE, limit=2)] == ["revoke", "grant"]
    assert await store.activity(GUILD, BOB) == []


async def test_guild_stats_today_month_and_top(store: SqlStore, clock: Clock) -> None:
    await store.grant(GUILD, ALICE, 100, ADMIN, None)
    await store.grant(GUILD, BOB, 100, ADMIN, None)
    await store.grant(OTHER_GUILD, ALICE, 100, ADMIN, None)

    async def finish(job_id: str, user: int, n: int, delivered: int, guild: int = GUILD) -> None:
        job = make_job(job_id, user_id=user, guild_id=guild, n=n, image_cost=2)
        await store.admit_job(job, NO_REFILL, NO_CAPS, 5)
        assert await store.mark_submitting(job_id)
        await store.mark_running(job_id, "mock", f"p-{job_id}")
        await store.mark_delivering(job_id, [], None)
        await store.settle_delivered(job_id, [1], delivered=delivered)

    clock.now = 500.0  # earlier this month, before today
    await finish("old", BOB, n=4, delivered=4)
    clock.now = 2_000.0
    await finish("a1", ALICE, n=2, delivered=2)
    await finish("a2", ALICE, n=2, delivered=1)
    await store.admit_job(make_job("a3", user_id=ALICE, n=1, image_cost=2), NO_REFILL, NO_CAPS, 5)
    await store.settle_failed("a3", "boom")
    await finish("x", ALICE, n=4, delivered=4, guild=OTHER_GUILD)

    stats = await store.guild_stats(GUILD, day_start=1_000.0, month_start=0.0)
    assert stats.today == PeriodStats(jobs=3, failed=1, credits=6)
    assert stats.month == PeriodStats(jobs=4, failed=1, credits=14)
    assert stats.top == (
        MemberSpend(user_id=BOB, jobs=1, credits=8),
        MemberSpend(user_id=ALICE, jobs=3, credits=6),
    )
    top_one = await store.guild_stats(GUILD, day_start=1_000.0, month_start=0.0, top=1)
    assert len(top_one.top) == 1
