"""Crash and restart: the real `bot.py` process, killed mid-job, delivers each job exactly once.

The bot runs as a subprocess against the fake Discord (own thread) and the fake PixelDojo (this
test's loop). Each test checks, after the restart, that the host saw one submission per job, that
each job's placeholder carries its images once with no second result message anywhere, and that
the ledger holds exactly one hold, one capture and one release per job.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.subprocess_bot import (
    BotProcess,
    balance,
    db_path,
    job,
    job_by_token,
    ledger,
    seed_history,
    write_config,
)
from tests.fakes.discord_server import FakeDiscord, InteractionHandle
from tests.fakes.pixeldojo_server import FakePixelDojo

ALLOWANCE = 50
IMAGE_COST = 2


@pytest.fixture
async def pixeldojo() -> AsyncIterator[FakePixelDojo]:
    async with FakePixelDojo(job_duration_s=0.2) as server:
        server.never_finish = True
        yield server


@pytest.fixture
def make_bot(
    fake: FakeDiscord, tmp_path: Path
) -> Iterator[Callable[[FakePixelDojo, str], BotProcess]]:
    bots: list[BotProcess] = []

    def make(pixeldojo: FakePixelDojo, generation: str = "") -> BotProcess:
        config = write_config(tmp_path, fake, pixeldojo.base_url, generation)
        env = {"DISCORD_TOKEN": fake.token, "PIXELDOJO_API_KEY": FakePixelDojo.api_key}
        bot = BotProcess(config, env, tmp_path / "bot.log")
        bots.append(bot)
        return bot

    try:
        yield make
    finally:
        for bot in bots:
            bot.close()


async def ready_to_run(tmp_path: Path) -> None:
    # Recent 1 s jobs make the bot poll a running job about every half second (see seed_history).
    await seed_history(db_path(tmp_path), provider="pixeldojo", size="2K", seconds=1.0)


async def imagine(fake: FakeDiscord, prompt: str, user: str = "alice") -> InteractionHandle:
    handle = await fake.slash("imagine", {"prompt": prompt, "n": 2}, user=user)
    await handle.wait_acknowledged()
    return handle


async def job_in(
    bot: BotProcess, db: Path, handle: InteractionHandle, *states: str
) -> dict[str, object]:
    found: dict[str, object] = {}

    def reached() -> bool:
        row = job_by_token(db, handle.token)
        if row is None or row["state"] not in states:
            return False
        if row["state"] == "running" and not row["provider_job_id"]:
            return False
        # Admission writes the queued row; its placeholder is recorded just after.
        if row["state"] == "queued" and row["placeholder_message_id"] is None:
            return False
        found.update(row)
        return True

    await bot.wait_until(reached, f"the job of {handle} to be {'/'.join(states)}", 20.0)
    return found


def polls(pixeldojo: FakePixelDojo, provider_job_id: object) -> int:
    path = f"/jobs/{provider_job_id}"
    return sum(1 for r in pixeldojo.requests if r.method == "GET" and r.path.endswith(path))


def assert_only_placeholders_have_images(fake: FakeDiscord, db: Path, *job_ids: str) -> None:
    placeholders = {int(job(db, j)["placeholder_message_id"]) for j in job_ids}
    with_images = {m.id for m in fake.messages(include_deleted=True) if m.attachments}
    assert with_images == placeholders


def assert_delivered_once(
    fake: FakeDiscord, db: Path, job_id: str, user: str, images: int = 2
) -> None:
    row = job(db, job_id)
    assert row["state"] == "done", row["error"]
    assert row["images_delivered"] == images
    placeholder = fake.message(int(row["placeholder_message_id"]))
    assert json.loads(row["message_ids_json"]) == [placeholder.id]
    assert len(placeholder.attachments) == images
    assert not placeholder.content.startswith("🎨"), "the placeholder still shows progress"
    # The images were uploaded once (no second edit, followup or channel post with them).
    uploads = [r for r in fake.requests if any(job_id[:8] in name for name, _ in r.files)]
    assert len(uploads) == 1, uploads
    rows = [r for r in ledger(db, fake.guild_id, fake.users[user].id) if r["job_id"] == job_id]
    assert sorted(r["kind"] for r in rows) == ["capture", "hold", "release"], rows
    by_kind = {r["kind"]: r for r in rows}
    cost = images * IMAGE_COST
    assert (by_kind["hold"]["available"], by_kind["hold"]["held"]) == (-cost, cost)
    assert (by_kind["capture"]["available"], by_kind["capture"]["held"]) == (0, -cost)
    assert (by_kind["release"]["available"], by_kind["release"]["held"]) == (0, 0)


async def test_killed_while_running_delivers_once(
    fake: FakeDiscord,
    tmp_path: Path,
    pixeldojo: FakePixelDojo,
    make_bot: Callable[[FakePixelDojo, str], BotProcess],
) -> None:
    db = db_path(tmp_path)
    await ready_to_run(tmp_path)
    bot = make_bot(pixeldojo, "")
    await bot.start_connected(fake)
    handle = await imagine(fake, "a red fox")
    running = await job_in(bot, db, handle, "running")
    provider_job_id = running["provider_job_id"]
    await bot.wait_until(lambda: polls(pixeldojo, provider_job_id) >= 1, "a first status poll")

    assert await bot.kill() == -signal.SIGKILL
    assert job(db, str(running["id"]))["state"] == "running"
    polls_before = polls(pixeldojo, provider_job_id)

    await bot.start_connected(fake)
    # The restarted bot tracks the same host job again (the host still says "processing").
    await bot.wait_until(
        lambda: polls(pixeldojo, provider_job_id) > polls_before, "polling after the restart"
    )
    assert "recovered 1 unfinished jobs" in bot.current_log()
    pixeldojo.never_finish = False
    done = await job_in(bot, db, handle, "done", "failed", "cancelled")
    assert done["provider_job_id"] == provider_job_id

    assert len(pixeldojo.submissions("/run")) == 1
    assert_delivered_once(fake, db, str(done["id"]), "alice")
    assert_only_placeholders_have_images(fake, db, str(done["id"]))
    assert balance(db, fake.guild_id, fake.users["alice"].id) == ALLOWANCE - 2 * IMAGE_COST
    placeholder = fake.message(int(str(done["placeholder_message_id"])))
    assert f"{2 * IMAGE_COST} credits, {ALLOWANCE - 2 * IMAGE_COST} left" in placeholder.content
    assert fake.violations == []
    assert await bot.terminate() == 0


async def test_killed_while_queued_runs_after_restart(
    fake: FakeDiscord,
    tmp_path: Path,
    pixeldojo: FakePixelDojo,
    make_bot: Callable[[FakePixelDojo, str], BotProcess],
) -> None:
    db = db_path(tmp_path)
    await ready_to_run(tmp_path)
    bot = make_bot(pixeldojo, "max_concurrent_jobs = 1")
    await bot.start_connected(fake)
    first = await imagine(fake, "a red fox", user="alice")
    running = await job_in(bot, db, first, "running")
    second = await imagine(fake, "a blue whale", user="bob")
    queued = await job_in(bot, db, second, "queued")
    assert queued["placeholder_message_id"] is not None
    await bot.wait_until(
        lambda: "Queued" in fake.message(int(str(queued["placeholder_message_id"]))).content,
        "the queued placeholder",
    )

    assert await bot.kill() == -signal.SIGKILL
    assert len(pixeldojo.submissions("/run")) == 1
    assert job(db, str(queued["id"]))["state"] == "queued"
    polls_before = polls(pixeldojo, running["provider_job_id"])

    await bot.start_connected(fake)
    assert "recovered 2 unfinished jobs" in bot.current_log()
    await bot.wait_until(
        lambda: polls(pixeldojo, running["provider_job_id"]) > polls_before,
        "polling the first job after the restart",
    )
    pixeldojo.never_finish = False
    one = await job_in(bot, db, first, "done", "failed", "cancelled")
    two = await job_in(bot, db, second, "done", "failed", "cancelled")

    runs = pixeldojo.submissions("/run")
    assert [r.body["prompt"] for r in runs] == ["a red fox", "a blue whale"]
    assert one["provider_job_id"] != two["provider_job_id"]
    # The queued job was sent to the host only after the first ended (one at a time).
    assert float(str(two["submitted_at"])) >= float(str(one["finished_at"]))
    assert_delivered_once(fake, db, str(one["id"]), "alice")
    assert_delivered_once(fake, db, str(two["id"]), "bob")
    assert_only_placeholders_have_images(fake, db, str(one["id"]), str(two["id"]))
    for user in ("alice", "bob"):
        assert balance(db, fake.guild_id, fake.users[user].id) == ALLOWANCE - 2 * IMAGE_COST
    assert fake.violations == []
    assert await bot.terminate() == 0


async def test_sigterm_exits_zero_and_resumes(
    fake: FakeDiscord,
    tmp_path: Path,
    pixeldojo: FakePixelDojo,
    make_bot: Callable[[FakePixelDojo, str], BotProcess],
) -> None:
    db = db_path(tmp_path)
    await ready_to_run(tmp_path)
    bot = make_bot(pixeldojo, "")
    await bot.start_connected(fake)
    handle = await imagine(fake, "a red fox")
    running = await job_in(bot, db, handle, "running")

    started = time.monotonic()
    assert await bot.terminate(within_s=5.0) == 0
    assert time.monotonic() - started < 5.0
    assert "stopped cleanly" in bot.current_log()
    row = job(db, str(running["id"]))
    assert row["state"] == "running" and row["error"] is None
    placeholder = fake.message(int(str(running["placeholder_message_id"])))
    assert not placeholder.attachments and "back" not in placeholder.content

    await bot.start_connected(fake)
    pixeldojo.never_finish = False
    done = await job_in(bot, db, handle, "done", "failed", "cancelled")
    assert len(pixeldojo.submissions("/run")) == 1
    assert done["provider_job_id"] == running["provider_job_id"]
    assert_delivered_once(fake, db, str(done["id"]), "alice")
    assert_only_placeholders_have_images(fake, db, str(done["id"]))
    assert balance(db, fake.guild_id, fake.users["alice"].id) == ALLOWANCE - 2 * IMAGE_COST
    assert fake.violations == []
    assert await bot.terminate() == 0
