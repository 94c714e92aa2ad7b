"""Races a member, a careless deploy or a busy database can start, end to end (real discord.py
against the fake Discord, which enforces the 3-second acknowledgement): Cancel clicked twice,
Cancel while another process locks the database, a failure between admission and the queue,
and a second bot process on the same SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.fault_tools import IMAGE_COST, DatabaseLock, assert_refunded, job_ledger
from tests.e2e.harness import Harness, running_bot
from tests.e2e.subprocess_bot import BotProcess, db_path, write_config
from tests.fakes.discord_server import FakeDiscord, FakeMessage, InteractionHandle
from tests.fakes.pixeldojo_server import FakePixelDojo
from wanbot.store.base import Job, JobPhase

ALLOWANCE = 50


async def reply_to(h: Harness, click: InteractionHandle) -> FakeMessage:
    """The bot's answer to an interaction: its filled response, or a followup."""

    def answered() -> bool:
        message = click.original_message()
        return bool(click.followups) or (message is not None and not message.loading)

    await h.wait_for(answered)
    found = click.followups[-1] if click.followups else click.original_message()
    assert found is not None
    return found


async def cancel_click(h: Harness, job: Job, user: str = "alice") -> InteractionHandle:
    assert job.placeholder_message_id is not None
    return await h.fake.click(job.placeholder_message_id, f"wanbot:cancel:{job.id}", user=user)


async def test_cancel_clicked_twice_refunds_once(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=60) as h:
        handle = await h.imagine("a fox that changed its mind", n=2)
        job = await h.wait_job((await h.job_for(handle)).id, JobPhase.RUNNING)
        first = await cancel_click(h, job)
        second = await cancel_click(h, job)  # before the first is answered
        for click in (first, second):
            await click.wait_acknowledged()
            assert click.ack_latency_s is not None and click.ack_latency_s < 3
            answer = await reply_to(h, click)
            assert answer.ephemeral and answer.content in ("Cancelling…", "Cancelled."), answer
        ended = await h.wait_job(job.id)
        assert ended.state is JobPhase.CANCELLED
        await h.wait_for(lambda: "credits are back" in h.placeholder(ended).content)
        assert "Cancelled. Your 4 credits are back." in h.placeholder(ended).content
        assert_refunded(db_path(tmp_path), fake, "alice", job.id, images=2)
        assert await h.store.balance(fake.guild_id, h.user_id("alice")) == ALLOWANCE
        # The button is gone with the job: the placeholder now only says how it ended.
        assert h.placeholder(ended).components == []
        assert fake.violations == []


async def test_cancel_while_another_process_locks_the_database(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """Another process holds BEGIN EXCLUSIVE for 4 s. Alice cancels her running job and her
    queued one in that window: both clicks are acknowledged within Discord's 3 s (the fake fails
    the test otherwise), and once the lock goes both jobs end cancelled with every credit back."""
    async with running_bot(
        fake, tmp_path, mock_delay=60, generation="max_running_per_user = 1"
    ) as h:
        running = await h.wait_job(
            (await h.job_for(await h.imagine("a fox in the lock"))).id, JobPhase.RUNNING
        )
        queued_handle = await h.imagine("a fox behind it")
        queued = await h.job_for(queued_handle)
        await h.wait_for(lambda: queued_handle.original_message() is not None)
        queued = await h.wait_job(queued.id, JobPhase.QUEUED)
        assert queued.placeholder_message_id is not None

        lock = DatabaseLock(db_path(tmp_path))
        holding = asyncio.create_task(lock.hold(4.0))
        await lock.wait_taken()
        clicks = [await cancel_click(h, running), await cancel_click(h, queued)]
        for click in clicks:
            await click.wait_acknowledged(timeout=5)
            assert click.ack_latency_s is not None and click.ack_latency_s < 2.5, click
        await holding
        assert lock.held_s >= 4.0
        for job in (running, queued):
            ended = await h.wait_job(job.id, within_s=15)
            assert ended.state is JobPhase.CANCELLED, (job.id, ended.state)
            assert_refunded(db_path(tmp_path), fake, "alice", job.id, images=1)
        assert await h.store.balance(fake.guild_id, h.user_id("alice")) == ALLOWANCE
        for click in clicks:
            assert (await reply_to(h, click)).content in ("Cancelling…", "Cancelled.")
        assert fake.violations == []


class Interrupted(Exception):
    pass


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("cogs.jobflow.show_placeholder", Interrupted("not an HTTP error")),
        ("wanbot.jobs.service.JobService.enqueue", TimeoutError()),
        ("wanbot.jobs.service.JobService.enqueue", asyncio.CancelledError()),
    ],
)
async def test_a_failure_between_admission_and_the_queue_releases_the_hold(
    fake: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, error: Any
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise error

    async with running_bot(fake, tmp_path) as h:
        monkeypatch.setattr(where, broken)
        handle = await h.imagine("a fox that tripped", n=3)
        await handle.wait_acknowledged()
        job = await h.job_for(handle)
        ended = await h.wait_job(job.id, within_s=5)
        assert ended.state is JobPhase.FAILED
        assert (ended.error or "").startswith("not queued")
        assert job_ledger(db_path(tmp_path), fake, "alice", job.id) == {
            "hold": (-3 * IMAGE_COST, 3 * IMAGE_COST),
            "release": (3 * IMAGE_COST, -3 * IMAGE_COST),
        }
        assert await h.store.balance(fake.guild_id, h.user_id("alice")) == ALLOWANCE
        assert job.id not in h.bot.jobs.live
        monkeypatch.undo()
        after = await h.wait_job((await h.job_for(await h.imagine("a steadier fox"))).id)
        assert after.state is JobPhase.DONE, after.error
        assert fake.violations == []


async def test_a_second_bot_on_the_same_database_refuses_to_start(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    config = write_config(tmp_path, fake, "http://127.0.0.1:9/api/v1")
    env = {"DISCORD_TOKEN": fake.token, "PIXELDOJO_API_KEY": FakePixelDojo.api_key}
    first = BotProcess(config, env, tmp_path / "first.log")
    second = BotProcess(config, env, tmp_path / "second.log")
    try:
        await first.start_connected(fake)
        identified = fake.identify_count
        second.start()
        assert await second.wait_exit(within_s=30) == 1
        lines = [line for line in second.current_log().splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert lines[0].startswith("error: ") and "in use by another wanbot process" in lines[0]
        assert str(first.pid) in lines[0]
        assert fake.identify_count == identified  # it never reached Discord
        assert first.running
        assert await first.terminate() == 0
    finally:
        first.close()
        second.close()
