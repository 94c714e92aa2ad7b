"""Several real `bot.py` processes on one PostgreSQL database, shards 0 and 1 of 2, against a
fake Discord with servers on both shards and the fake PixelDojo.

Each member's interaction reaches only the process running its server's shard; jobs are leased
in the database, so a killed process's jobs are taken over by the survivor and a stopping one
hands its jobs over at once. Every test ends by checking each job was submitted once, delivered
once and settled once (one hold, one capture, one release).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.pg_processes import (
    ALLOWANCE,
    IMAGE_COST,
    assert_delivered_once,
    balance,
    bot_process,
    job_by_token,
    process_config,
    real_jobs,
    seed_history,
)
from tests.e2e.subprocess_bot import BotProcess
from tests.fakes.discord_server import FakeDiscord, InteractionHandle
from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.store.backends import PostgresPlace

TAKEOVER_S = 15.0
MakeBots = Callable[..., list[BotProcess]]


@pytest.fixture
def sharded() -> Iterator[FakeDiscord]:
    fake = FakeDiscord(shard_count=2, guilds=2)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def place(postgres_dsn: str) -> AsyncIterator[PostgresPlace]:
    place = await PostgresPlace.create(postgres_dsn)
    await seed_history(place)
    try:
        yield place
    finally:
        await place.drop()


@pytest.fixture
async def pixeldojo() -> AsyncIterator[FakePixelDojo]:
    async with FakePixelDojo(job_duration_s=1.0) as server:
        yield server


@pytest.fixture
def make_bots(
    sharded: FakeDiscord, place: PostgresPlace, pixeldojo: FakePixelDojo, tmp_path: Path
) -> Iterator[MakeBots]:
    made: list[BotProcess] = []

    def make(generation: str = "") -> list[BotProcess]:
        for shard in (0, 1):
            config = process_config(
                tmp_path,
                sharded,
                pixeldojo,
                place.url,
                shard=shard,
                shard_count=2,
                generation=generation,
            )
            made.append(bot_process(tmp_path, sharded, config, f"shard{shard}"))
        return made

    try:
        yield make
    finally:
        for bot in made:
            bot.close()


def server_on(fake: FakeDiscord, shard: int) -> int:
    """The general channel of the server on `shard`."""
    return next(fake.guild_channels[g] for g in fake.guild_ids if fake.shard_of(g) == shard)


async def imagine(
    fake: FakeDiscord, shard: int, prompt: str, user: str = "alice"
) -> InteractionHandle:
    handle = await fake.slash(
        "imagine", {"prompt": prompt, "n": 2}, user=user, channel=server_on(fake, shard)
    )
    await handle.wait_acknowledged()
    return handle


async def start_all(fake: FakeDiscord, bots: list[BotProcess]) -> None:
    for bot in bots:  # shard 0 first: it syncs the commands the other waits for
        await bot.start_connected(fake)


async def wait_for(
    bot: BotProcess, check: Callable[[], Awaitable[bool]], what: str, within_s: float = 20.0
) -> None:
    """Poll an async check until it holds."""
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{bot.tail()}")
        await asyncio.sleep(0.1)


def worker_of(bot: BotProcess) -> str:
    return f":{bot.pid}:"


async def assert_all_delivered_once(
    place: PostgresPlace,
    fake: FakeDiscord,
    pixeldojo: FakePixelDojo,
    handles: list[InteractionHandle],
) -> None:
    jobs = await real_jobs(place)
    assert len(jobs) == len(handles)
    for job in jobs:
        await assert_delivered_once(place, fake, job, images=2)
    prompts = sorted(r.body["prompt"] for r in pixeldojo.submissions("/run"))
    assert prompts == sorted(json.loads(j["request_json"])["prompt"] for j in jobs)
    assert len(set(prompts)) == len(prompts)
    assert fake.violations == []


async def test_each_server_is_answered_by_its_shards_process(
    sharded: FakeDiscord,
    place: PostgresPlace,
    pixeldojo: FakePixelDojo,
    make_bots: MakeBots,
) -> None:
    fake = sharded
    bots = make_bots()
    await start_all(fake, bots)
    handles = [await imagine(fake, shard, f"a fox on shard {shard}") for shard in (0, 1)]

    async def all_done() -> bool:
        jobs = await real_jobs(place)
        return len(jobs) == 2 and all(j["state"] == "done" for j in jobs)

    await wait_for(bots[0], all_done, "both jobs to be delivered")
    for shard, handle in enumerate(handles):
        job = await job_by_token(place, handle.token)
        assert job is not None
        assert worker_of(bots[shard]) in str(job["worker_id"])  # admitted there
        guild = fake.guild_of(server_on(fake, shard))
        assert int(job["guild_id"]) == guild
        record = fake.shards[shard]
        assert ("INTERACTION_CREATE", guild) in record.events
        other = fake.shards[1 - shard]
        assert ("INTERACTION_CREATE", guild) not in other.events
        assert await balance(place, guild, fake.users["alice"].id) == ALLOWANCE - 2 * IMAGE_COST
    assert fake.command_put_count == 1  # only shard 0's process synced
    await assert_all_delivered_once(place, fake, pixeldojo, handles)
    for bot in bots:
        assert await bot.terminate() == 0


async def test_a_killed_process_s_jobs_are_taken_over(
    sharded: FakeDiscord,
    place: PostgresPlace,
    pixeldojo: FakePixelDojo,
    make_bots: MakeBots,
) -> None:
    fake = sharded
    pixeldojo.never_finish = True
    victim, survivor = make_bots("max_concurrent_jobs = 1")
    await start_all(fake, [victim, survivor])
    first = await imagine(fake, 0, "a red fox", user="alice")
    second = await imagine(fake, 0, "a blue whale", user="bob")

    async def one_running_one_queued() -> bool:
        a, b = await job_by_token(place, first.token), await job_by_token(place, second.token)
        return (
            a is not None
            and b is not None
            and a["state"] == "running"
            and bool(a["provider_job_id"])
            and b["state"] == "queued"
        )

    await wait_for(victim, one_running_one_queued, "one job running and one queued")
    for handle in (first, second):
        held = await job_by_token(place, handle.token)
        assert held is not None and worker_of(victim) in str(held["worker_id"])

    assert await victim.kill() == -signal.SIGKILL
    killed_at = time.monotonic()

    async def taken_over() -> bool:
        jobs = [await job_by_token(place, h.token) for h in (first, second)]
        return all(j is not None and worker_of(survivor) in str(j["worker_id"]) for j in jobs)

    await wait_for(survivor, taken_over, "the survivor to take both jobs", TAKEOVER_S)
    takeover_s = time.monotonic() - killed_at
    assert takeover_s < TAKEOVER_S
    assert "taken over" in survivor.current_log()
    pixeldojo.never_finish = False

    async def both_done() -> bool:
        jobs = await real_jobs(place)
        return all(j["state"] in ("done", "failed", "cancelled") for j in jobs)

    await wait_for(survivor, both_done, "both jobs to finish")
    await assert_all_delivered_once(place, fake, pixeldojo, [first, second])
    assert len(pixeldojo.submissions("/run")) == 2
    guild = fake.guild_of(server_on(fake, 0))
    for user in ("alice", "bob"):
        assert await balance(place, guild, fake.users[user].id) == ALLOWANCE - 2 * IMAGE_COST
    assert await survivor.terminate() == 0


async def test_rolling_restart_loses_and_doubles_nothing(
    sharded: FakeDiscord,
    place: PostgresPlace,
    pixeldojo: FakePixelDojo,
    make_bots: MakeBots,
) -> None:
    fake = sharded
    bots = make_bots("max_queued_per_user = 20")  # a member's own queue is not what is tested
    await start_all(fake, bots)
    up = {0: True, 1: True}
    sending = True
    handles: list[InteractionHandle] = []
    users = ["alice", "bob", "carol"]

    async def stream() -> None:
        # A job every 0.25 s on a server whose process is up (Discord gives the others nobody).
        n = 0
        while sending:
            for shard in (0, 1):
                if up[shard] and sending:
                    user = users[n % len(users)]
                    handles.append(await imagine(fake, shard, f"stream job {n}", user=user))
                    n += 1
                    await asyncio.sleep(0.25)

    sender = asyncio.create_task(stream())
    try:
        await asyncio.sleep(1.5)
        for shard in (0, 1):
            up[shard] = False
            await asyncio.sleep(0.3)  # the send in flight, if any, lands first
            assert await bots[shard].terminate() == 0
            await asyncio.sleep(0.5)
            await bots[shard].start_connected(fake)
            up[shard] = True
            await asyncio.sleep(1.5)
    finally:
        sending = False  # the send in flight completes: every interaction made has its handle
        await sender

    async def all_done() -> bool:
        jobs = await real_jobs(place)
        return len(jobs) == len(handles) and all(j["state"] == "done" for j in jobs)

    try:
        await wait_for(bots[1], all_done, f"all {len(handles)} jobs to be delivered", 30.0)
    except AssertionError as e:
        states = [
            (j["id"][:8], j["state"], j["worker_id"], j["error"]) for j in await real_jobs(place)
        ]
        lost = []
        for h in handles:
            if await job_by_token(place, h.token) is None:
                m = h.original_message()
                lost.append((h.id, h.callbacks, None if m is None else m.content))
        raise AssertionError(f"{lost}\n{states}\n{bots[0].tail(30)}") from e
    assert len(handles) >= 12
    # Each stopping process handed what it held to the other, which carried it on.
    assert all("released" in bot.log_text() for bot in bots)
    assert all("taken over" in bot.log_text() for bot in bots)
    await assert_all_delivered_once(place, fake, pixeldojo, handles)
    for bot in bots:
        assert await bot.terminate() == 0
