"""How running jobs learn their results: one request budget per host, bounded by each job's
deadline, and PixelDojo's webhook as a hint that makes a job look at once.

The real JobService, the real PixelDojo client against the fake PixelDojo (which calls a run's
`webhook_url` when the job ends), and the bot's own HTTP server answering the hooks.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.jobs.rig import Rig, new_job, running_service
from wanbot.config import PixelDojoConfig
from wanbot.http.hooks import HOOKS_PREFIX, WebhookRegistry
from wanbot.http.server import CallableProbe, HttpServer
from wanbot.jobs import tracking
from wanbot.jobs.polling import PollBudget
from wanbot.jobs.scheduler import Limits
from wanbot.metrics import Metrics
from wanbot.providers.pixeldojo import PixelDojoProvider
from wanbot.store.base import JobPhase

LIMITS = Limits(total=32, per_provider=32, per_user=32)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def status_gets(host: FakePixelDojo) -> list[tuple[str, float]]:
    """(job id, arrival) of every `GET /jobs/{id}` the fake answered."""
    return [
        (r.path.rsplit("/", 1)[1], r.at)
        for r in host.requests
        if r.method == "GET" and "/jobs/" in r.path
    ]


def client(host: FakePixelDojo, session: aiohttp.ClientSession) -> PixelDojoProvider:
    return PixelDojoProvider(
        PixelDojoConfig(base_url=host.base_url), api_key=host.api_key, session=session
    )


# -- the request budget --------------------------------------------------------------------------


async def test_all_jobs_of_a_host_share_its_poll_budget(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    rate = 4.0
    async with FakePixelDojo(job_duration_s=2.5) as host:
        budget = PollBudget({"pixeldojo": rate})
        async with running_service(
            tmp_path, {"pixeldojo": client(host, session)}, session, limits=LIMITS, polls=budget
        ) as rig:
            # With the expected 2.5 s each job alone would look several times a second near the
            # end; twelve together must stay within four a second.
            rig.service.providers.expected_s["pixeldojo"] = 2.5
            await rig.submit([new_job(i, "pixeldojo") for i in range(12)])
            await rig.finished(12, within_s=60)
    assert rig.notifier.failed == {}
    arrivals = sorted(at for _, at in status_gets(host))
    assert len(arrivals) >= 12
    # A token bucket of `rate` a second holding one second's worth: in any window of w seconds,
    # at most rate * (w + 1) requests (a little slack for the clock of two loops).
    for i, start in enumerate(arrivals):
        within = [t for t in arrivals[i:] if t - start < 2.0]
        assert len(within) <= rate * 3 + 1, f"{len(within)} status requests in 2 s"


async def test_a_job_waiting_for_its_turn_still_ends_at_its_deadline(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with FakePixelDojo(job_duration_s=0.2) as host:
        host.never_finish = True
        budget = PollBudget({"pixeldojo": 0.2})  # one look every five seconds, for everyone
        async with running_service(
            tmp_path, {"pixeldojo": client(host, session)}, session, limits=LIMITS, polls=budget
        ) as rig:
            jobs = [new_job(i, "pixeldojo", deadline_s=2.0) for i in range(3)]
            started = time.monotonic()
            await rig.submit(jobs)
            await rig.finished(3, within_s=20)
            took = time.monotonic() - started
            stored = [await rig.store.get_job(job.id) for job in jobs]
    assert [j.state for j in stored if j is not None] == [JobPhase.FAILED] * 3
    assert set(rig.notifier.failed.values()) == {"it took longer than this bot waits"}
    assert took < 10, "a wait for the budget outlived the deadline"
    assert len(status_gets(host)) <= 2  # the one saved-up token, maybe a second


# -- webhooks ------------------------------------------------------------------------------------


@dataclass
class Listener:
    registry: WebhookRegistry
    server: HttpServer

    @property
    def url(self) -> str:
        return self.server.base_url


@contextlib.asynccontextmanager
async def listening() -> AsyncIterator[Listener]:
    registry = WebhookRegistry()
    probe = CallableProbe(lambda: True, lambda: True, lambda: True)
    async with HttpServer("127.0.0.1", 0, metrics=Metrics(), probe=probe, hooks=registry) as server:
        yield Listener(registry, server)


@contextlib.asynccontextmanager
async def hooked_service(
    tmp_path: Path, host: FakePixelDojo, session: aiohttp.ClientSession, listener: Listener
) -> AsyncIterator[Rig]:
    async with running_service(
        tmp_path,
        {"pixeldojo": client(host, session)},
        session,
        limits=LIMITS,
        hooks=listener.registry,
        public_url=listener.url,
    ) as rig:
        yield rig


async def test_a_push_makes_the_job_look_once_and_finish(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with FakePixelDojo(job_duration_s=1.0) as host, listening() as listener:
        base = listener.url
        async with hooked_service(tmp_path, host, session, listener) as rig:
            jobs = [new_job(i, "pixeldojo") for i in range(5)]
            await rig.submit(jobs)
            await rig.finished(5, within_s=30)
        assert len(listener.registry) == 0  # every hook closed with its job
    assert rig.notifier.failed == {}
    runs = host.submissions("/run")
    hooks = [r.body["webhook_url"] for r in runs]
    assert len(set(hooks)) == 5, "one hook per job"
    assert all(url.startswith(base + HOOKS_PREFIX + "/pixeldojo/") for url in hooks)
    assert all(len(url.rsplit("/", 1)[1]) >= 43 for url in hooks)  # 256 bits, url-safe
    assert [p.status for p in host.pushes] == [200] * 5
    # Nothing polled before the push (the first guess is 40 s; the safety net 30 s), and each
    # push brought exactly one look, which found the job done.
    per_job = collections.Counter(job_id for job_id, _ in status_gets(host))
    assert sorted(per_job.values()) == [1] * 5
    pushed_at = {p.job_id: p.at for p in host.pushes}
    assert all(at >= pushed_at[job_id] for job_id, at in status_gets(host))


async def test_a_lost_push_leaves_polling_as_the_safety_net(
    tmp_path: Path, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracking, "SAFETY_NET_S", 1.0)
    async with FakePixelDojo(job_duration_s=0.3) as host, listening() as listener:
        host.drop_pushes = True
        async with hooked_service(tmp_path, host, session, listener) as rig:
            await rig.submit([new_job(0, "pixeldojo")])
            await rig.finished(1, within_s=20)
    assert len(rig.notifier.delivered) == 1
    assert host.pushes == []
    assert len(status_gets(host)) >= 1


async def test_forged_repeated_and_early_calls_change_nothing(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with FakePixelDojo(job_duration_s=1.5) as host, listening() as listener:
        host.drop_pushes = True  # the calls below are the only ones
        async with hooked_service(tmp_path, host, session, listener) as rig:
            job = new_job(0, "pixeldojo")
            await rig.submit([job])
            await _until(lambda: bool(host.submissions("/run")))
            hook_url = host.submissions("/run")[0].body["webhook_url"]
            token = hook_url.rsplit("/", 1)[1]
            forged = [
                f"{listener.url}{HOOKS_PREFIX}/pixeldojo/{'A' * len(token)}",
                f"{listener.url}{HOOKS_PREFIX}/dashscope/{token}",
                f"{listener.url}{HOOKS_PREFIX}/pixeldojo/{token}x",
            ]
            for url in forged:
                async with session.post(url, json={"status": "completed"}) as resp:
                    assert resp.status == 404
            assert status_gets(host) == []  # a forged call makes the bot ask nothing
            # A call on the real hook before the job is done is a hint: one look, "processing".
            async with session.post(hook_url, json={"status": "completed"}) as resp:
                assert resp.status == 200
            await _until(lambda: len(status_gets(host)) == 1)
            stored = await rig.store.get_job(job.id)
            assert stored is not None and stored.state is JobPhase.RUNNING
            # Repeated: no new look (the hook took its one push).
            for _ in range(3):
                async with session.post(hook_url, json={"status": "completed"}) as resp:
                    assert resp.status == 200
            await _tick(0.3)
            assert len(status_gets(host)) == 1
            # The job goes on polling and ends once, when the host says so.
            await rig.finished(1, within_s=30)
            await _until(lambda: len(listener.registry) == 0)
            async with session.post(hook_url, json={"status": "completed"}) as resp:
                assert resp.status == 404  # closed with its job
            done = await rig.store.get_job(job.id)
    assert done is not None and done.state is JobPhase.DONE
    assert list(rig.notifier.delivered) == [job.id]
    assert len(host.submissions("/run")) == 1


async def _tick(seconds: float = 0.02) -> None:
    await asyncio.sleep(seconds)


async def _until(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await _tick()
