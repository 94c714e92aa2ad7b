"""/set, /credits, /admin and the server policy, end to end: real discord.py, fake Discord, mock."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from cogs.client import WanBot
from cogs.render.account import activity as describe_activity
from tests.e2e.harness import Harness, png_bytes, running_bot
from tests.fakes.discord_server import FakeDiscord, FakeMessage, InteractionHandle
from wanbot.store.base import Activity, JobPhase

MOCK_DELAY = 0.2
MANAGE_GUILD = 1 << 5


async def answer(handle: InteractionHandle, within_s: float = 5.0) -> FakeMessage:
    """The bot's reply to an interaction, once it has content."""
    await handle.wait_acknowledged()
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        message = handle.original_message()
        if message is not None and not message.loading and message.content:
            return message
        followups = handle.followups
        if followups:
            return followups[-1]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no reply to {handle}")
        await asyncio.sleep(0.02)


async def refusal(handle: InteractionHandle) -> str:
    message = await answer(handle)
    assert message.ephemeral, message
    assert "Nothing was" in message.content, message.content
    return message.content


async def admin(h: Harness, subcommand: str, **options: Any) -> FakeMessage:
    """Run /admin `subcommand` as the member with Manage Server."""
    handle = await h.fake.slash("admin", options, user="admin", subcommand=subcommand)
    message = await answer(handle)
    assert message.ephemeral
    return message


async def all_jobs(h: Harness) -> list[Any]:
    return list(await h.store.jobs_in(list(JobPhase)))


def provider_calls(tmp_path: Path) -> int:
    return len(list((tmp_path / "data" / "mock").glob("*.json")))


def with_cooldown(seconds: float) -> Any:
    def configure(bot: WanBot) -> None:
        admission = bot.services.admission
        admission.limits = dataclasses.replace(admission.limits, cooldown_s=seconds)

    return configure


async def test_defaults_apply_until_overridden_or_reset(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=MOCK_DELAY) as h:
        saved = await answer(
            await fake.slash(
                "set", {"aspect_ratio": "16:9", "n": 2, "negative_prompt": "blurry, text"}
            )
        )
        assert saved.ephemeral
        assert saved.content.startswith(
            "Saved. Your defaults: 16:9 · 2K · 2 images · thinking as the host decides · "
            'negative: "blurry, text" · public results\n'
        )
        assert "/set reset:true" in saved.content

        job = await h.job_for(await h.imagine("a red fox"))
        assert (job.request.aspect_ratio, job.request.n) == ("16:9", 2)
        assert job.request.negative_prompt == "blurry, text"

        other = await h.job_for(await h.imagine("a red fox", aspect_ratio="1:1", n=1))
        assert (other.request.aspect_ratio, other.request.n) == ("1:1", 1)
        assert other.request.negative_prompt == "blurry, text"

        shown = await answer(await fake.slash("set", {}))
        assert shown.ephemeral
        assert shown.content.startswith(
            "Your defaults: 16:9 · 2K · 2 images · thinking as the host decides"
        )
        assert "Change them with /set" in shown.content

        cleared = await answer(await fake.slash("set", {"reset": True}))
        assert "Defaults cleared." in cleared.content
        assert "1:1 · 2K · 1 image" in cleared.content
        plain = await h.job_for(await h.imagine("a red fox"))
        assert (plain.request.aspect_ratio, plain.request.n) == ("1:1", 1)
        assert plain.request.negative_prompt is None
        for j in (job, other, plain):
            assert (await h.wait_job(j.id)).state is JobPhase.DONE
        assert fake.violations == []


async def test_edit_uses_the_defaults_that_fit_an_edit(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=MOCK_DELAY) as h:
        options = {"size": "4K", "n": 2, "negative_prompt": "blurry", "thinking": True}
        await answer(await fake.slash("set", options))
        image = ("fox.png", png_bytes(640, 480), "image/png")
        handle = await fake.slash(
            "edit", {"prompt": "make it winter"}, attachments={"image": image}
        )
        job = await h.job_for(handle)
        request = job.request
        assert (request.n, request.negative_prompt, request.thinking) == (2, "blurry", True)
        assert request.size == "2K"  # 4K is for new images only; the default is left out
        assert request.aspect_ratio == "4:3"
        assert (await h.wait_job(job.id)).state is JobPhase.DONE


async def test_exhausted_balance_refused_until_an_admin_grants(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(
        fake, tmp_path, extra_toml="[credits]\nallowance = 0\n", mock_delay=MOCK_DELAY
    ) as h:
        text = await refusal(await h.imagine("a red fox"))
        assert "You have 0 credits left and this needs 2 (2 per image)." in text
        assert re.search(r"Your allowance refills <t:\d+:R>\.", text)
        assert await all_jobs(h) == []
        assert provider_calls(tmp_path) == 0

        granted = await admin(h, "grant", user="alice", amount=4)
        assert f"Gave <@{h.user_id('alice')}> 4 credits. They have 4 now." in granted.content
        assert not granted.mentioned_user_ids

        job = await h.job_for(await h.imagine("a red fox"))
        done = await h.wait_job(job.id)
        assert done.state is JobPhase.DONE, done.error
        assert await h.store.balance(fake.guild_id, h.user_id("alice")) == 2
        assert provider_calls(tmp_path) == 1


async def test_admin_needs_manage_server_checked_by_the_bot(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=MOCK_DELAY) as h:
        group = next(c for c in fake.registered_commands[None] if c["name"] == "admin")
        assert int(group["default_member_permissions"]) == MANAGE_GUILD
        # The fake does not enforce default permissions, like a server that overrode them.
        handle = await fake.slash(
            "admin", {"user": "bob", "amount": 100}, user="alice", subcommand="grant"
        )
        text = await refusal(handle)
        assert "Manage Server" in text
        assert await h.store.ledger(fake.guild_id, h.user_id("bob")) == []
        assert await h.store.ledger(fake.guild_id, h.user_id("alice")) == []


async def test_blocked_prompt_refused_and_audited(fake: FakeDiscord, tmp_path: Path) -> None:
    audit_id = fake.nsfw_channel_id
    async with running_bot(fake, tmp_path, mock_delay=MOCK_DELAY) as h:
        await admin(h, "audit-channel", channel="nsfw-art")
        added = await admin(h, "blocklist", action="add", term="Dragon")
        assert "added" in added.content

        text = await refusal(await h.imagine("a red DRAG0N over the hills"))
        assert text == (
            f"That prompt can't be used in <#{fake.channel_id}>: it matches this server's "
            'blocklist ("dragon"). Nothing was charged.'
        )
        explicit = await refusal(await h.imagine("a naked man on a beach"))
        assert "explicit sexual content" in explicit
        assert await all_jobs(h) == [] and provider_calls(tmp_path) == 0

        await h.wait_for(lambda: any("blocklist" in m.content for m in fake.messages(audit_id)))
        blocked = [m.content for m in fake.messages(audit_id) if "blocklist" in m.content]
        assert f"<@{h.user_id('alice')}>" in blocked[0]
        assert "DRAG0N" in blocked[0]
        assert all(not m.mentioned_user_ids for m in fake.messages(audit_id))

        # A job that passes is logged with who, prompt, provider and a link to its message.
        job = await h.job_for(await h.imagine("a calm lake, @everyone"))
        assert job.request.safety_checker is True
        await h.wait_for(lambda: any("a calm lake" in m.content for m in fake.messages(audit_id)))
        line = next(m for m in fake.messages(audit_id) if "a calm lake" in m.content)
        link = f"https://discord.com/channels/{fake.guild_id}/{fake.channel_id}/"
        assert link + str(job.placeholder_message_id) in line.content
        assert "Mock" in line.content and f"<@{h.user_id('alice')}>" in line.content
        assert not line.mentions_everyone and not line.mentioned_user_ids
        assert (await h.wait_job(job.id)).state is JobPhase.DONE
        assert fake.violations == []


async def test_age_restricted_channel_follows_the_server_policy(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=MOCK_DELAY) as h:
        nsfw = "nsfw-art"
        handle = await fake.slash("imagine", {"prompt": "a naked man"}, channel=nsfw)
        assert "explicit sexual content" in await refusal(handle)

        await admin(h, "nsfw", policy="allow")
        handle = await fake.slash("imagine", {"prompt": "a naked man"}, channel=nsfw)
        job = await h.job_for(handle)
        assert job.request.safety_checker is None  # the host's own default

        handle = await fake.slash("imagine", {"prompt": "a naked child"}, channel=nsfw)
        assert "minors" in await refusal(handle)
        handle = await fake.slash("imagine", {"prompt": "a naked man"})
        assert "explicit sexual content" in await refusal(handle)
        await h.wait_job(job.id)


async def test_denied_channel_refused(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=MOCK_DELAY) as h:
        rules = await admin(h, "channels", action="deny", channel="general")
        assert f"Denied: <#{fake.channel_id}>" in rules.content
        text = await refusal(await h.imagine("a red fox"))
        assert text.startswith(f"Images can't be made in <#{fake.channel_id}>.")

        await admin(h, "channels", action="clear", channel="general")
        listed = await admin(h, "channels", action="allow", channel="nsfw-art")
        assert f"Only these channels may generate: <#{fake.nsfw_channel_id}>" in listed.content
        text = await refusal(await h.imagine("a red fox"))
        assert f"Try <#{fake.nsfw_channel_id}>." in text
        assert await all_jobs(h) == [] and provider_calls(tmp_path) == 0

        await admin(h, "channels", action="clear")
        job = await h.job_for(await h.imagine("a red fox"))
        assert (await h.wait_job(job.id)).state is JobPhase.DONE


async def test_banned_member_refused_until_unbanned(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=MOCK_DELAY) as h:
        await admin(h, "ban", user="bob", reason="spam")
        listed = await admin(h, "bans")
        assert f"<@{h.user_id('bob')}>" in listed.content and "spam" in listed.content

        text = await refusal(await h.imagine("a red fox", user="bob"))
        assert "turned off image generation for you" in text
        assert await all_jobs(h) == []

        await admin(h, "unban", user="bob")
        job = await h.job_for(await h.imagine("a red fox", user="bob"))
        assert (await h.wait_job(job.id)).state is JobPhase.DONE


async def test_cooldown_between_jobs(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=MOCK_DELAY, configure=with_cooldown(60)) as h:
        job = await h.job_for(await h.imagine("a red fox"))
        text = await refusal(await h.imagine("a blue fox"))
        assert re.fullmatch(r"You can start another job <t:\d+:R>\. Nothing was charged\.", text)
        assert [j.id for j in await all_jobs(h)] == [job.id]
        # Another member is not held back.
        await h.job_for(await h.imagine("a green fox", user="bob"))
        assert await h.store.balance(fake.guild_id, h.user_id("alice")) == 48


async def test_credits_show_balance_refill_and_recent_entries(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=MOCK_DELAY) as h:
        job = await h.job_for(await h.imagine("a red fox in the snow at dawn", n=2))
        assert (await h.wait_job(job.id)).state is JobPhase.DONE
        await admin(h, "grant", user="alice", amount=20, reason="contest")

        message = await answer(await fake.slash("credits", {}))
        assert message.ephemeral and not message.mentioned_user_ids
        first, second = message.content.split("\n")
        assert re.fullmatch(r"66 credits · allowance 50 a day · refills <t:\d+:R>", first)
        admin_id = h.user_id("admin")
        assert second == (
            f"Last 3: +20 from <@{admin_id}> (contest) · "
            '−4 /imagine "a red fox in the sn…" · +50 daily refill'
        )

        other = await admin(h, "balance", user="alice")
        assert "66 credits" in other.content

        stats = await admin(h, "stats")
        assert "Today: 1 job · 4 credits spent" in stats.content
        assert "This month: 1 job · 4 credits spent" in stats.content
        assert f"Top this month: <@{h.user_id('alice')}> 4 credits, 1 job" in stats.content


async def test_role_allowance_applies(fake: FakeDiscord, tmp_path: Path) -> None:
    toml = f'[credits]\nallowance = 0\nrole_allowances = {{ "{fake.admin_role_id}" = 10 }}\n'
    async with running_bot(fake, tmp_path, extra_toml=toml, mock_delay=MOCK_DELAY) as h:
        message = await answer(await fake.slash("credits", {}, user="admin"))
        assert message.content.startswith(
            f"10 credits · allowance 10 a day (from <@&{fake.admin_role_id}>)"
        )
        job = await h.job_for(await h.imagine("a red fox", user="admin"))
        assert job.hold_amount == 2
        assert "You have 0 credits" in await refusal(await h.imagine("a red fox"))
        await h.wait_job(job.id)


async def test_private_result_visible_only_to_its_owner(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=MOCK_DELAY) as h:
        job = await h.job_for(await h.imagine("a secret fox", private=True))
        done = await h.wait_job(job.id)
        assert done.state is JobPhase.DONE, done.error
        message = h.placeholder(done)
        assert message.ephemeral and message.visible_to == h.user_id("alice")
        assert len(message.attachments) == 1

        # A saved default does the same.
        await answer(await fake.slash("set", {"private": True}, user="bob"))
        job = await h.job_for(await h.imagine("another secret", user="bob"))
        done = await h.wait_job(job.id)
        assert done.private
        message = h.placeholder(done)
        assert message.ephemeral and message.visible_to == h.user_id("bob")
        assert fake.violations == []


@pytest.mark.parametrize(
    ("entry", "period", "shown"),
    [
        (
            Activity("hold", -4, "imagine", "a red fox", "done", None, None, 0),
            "daily",
            '−4 /imagine "a red fox"',
        ),
        (
            Activity("release", 4, "imagine", "a red fox", "failed", None, None, 0),
            "daily",
            "+4 refund (failed)",
        ),
        (
            Activity("release", 2, "edit", "x", "cancelled", None, None, 0),
            "daily",
            "+2 refund (cancelled)",
        ),
        (
            Activity("release", 2, "edit", "x", "done", None, None, 0),
            "daily",
            "+2 refund (not delivered)",
        ),
        (Activity("refill", 50, None, None, None, None, None, 0), "weekly", "+50 weekly refill"),
        (Activity("refill", 50, None, None, None, None, None, 0), "never", "+50 allowance"),
        (Activity("grant", 20, None, None, None, 7, None, 0), "daily", "+20 from <@7>"),
        (
            Activity("revoke", -5, None, None, None, 7, "oops", 0),
            "daily",
            "−5 removed by <@7> (oops)",
        ),
    ],
)
def test_activity_wording(entry: Activity, period: str, shown: str) -> None:
    assert describe_activity(entry, period) == shown
