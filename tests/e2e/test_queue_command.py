"""/jobs end to end: a member's own queued and running jobs with their place in line, and Cancel
buttons that take a job out of the queue and give its credits back."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import Harness, running_bot
from tests.e2e.test_account_admin import answer
from tests.fakes.discord_server import FakeDiscord, FakeMessage, _walk_components
from wanbot.store.base import Job, JobPhase


async def balance(h: Harness, user: str) -> int:
    value: int = await h.store.balance(h.fake.guild_id, h.user_id(user))
    return value


def buttons(message: FakeMessage) -> dict[str, str]:
    """label → custom_id of the message's buttons."""
    return {
        c["label"]: c["custom_id"] for c in _walk_components(message.components) if c.get("label")
    }


async def queued(h: Harness, prompt: str, user: str) -> Job:
    job = await h.job_for(await h.imagine(prompt, user=user))
    return await h.wait_job(job.id, JobPhase.QUEUED)


async def test_jobs_shows_places_in_line_and_cancel_refunds(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(
        fake, tmp_path, mock_delay=60.0, generation="max_concurrent_jobs = 1"
    ) as h:
        first = await h.job_for(await h.imagine("a running fox"))
        await h.wait_job(first.id, JobPhase.RUNNING)
        bobs = await queued(h, "a blue whale", "bob")
        second = await queued(h, "a waiting fox", "alice")
        assert await balance(h, "alice") == 50 - 4

        listing = await answer(await fake.slash("jobs", {}))
        assert listing.ephemeral
        lines = listing.content.splitlines()
        assert lines[0] == "Your 2 unfinished jobs in this server:"
        assert lines[1].startswith("**1.** a running fox · generating, 0:")
        assert "· Mock · 1:1 · 2K" in lines[1]
        link = f"https://discord.com/channels/{fake.guild_id}/{fake.channel_id}/"
        assert link + str(first.placeholder_message_id) in lines[1]
        assert lines[2].startswith("**2.** a waiting fox · queued, 2nd in line · Mock")
        assert "a blue whale" not in listing.content
        assert set(buttons(listing)) == {"Cancel 1", "Cancel 2"}

        click = await fake.click(listing.id, buttons(listing)["Cancel 2"])
        await click.wait_acknowledged()
        ended = await h.wait_job(second.id)
        assert ended.state is JobPhase.CANCELLED
        assert await balance(h, "alice") == 50 - 2
        await h.wait_for(lambda: "Cancelled" in h.placeholder(ended).content)
        assert "Your 2 credits are back." in h.placeholder(ended).content
        # Bob's job moved up; Alice's list is her running job alone.
        again = await answer(await fake.slash("jobs", {}))
        assert again.content.startswith("Your unfinished job in this server:\n**1.** a running")
        bob_list = await answer(await fake.slash("jobs", {}, user="bob"))
        assert "a blue whale · queued, 1st in line" in bob_list.content
        assert (await h.store.get_job(bobs.id)) is not None

        # A running job is cancelled from the list too.
        running = await fake.click(again.id, buttons(again)["Cancel 1"])
        await running.wait_acknowledged()
        assert (await h.wait_job(first.id)).state is JobPhase.CANCELLED
        assert await balance(h, "alice") == 50
        assert fake.violations == []


async def test_jobs_with_nothing_queued(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path) as h:
        reply = await answer(await fake.slash("jobs", {}, user="carol"))
        assert reply.ephemeral
        assert reply.content == "You have no queued or running jobs in this server."
        assert reply.components == []
        assert h.bot.tree.get_command("jobs") is not None
