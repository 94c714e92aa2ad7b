"""The fault table, rows 1b and 1d: the real `bot.py` SIGKILLed while a job is `submitting` and
while it is `delivering`, then started again (rows 1a, 1c and 1e are in test_restart.py). Each
checks the job ends delivered exactly once or failed with every held credit back, the ledger, what
the member was told, and that the fake Discord saw no broken rule."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.fault_tools import (
    ALLOWANCE,
    IMAGE_COST,
    PIXELDOJO_ENV,
    assert_charged,
    assert_refunded,
    uploads_of,
)
from tests.e2e.subprocess_bot import (
    BotProcess,
    balance,
    db_path,
    job,
    job_by_token,
    seed_history,
    write_config,
)
from tests.fakes.discord_server import FakeDiscord, InteractionHandle
from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import Fault


@pytest.fixture
async def pixeldojo() -> AsyncIterator[FakePixelDojo]:
    async with FakePixelDojo(job_duration_s=0.3) as server:
        yield server


# -- row 1: SIGKILL in each job state, then restart ------------------------------------------


@pytest.fixture
def make_bot(fake: FakeDiscord, tmp_path: Path) -> Iterator[Callable[[FakePixelDojo], BotProcess]]:
    bots: list[BotProcess] = []

    def make(pixeldojo: FakePixelDojo) -> BotProcess:
        config = write_config(tmp_path, fake, pixeldojo.base_url)
        env = {"DISCORD_TOKEN": fake.token, **PIXELDOJO_ENV}
        bot = BotProcess(config, env, tmp_path / "bot.log")
        bots.append(bot)
        return bot

    try:
        yield make
    finally:
        for bot in bots:
            bot.close()


async def subprocess_imagine(fake: FakeDiscord, prompt: str) -> InteractionHandle:
    handle = await fake.slash("imagine", {"prompt": prompt, "n": 2}, user="alice")
    await handle.wait_acknowledged()
    return handle


async def state_of(bot: BotProcess, db: Path, handle: InteractionHandle, *states: str) -> str:
    """Wait until the interaction's job is in one of `states`; return its id."""
    found: list[str] = []

    def reached() -> bool:
        row = job_by_token(db, handle.token)
        if row is None or row["state"] not in states:
            return False
        found.append(str(row["id"]))
        return True

    await bot.wait_until(reached, f"the job of {handle} to be {'/'.join(states)}", 20.0)
    return found[0]


async def test_sigkill_while_submitting_fails_and_refunds(
    fake: FakeDiscord,
    tmp_path: Path,
    pixeldojo: FakePixelDojo,
    make_bot: Callable[[FakePixelDojo], BotProcess],
) -> None:
    db = db_path(tmp_path)
    await seed_history(db, provider="pixeldojo", size="2K", seconds=1.0)
    pixeldojo.inject("/run", Fault("slow", delay_s=2.0))
    bot = make_bot(pixeldojo)
    await bot.start_connected(fake)
    handle = await subprocess_imagine(fake, "a fox in a hurry")
    job_id = await state_of(bot, db, handle, "submitting")
    await bot.wait_until(lambda: len(pixeldojo.submissions("/run")) == 1, "the submission")

    assert await bot.kill() == -signal.SIGKILL
    assert job(db, job_id)["state"] == "submitting"

    await bot.start_connected(fake)
    await state_of(bot, db, handle, "failed", "done", "cancelled")
    row = job(db, job_id)
    assert row["state"] == "failed"
    assert "restarted while sending it to the image host" in str(row["error"])
    # Whether the host took it cannot be known: it is not sent a second time.
    assert len(pixeldojo.submissions("/run")) == 1
    placeholder = fake.message(int(row["placeholder_message_id"]))
    await bot.wait_until(lambda: "back" in fake.message(placeholder.id).content, "the notice")
    text = fake.message(placeholder.id).content
    assert "The bot restarted while sending it to the image host." in text
    assert f"Your {2 * IMAGE_COST} credits are back." in text
    assert uploads_of(fake, job_id) == []
    assert_refunded(db, fake, "alice", job_id, images=2)
    assert balance(db, fake.guild_id, fake.users["alice"].id) == ALLOWANCE
    assert fake.violations == []
    assert await bot.terminate() == 0


async def test_sigkill_while_delivering_delivers_once(
    fake: FakeDiscord,
    tmp_path: Path,
    pixeldojo: FakePixelDojo,
    make_bot: Callable[[FakePixelDojo], BotProcess],
) -> None:
    db = db_path(tmp_path)
    await seed_history(db, provider="pixeldojo", size="2K", seconds=1.0)
    pixeldojo.inject("/files/", Fault("slow", delay_s=2.5), Fault("slow", delay_s=2.5))
    bot = make_bot(pixeldojo)
    await bot.start_connected(fake)
    handle = await subprocess_imagine(fake, "a fox at the door")
    job_id = await state_of(bot, db, handle, "delivering")
    await bot.wait_until(
        lambda: sum(1 for r in pixeldojo.requests if "/files/" in r.path) == 2, "the downloads"
    )

    assert await bot.kill() == -signal.SIGKILL
    assert job(db, job_id)["state"] == "delivering"
    assert uploads_of(fake, job_id) == []

    await bot.start_connected(fake)
    await state_of(bot, db, handle, "done", "failed", "cancelled")
    row = job(db, job_id)
    assert row["state"] == "done", row["error"]
    assert row["images_delivered"] == 2
    assert len(pixeldojo.submissions("/run")) == 1
    placeholder = fake.message(int(row["placeholder_message_id"]))
    assert len(placeholder.attachments) == 2
    assert f"{2 * IMAGE_COST} credits, {ALLOWANCE - 2 * IMAGE_COST} left" in placeholder.content
    assert len(uploads_of(fake, job_id)) == 1
    assert [m.id for m in fake.messages(include_deleted=True) if m.attachments] == [placeholder.id]
    assert_charged(db, fake, "alice", job_id, images=2)
    assert fake.violations == []
    assert await bot.terminate() == 0
