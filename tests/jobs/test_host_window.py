"""A host that answers 429 above N jobs in flight: the bot finds N and every job is delivered.

The real JobService and the real PixelDojo client (its own in-place retries included) against
the fake PixelDojo with room for HOST_ROOM unfinished jobs; a refused submission goes back to
the queue (`submitting` → `queued`), never fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.jobs.rig import new_job, running_service
from wanbot.config import PixelDojoConfig
from wanbot.jobs.polling import PollBudget
from wanbot.jobs.ports import Progress
from wanbot.jobs.run import CancelResult, JobRun
from wanbot.jobs.scheduler import DEFAULT_HOST_FLOOR, Limits
from wanbot.providers.http import RetryPolicy
from wanbot.providers.pixeldojo import PixelDojoProvider
from wanbot.store.base import JobPhase

HOST_ROOM = 4
JOBS = 30


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_a_capped_host_gets_every_job_and_the_window_settles_near_its_room(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with FakePixelDojo(job_duration_s=0.4) as host:
        host.max_in_flight = HOST_ROOM
        host.busy_retry_after_s = 0.2
        provider = PixelDojoProvider(
            PixelDojoConfig(base_url=host.base_url), api_key=host.api_key, session=session
        )
        limits = Limits(total=64, per_provider=16, per_user=4, host_floor=DEFAULT_HOST_FLOOR)
        # Status requests are not what this is about: a budget that never makes a job wait.
        polls = PollBudget({"pixeldojo": 100.0})
        async with running_service(
            tmp_path, {"pixeldojo": provider}, session, limits=limits, polls=polls
        ) as rig:
            windows: list[tuple[int, int]] = []  # (cuts so far, window)

            async def watch() -> None:
                while True:
                    figures = rig.service.scheduler.host_figures("pixeldojo")
                    windows.append((int(figures["cuts"]), int(figures["window"])))
                    await asyncio.sleep(0.02)

            watcher = asyncio.create_task(watch())
            try:
                jobs = [new_job(i, "pixeldojo") for i in range(JOBS)]
                await rig.submit(jobs)
                await rig.finished(JOBS, within_s=90)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            stored = [await rig.store.get_job(job.id) for job in jobs]

    assert rig.notifier.failed == {}
    assert len(rig.notifier.delivered) == JOBS
    assert all(job is not None and job.state is JobPhase.DONE for job in stored)
    assert host.refused_busy > 0, "the host's room was never reached"
    assert host.peak_in_flight == HOST_ROOM
    # Each job was submitted until the host took it, and taken exactly once.
    assert len(host.jobs) == JOBS
    # The window found the room: cut when it ran into it, never far above it after.
    after_first_cut = [size for cuts, size in windows if cuts > 0]
    assert after_first_cut, "the window was never cut"
    assert max(after_first_cut) <= 2 * HOST_ROOM
    assert min(after_first_cut) >= DEFAULT_HOST_FLOOR
    # Refusals are a fraction of the work, not a storm (each job is refused at most a few times).
    assert host.refused_busy < JOBS


async def test_a_refused_job_goes_back_in_line_and_shows_its_place(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with FakePixelDojo(job_duration_s=0.6) as host:
        host.max_in_flight = 1
        host.busy_retry_after_s = 0.3
        provider = PixelDojoProvider(
            PixelDojoConfig(base_url=host.base_url),
            api_key=host.api_key,
            session=session,
            retry=RetryPolicy(attempts=1),  # the job layer hears of the first refusal
        )
        limits = Limits(total=8, per_provider=8, per_user=8, host_floor=2)
        async with running_service(
            tmp_path, {"pixeldojo": provider}, session, limits=limits
        ) as rig:
            shown: list[Progress | None] = []
            requeue = rig.service.requeue

            states: list[JobPhase | None] = []

            def requeue_and_look(run: JobRun) -> None:
                requeue(run)
                shown.append(run.progress())
                states.append(None)  # filled in below, from the row itself
                asyncio.get_running_loop().create_task(look(run.job.id, len(states) - 1))

            async def look(job_id: str, index: int) -> None:
                stored = await rig.store.get_job(job_id)
                states[index] = None if stored is None else stored.state

            rig.service.requeue = requeue_and_look  # type: ignore[method-assign]
            jobs = [new_job(i, "pixeldojo") for i in range(3)]
            await rig.submit(jobs)
            await rig.finished(3, within_s=30)
    assert host.refused_busy > 0 and shown, "no submission was refused"
    assert all(p is not None and p.phase == "queued" and p.queue_position for p in shown)
    # The row went back to queued (read before the job's turn came again, or after it ran).
    assert JobPhase.QUEUED in states
    assert rig.notifier.failed == {}
    assert len(rig.notifier.delivered) == 3
    assert len(host.jobs) == 3


async def test_a_job_cancelled_while_it_goes_back_in_line_is_refunded(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with FakePixelDojo(job_duration_s=5.0) as host:
        host.max_in_flight = 0  # every submission refused: the job goes back in line
        provider = PixelDojoProvider(
            PixelDojoConfig(base_url=host.base_url),
            api_key=host.api_key,
            session=session,
            retry=RetryPolicy(attempts=1),
        )
        limits = Limits(total=8, per_provider=8, per_user=8, host_floor=2)
        async with running_service(
            tmp_path, {"pixeldojo": provider}, session, limits=limits
        ) as rig:
            reached = asyncio.Event()
            go_on = asyncio.Event()
            requeue = rig.store.mark_requeued

            async def slow_requeue(job_id: str) -> bool:
                reached.set()
                await go_on.wait()
                return await requeue(job_id)

            rig.store.mark_requeued = slow_requeue  # type: ignore[method-assign]
            job = new_job(0, "pixeldojo")
            await rig.submit([job])
            await asyncio.wait_for(reached.wait(), 10)
            assert await rig.service.cancel(job.id) == CancelResult.CANCELLING
            go_on.set()
            await rig.finished(1, within_s=10)
            stored = await rig.store.get_job(job.id)
            held = await rig.store.held_credits(job.guild_id, job.user_id)
    assert stored is not None and stored.state is JobPhase.CANCELLED
    assert rig.notifier.failed == {job.id: "cancelled"}
    assert held == 0
    assert job.id not in rig.service.live
