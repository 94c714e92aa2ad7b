"""ChannelPressure: progress edits hold off only after Discord says so, and recover after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from discord.http import HTTPClient, handle_message_parameters

from tests.fakes.discord_server import FakeDiscord, patched_discord_py
from wanbot.jobs.pacing import (
    ChannelPressure,
    Observation,
    feed,
    observation_of,
    pressure_trace_config,
    target_of,
)
from wanbot.jobs.ports import JobOutcome, Progress
from wanbot.jobs.progress import ProgressReporter
from wanbot.providers.models import GenerationRequest
from wanbot.store.base import Job

CHANNEL = 111
OTHER = 222
TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OmZha2UtdG9rZW4tZm9yLXRoZS10ZXN0cw" * 2


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def shared_429(retry_after: float) -> Observation:
    return Observation(status=429, scope="shared", retry_after=retry_after)


def test_a_quiet_channel_lets_progress_through_with_per_job_spacing() -> None:
    clock = Clock()
    pressure = ChannelPressure(clock=clock, per_job_s=2.0)
    assert pressure.try_acquire("j1", CHANNEL)
    assert not pressure.try_acquire("j1", CHANNEL)  # the same job, too soon
    assert pressure.try_acquire("j2", CHANNEL)  # another job: no budget shared by the channel
    clock.now += 2.0
    assert pressure.try_acquire("j1", CHANNEL)


def test_a_shared_429_holds_the_channel_for_retry_after_then_recovers() -> None:
    clock = Clock()
    pressure = ChannelPressure(clock=clock, per_job_s=0.0)
    pressure.observe_channel(CHANNEL, shared_429(3.0))
    assert pressure.held_until(CHANNEL) == pytest.approx(1003.0)
    assert not pressure.try_acquire("j1", CHANNEL)
    assert pressure.try_acquire("j2", OTHER)  # other channels are untouched
    clock.now += 2.9
    assert pressure.under_pressure(CHANNEL)
    clock.now += 0.2
    assert not pressure.under_pressure(CHANNEL)
    assert pressure.try_acquire("j1", CHANNEL)


def test_repeated_429s_hold_longer_and_the_penalty_fades_after_quiet() -> None:
    clock = Clock()
    pressure = ChannelPressure(clock=clock, recovery_s=30.0)
    holds = []
    for _ in range(5):
        pressure.observe_channel(CHANNEL, shared_429(1.0))
        until = pressure.held_until(CHANNEL)
        assert until is not None
        holds.append(until - clock.now)
        clock.now = until
    assert holds == [1.0, 2.0, 4.0, 8.0, 8.0]
    clock.now += 31.0
    pressure.observe_channel(CHANNEL, shared_429(1.0))
    assert pressure.held_until(CHANNEL) == pytest.approx(clock.now + 1.0)


def test_a_spent_bucket_holds_until_its_reset_without_a_429() -> None:
    clock = Clock()
    pressure = ChannelPressure(clock=clock, per_job_s=0.0)
    pressure.observe_channel(CHANNEL, Observation(200, remaining=3, reset_after=4.0))
    assert pressure.held_until(CHANNEL) is None
    pressure.observe_channel(CHANNEL, Observation(200, remaining=0, reset_after=1.5))
    assert pressure.held_until(CHANNEL) == pytest.approx(1001.5)
    assert pressure.count_429 == 0


def test_a_global_429_holds_every_channel_a_user_one_elsewhere_none() -> None:
    clock = Clock()
    pressure = ChannelPressure(clock=clock, per_job_s=0.0)
    feed(pressure, "/api/v10/guilds/5/members/6", 429, {"X-RateLimit-Scope": "user"})
    assert not pressure.under_pressure(CHANNEL)
    feed(
        pressure,
        "/api/v10/users/@me",
        429,
        {"X-RateLimit-Scope": "global", "Retry-After": "2"},
    )
    assert pressure.under_pressure(CHANNEL) and pressure.under_pressure(OTHER)
    clock.now += 2.01
    assert not pressure.under_pressure(CHANNEL)


def test_webhook_answers_reach_the_job_token_or_its_channel() -> None:
    clock = Clock()
    pressure = ChannelPressure(clock=clock, per_job_s=0.0)
    pressure.register("j1", TOKEN, CHANNEL)
    pressure.register("j2", TOKEN[::-1], CHANNEL)
    edit = f"/api/v10/webhooks/42/{TOKEN}/messages/@original"
    # The token's own bucket (5 per 2 s) is that job's business only.
    feed(pressure, edit, 429, {"X-RateLimit-Scope": "user", "X-RateLimit-Reset-After": "1.2"})
    assert not pressure.try_acquire("j1", CHANNEL)
    assert pressure.try_acquire("j2", CHANNEL)
    clock.now += 1.3
    assert pressure.try_acquire("j1", CHANNEL)
    # The hidden channel limit met through the webhook holds the whole channel.
    feed(pressure, edit, 429, {"X-RateLimit-Scope": "shared", "X-RateLimit-Reset-After": "2"})
    assert not pressure.try_acquire("j2", CHANNEL)
    assert pressure.channel_of_token(TOKEN) == CHANNEL
    pressure.forget("j1")  # progress over; the result may still go through this token
    assert pressure.channel_of_token(TOKEN) == CHANNEL
    pressure.unregister("j1")
    assert pressure.channel_of_token(TOKEN) is None
    # An unknown token's answers keep nothing (no growth per interaction) but are counted.
    feed(pressure, edit, 429, {"X-RateLimit-Scope": "user", "X-RateLimit-Reset-After": "9"})
    feed(pressure, edit, 200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "9"})
    assert pressure.snapshot()["tokens_held"] == 0
    assert pressure.snapshot()["count_429"] == 3


def test_progress_stands_aside_while_a_result_is_posted_in_the_channel() -> None:
    pressure = ChannelPressure(clock=Clock(), per_job_s=0.0)
    with pressure.posting(CHANNEL):
        with pressure.posting(CHANNEL):
            assert not pressure.try_acquire("j1", CHANNEL)
        assert not pressure.try_acquire("j1", CHANNEL)
        assert pressure.try_acquire("j1", OTHER)
    assert pressure.try_acquire("j1", CHANNEL)


def test_paths_and_headers_are_read_as_discord_sends_them() -> None:
    assert target_of("/api/v10/channels/123/messages/456") == ("channel", 123)
    assert target_of("/api/v10/channels/123") == ("channel", 123)
    assert target_of(f"/api/v10/webhooks/9/{TOKEN}/messages/7") == ("token", TOKEN)
    assert target_of(f"/api/v10/webhooks/9/{TOKEN}") == ("token", TOKEN)
    assert target_of(f"/api/v10/interactions/8/{TOKEN}/callback") == ("token", TOKEN)
    assert target_of("/api/v10/users/@me") is None
    seen = observation_of(
        429, {"Retry-After": "3", "X-RateLimit-Scope": "shared", "X-RateLimit-Remaining": "0"}
    )
    assert seen == Observation(429, "shared", 3.0, 0, None)
    assert observation_of(200, {"X-RateLimit-Remaining": "bad"}).remaining is None


async def test_the_trace_config_learns_from_discord_py_against_a_limited_channel() -> None:
    """Real discord.py HTTPClient over HTTP; the fake channel passes 1 post per 0.6 s."""
    pressure = ChannelPressure(min_hold_s=30.0)
    with FakeDiscord(channel_rate=(1, 0.6)) as fake, patched_discord_py(fake):
        http = HTTPClient(asyncio.get_running_loop(), http_trace=pressure_trace_config(pressure))
        await http.static_login(fake.token)
        try:
            for i in range(2):
                with handle_message_parameters(content=f"hello {i}") as params:
                    await http.send_message(fake.channel_id, params=params)
            assert pressure.count_429 >= 1  # discord.py retried it; the trace saw the 429
            assert fake.count_429 == pressure.count_429
            assert pressure.held_until(fake.channel_id) is not None
            assert not pressure.try_acquire("job", fake.channel_id)
            assert len(fake.messages(fake.channel_id)) == 2
        finally:
            await http.close()


class _Recorder:
    def __init__(self) -> None:
        self.shown: list[Progress] = []

    async def show_progress(self, job: Job, progress: Progress) -> None:
        self.shown.append(progress)

    async def deliver(self, job: Job, delivery: object) -> list[int]:
        raise NotImplementedError

    async def show_failure(self, job: Job, outcome: JobOutcome) -> None:
        raise NotImplementedError


def make_job() -> Job:
    return Job(
        id="job-1",
        kind="imagine",
        guild_id=1,
        channel_id=CHANNEL,
        user_id=2,
        application_id=3,
        interaction_token=TOKEN,
        token_expires_at=5_000.0,
        request=GenerationRequest(prompt="a cat", size="1K"),
        provider="mock",
        image_cost=1,
        deadline_at=4_000.0,
        placeholder_message_id=77,
    )


async def until(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_the_reporter_takes_the_pressure_as_its_gate() -> None:
    job = make_job()
    clock = Clock()
    pressure = ChannelPressure(per_job_s=0.0, clock=clock)
    notifier = _Recorder()
    state = {"n": 0}
    looked = {"n": 0}

    def snapshot() -> tuple[Job, Progress]:
        looked["n"] += 1
        return job, Progress(phase="queued", provider_label="Mock", queue_position=state["n"])

    reporter = ProgressReporter(job, notifier, pressure, snapshot, tick_s=0.001)
    pressure.observe_channel(job.channel_id, shared_429(5.0))
    reporter.start()
    try:
        await until(lambda: looked["n"] >= 5)
        assert notifier.shown == []  # held: nothing sent
        clock.now += 5.0
        await until(lambda: len(notifier.shown) == 1)
        seen = looked["n"]
        await until(lambda: looked["n"] >= seen + 5)
        assert len(notifier.shown) == 1  # the same state is not sent twice
        with pressure.posting(job.channel_id):
            state["n"] = 1
            seen = looked["n"]
            await until(lambda: looked["n"] >= seen + 5)
            state["n"] = 2  # two changes while held: only the latest is shown after
            assert len(notifier.shown) == 1
        await until(lambda: len(notifier.shown) == 2)
    finally:
        await reporter.stop()
    assert [p.queue_position for p in notifier.shown] == [0, 2]


async def test_results_in_a_quiet_channel_go_together_without_waiting() -> None:
    pressure = ChannelPressure()
    inside = 0
    most = 0

    async def deliver() -> None:
        nonlocal inside, most
        async with pressure.delivering(CHANNEL):
            inside += 1
            most = max(most, inside)
            assert not pressure.try_acquire("progress", CHANNEL)  # progress stands aside
            await asyncio.sleep(0.05)
            inside -= 1

    await asyncio.wait_for(asyncio.gather(*(deliver() for _ in range(10))), 1.0)
    assert most == 10  # no turn-taking, no budget: all ten at once
    assert pressure.try_acquire("progress", CHANNEL)


async def test_after_discord_refuses_a_channel_its_results_take_turns_then_recover() -> None:
    clock = Clock(now=0.0)
    pressure = ChannelPressure(clock=clock, recovery_s=30.0)
    pressure.observe_channel(CHANNEL, shared_429(1.5))
    order: list[tuple[str, float]] = []
    inside = 0

    async def deliver(name: str) -> None:
        nonlocal inside
        async with pressure.delivering(CHANNEL):
            inside += 1
            assert inside == 1, "results in a refused channel go one at a time"
            order.append((name, clock.now))
            await asyncio.sleep(0)
            inside -= 1

    async def time_passes() -> None:
        while len(order) < 3:
            await asyncio.sleep(0.01)
            clock.now += 0.1

    await asyncio.wait_for(
        asyncio.gather(deliver("a"), deliver("b"), deliver("c"), time_passes()), 5
    )
    assert [name for name, _ in order] == ["a", "b", "c"]
    assert order[0][1] >= 1.5  # the first waited for the wait Discord asked for, no more needed
    assert not pressure._slowed(OTHER)  # another channel is not slowed
    clock.now += 31.0  # quiet for RECOVERY_S: back to all at once
    inside = 0
    order.clear()

    async def together(name: str) -> None:
        async with pressure.delivering(CHANNEL):
            order.append((name, clock.now))
            await asyncio.sleep(0.02)

    await asyncio.wait_for(asyncio.gather(*(together(str(i)) for i in range(5))), 1.0)
    assert len({at for _, at in order}) == 1  # none waited for another
