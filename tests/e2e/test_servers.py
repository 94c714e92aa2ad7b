"""`discord.allowed_guilds`: a public bot's credits are not every stranger's. Outside the listed
servers every command gets a short refusal with nothing charged, and the bot leaves servers it is
in that are not listed: those it finds at start-up and those it is added to later."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import Harness, running_bot
from tests.fakes.discord_server import FakeDiscord, FakeMessage, InteractionHandle
from wanbot.store.base import JobPhase


async def answer_of(h: Harness, handle: InteractionHandle) -> FakeMessage:
    await handle.wait_acknowledged()
    await h.wait_for(lambda: handle.original_message() is not None or bool(handle.followups))
    message = handle.original_message() or handle.followups[-1]
    return message


async def test_only_the_allowed_servers_are_served(fake: FakeDiscord, tmp_path: Path) -> None:
    stranger = await fake.add_guild("Stranger's server")  # the bot is in it before it starts
    listed = f"allowed_guilds = [{fake.guild_id}]"
    async with running_bot(fake, tmp_path, discord=listed) as h:
        # At ready: the server that is not listed is left, the listed one kept.
        await h.wait_for(lambda: fake.left_guilds == [stranger])
        assert {g.id for g in h.bot.guilds} == {fake.guild_id}

        # Added to another server later: left as soon as the bot hears of it.
        later = await fake.add_guild("Added by someone")
        await h.wait_for(lambda: fake.left_guilds == [stranger, later])
        await h.wait_for(lambda: {g.id for g in h.bot.guilds} == {fake.guild_id})

        # A command from a server that is not listed (a user-installed app can be used anywhere):
        # a short private refusal, nothing charged, no job.
        elsewhere = await fake.add_guild("Where the bot is not", member=False)
        handle = await fake.slash("imagine", {"prompt": "a fox"}, user="alice", guild=elsewhere)
        refusal = await answer_of(h, handle)
        assert refusal.ephemeral
        assert refusal.content == "This bot isn't available on this server. Nothing was charged."
        assert handle.ack_latency_s is not None and handle.ack_latency_s < fake.ack_deadline_s
        credits = await fake.slash("credits", user="alice", guild=elsewhere)
        assert "isn't available" in (await answer_of(h, credits)).content
        assert await h.store.jobs_in(list(JobPhase)) == []
        assert await h.store.ledger(elsewhere, h.user_id("alice")) == []
        assert await h.store.ledger(fake.guild_id, h.user_id("alice")) == []

        # The listed server is served as ever.
        served = await h.imagine("a fox at home")
        job = await h.wait_job((await h.job_for(served)).id)
        assert job.state is JobPhase.DONE, job.error
        assert fake.violations == []


async def test_an_empty_list_serves_every_server(fake: FakeDiscord, tmp_path: Path) -> None:
    other = await fake.add_guild("Another server")
    async with running_bot(fake, tmp_path) as h:
        await h.wait_for(lambda: {g.id for g in h.bot.guilds} == {fake.guild_id, other})
        assert fake.left_guilds == []
        assert fake.violations == []
