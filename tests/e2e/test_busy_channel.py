"""A busy channel: 100 jobs in one channel are all delivered, and no delivery waits on a progress
edit (issue 11). Not timed: what is checked is who went first, not how fast.

Progress edits are made slow on purpose (the fake holds each one for EDIT_HOLD_S before it
answers), so a delivery that waited for a progress edit in flight when it started would reach the
fake only after that edit was answered. Each delivery must reach it before every such edit is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from cogs.client import WanBot
from tests.conftest import leaked, remember_secret
from tests.e2e.harness import running_bot
from tests.fakes.discord_server import _BODY, FakeDiscord
from wanbot.jobs.pacing import ChannelPressure
from wanbot.jobs.ports import Delivery, JobOutcome, Notifier, Progress
from wanbot.store.base import Job, JobPhase

JOBS = 100
MEMBERS = 25
EDIT_HOLD_S = 1.5
GENERATION = """
max_concurrent_jobs = 64
max_jobs_per_provider = 32
max_running_per_user = 4
max_queued_per_user = 10
"""


class SlowEditsDiscord(FakeDiscord):
    """No channel limit; a webhook edit without files (a progress edit) answers late."""

    async def _h_webhook_message(self, request: web.Request) -> web.StreamResponse:
        if request.method == "PATCH" and not request[_BODY].uploads:
            await asyncio.sleep(EDIT_HOLD_S)
        return await super()._h_webhook_message(request)


@dataclass
class Edit:
    job_id: str
    started: float
    ended: float | None = None
    answered: bool = False  # False: cut short (its job moved on to its delivery)


@dataclass
class DeliveryStart:
    job: Job
    started: float
    in_flight: list[Edit]  # progress edits of any job in the channel, unfinished at the start
    posting: int  # results being posted in the channel at the start, this one included


@dataclass
class WatchingNotifier:
    """The bot's own notifier, with every progress edit and delivery start written down."""

    inner: Notifier
    pressure: ChannelPressure
    edits: list[Edit] = field(default_factory=list)
    deliveries: list[DeliveryStart] = field(default_factory=list)

    async def show_progress(self, job: Job, progress: Progress) -> None:
        edit = Edit(job.id, time.monotonic())
        self.edits.append(edit)
        try:
            await self.inner.show_progress(job, progress)
            edit.answered = True
        finally:
            edit.ended = time.monotonic()

    async def deliver(self, job: Job, delivery: Delivery) -> list[int]:
        in_flight = [e for e in self.edits if e.ended is None]
        posting = self.pressure._posting.get(job.channel_id, 0)
        self.deliveries.append(DeliveryStart(job, time.monotonic(), in_flight, posting))
        return await self.inner.deliver(job, delivery)

    async def show_failure(self, job: Job, outcome: JobOutcome) -> None:
        await self.inner.show_failure(job, outcome)


@dataclass
class GateSpy:
    """Every answer the progress gate gave, with whether a result was being posted then."""

    refused_while_posting: int = 0
    granted_while_posting: int = 0
    granted: int = 0


def watch(bot: WanBot, spies: list[tuple[WatchingNotifier, GateSpy]]) -> None:
    pressure = bot.services.pressure
    port = bot.services.notifier
    assert port.target is not None
    notifier = WatchingNotifier(port.target, pressure)
    port.target = notifier
    spy = GateSpy()
    ask = pressure.try_acquire

    def try_acquire(job_id: str, channel_id: int) -> bool:
        posting = pressure._posting.get(channel_id, 0) > 0
        granted = ask(job_id, channel_id)
        spy.granted += granted
        if posting:
            spy.granted_while_posting += granted
            spy.refused_while_posting += not granted
        return granted

    pressure.try_acquire = try_acquire  # type: ignore[method-assign]
    spies.append((notifier, spy))


@pytest.fixture
def fake() -> Iterator[SlowEditsDiscord]:
    fake = SlowEditsDiscord()
    for i in range(MEMBERS):
        fake.add_member(f"member{i}")
    with fake:
        remember_secret(fake.token)
        yield fake
        shown = [m.content for m in fake.messages(include_deleted=True)]
    assert [text for text in shown if leaked(text)] == [], "a secret reached Discord"


async def test_a_hundred_jobs_in_one_channel_all_delivered_none_waiting_on_progress(
    fake: SlowEditsDiscord, tmp_path: Path
) -> None:
    spies: list[tuple[WatchingNotifier, GateSpy]] = []
    async with running_bot(
        fake,
        tmp_path,
        extra_toml="[credits]\nallowance = 100000\n",
        generation=GENERATION,
        mock_delay=1.0,
        configure=lambda bot: watch(bot, spies),
    ) as h:
        handles = await asyncio.gather(
            *(h.imagine(f"busy {i}", user=f"member{i % MEMBERS}", size="1K") for i in range(JOBS))
        )
        jobs = [await h.job_for(handle) for handle in handles]
        done = [await h.wait_job(job.id, within_s=120.0) for job in jobs]
        requests = fake.requests
        messages = {j.id: fake.message(j.message_ids[0]) for j in done if j.message_ids}
    ((notifier, spy),) = spies

    assert [j.state for j in done] == [JobPhase.DONE] * JOBS
    assert all(messages[j.id].attachments for j in done), "every result carries its image"
    assert {j.channel_id for j in done} == {fake.channel_id}
    assert fake.count_429 == 0

    # Every delivery went out inside `posting`, and progress stood aside meanwhile.
    assert len(notifier.deliveries) == JOBS
    assert all(d.posting >= 1 for d in notifier.deliveries)
    assert spy.granted_while_posting == 0
    assert spy.refused_while_posting > 0, "no progress edit was ever asked for during a delivery"

    # No delivery waited on a progress edit: each reached Discord before every progress edit
    # that was in flight when it started had been answered (each is held EDIT_HOLD_S).
    arrived = {
        r.path.split("/")[3]: r.time
        for r in requests
        if r.method == "PATCH" and r.path.startswith("/webhooks/") and r.files
    }
    overtaken = 0
    for start in notifier.deliveries:
        token = start.job.interaction_token
        assert token in arrived, "the result went out through the interaction's webhook"
        assert all(e.job_id != start.job.id for e in start.in_flight), "its own edit was stopped"
        for edit in start.in_flight:
            assert edit.ended is not None
            # An edit near its answer may end while the result is on its way: only edits with
            # half their hold still to go when the delivery started tell a wait from a race.
            if edit.answered and edit.started > start.started - EDIT_HOLD_S / 2:
                assert arrived[token] < edit.ended, "a delivery waited for a progress edit"
                overtaken += 1
    assert overtaken >= 10, "too few deliveries met a progress edit in flight to tell"
    assert spy.granted >= 50  # progress was shown along the way
