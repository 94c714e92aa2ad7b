"""Several job services on one PostgreSQL database, each as `bot.py` composes it (build_services):
a process that dies leaves its jobs to a live one, which finishes each exactly once; a process
that stops hands its jobs over at once; SQLite keeps the single-process path."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest

from tests.store.backends import PostgresPlace
from tests.store.faults import assert_ledger_consistent
from wanbot.admission import RefusalNotice
from wanbot.app import Services, build_services
from wanbot.config import load_config
from wanbot.fetch import InputFetcher
from wanbot.jobs.leases import LeaseKeeper, LeaseSettings
from wanbot.jobs.ports import Delivery, JobOutcome, Progress
from wanbot.jobs.scheduler import Limits
from wanbot.providers.models import GenerationRequest
from wanbot.store import (
    Budget,
    Job,
    JobPhase,
    JobStateError,
    LeaseLost,
    NewJob,
    SpendCaps,
    Store,
)
from wanbot.store.postgres import PostgresStore
from wanbot.store.url import open_store

T = TypeVar("T")
GUILD = 1
FUNDS = 100
COST = 2


class RecordingNotifier:
    """The Notifier port without Discord, shared by every process: what reached members."""

    def __init__(self) -> None:
        self.delivered: Counter[str] = Counter()
        self.failed: dict[str, str] = {}
        self.by: dict[str, str] = {}

    async def show_progress(self, job: Job, progress: Progress) -> None:
        return None

    async def deliver(self, job: Job, delivery: Delivery) -> list[int]:
        self.delivered[job.id] += 1
        return [len(self.delivered)]

    async def show_failure(self, job: Job, outcome: JobOutcome) -> None:
        self.failed[job.id] = outcome.log_text


class SilentAudit:
    def refused(self, channel_id: int, notice: RefusalNotice) -> None:
        return None


@dataclass
class Process:
    name: str
    store: Store
    session: aiohttp.ClientSession
    services: Services

    @property
    def worker_id(self) -> str:
        assert self.services.jobs.leases is not None
        return self.services.jobs.leases.worker_id


def write_config(tmp_path: Path, url: str, delay_s: float) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[storage]
url = "{url}"

[generation]
data_dir = "{tmp_path / "data"}"
max_concurrent_jobs = 2

[providers.mock]
delay_s = {delay_s}
"""
    )
    return path


@contextlib.asynccontextmanager
async def processes(
    url: str, tmp_path: Path, notifier: RecordingNotifier, lease: LeaseSettings | None = None
) -> AsyncIterator[list[Process]]:
    config = load_config(write_config(tmp_path, url, delay_s=0.5), env={})
    started: list[Process] = []

    async def start(name: str) -> Process:
        store = await open_store(url)
        session = aiohttp.ClientSession()
        data_dir = Path(config.settings.generation.data_dir)
        # No edits here: the input fetcher is never opened.
        inputs = InputFetcher(config.settings.discord.api_base_url, data_dir)
        services = build_services(config, session, store, data_dir, inputs)
        services.plug(notifier, SilentAudit())
        jobs = services.jobs
        if lease is not None and jobs.leases is not None:
            worker = f"{name}-{uuid.uuid4().hex[:4]}"
            jobs.leases = LeaseKeeper(
                jobs, LeaseSettings(worker, lease_s=lease.lease_s, scan_s=lease.scan_s)
            )
        await jobs.start()
        process = Process(name, store, session, services)
        started.append(process)
        return process

    try:
        yield [await start("a"), await start("b")]
    finally:
        for process in started:
            with contextlib.suppress(Exception):
                await process.services.jobs.stop()
            await process.session.close()
            with contextlib.suppress(Exception):
                await process.store.close()


async def crash(process: Process) -> None:
    """As SIGKILL leaves things: no task runs another line, no lease is given back, the
    database keeps whatever was committed."""
    jobs = process.services.jobs
    jobs.stopping = True  # the runs' cleanup must not touch the database any more
    assert jobs.leases is not None
    for loop in jobs.leases._loops:
        await loop.stop()
    if jobs._dispatcher is not None:
        await jobs._dispatcher.stop()
    for run in list(jobs.live.values()):
        if run.task is not None:
            run.task.cancel()
        if run.reporter is not None:
            await run.stop_reporting()
    store = process.store
    assert isinstance(store, PostgresStore)
    store.database.pool.terminate()  # every session ends: what was not committed never is
    for run in list(jobs.live.values()):
        if run.task is not None:
            with contextlib.suppress(BaseException):
                await run.task
    jobs.live.clear()


def new_job(index: int, user: int) -> NewJob:
    return NewJob(
        id=f"job-{index:02d}-{uuid.uuid4().hex[:6]}",
        kind="imagine",
        guild_id=GUILD,
        channel_id=5,
        user_id=user,
        application_id=9,
        interaction_token=f"token-{index}",
        token_expires_at=time.time() + 900,
        request=GenerationRequest(prompt=f"job {index}", seed=index),
        provider="mock",
        image_cost=COST,
        deadline_at=time.time() + 120,
    )


async def admit(process: Process, count: int) -> list[NewJob]:
    admitted = []
    for i in range(count):
        job = new_job(i, user=100 + i % 3)
        budget = Budget(allowance=FUNDS, period_key="p")
        await process.store.admit_job(job, budget, SpendCaps(day_start=0.0), 10)
        await process.services.jobs.enqueue(job, placeholder_message_id=1000 + i)
        admitted.append(job)
    return admitted


async def until(
    look: Callable[[], Awaitable[T]], good: Callable[[T], bool], within_s: float = 15
) -> T:
    deadline = time.monotonic() + within_s
    while not good(found := await look()):
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)
    return found


async def until_ended(store: Store, ids: list[str], within_s: float) -> float:
    started = time.monotonic()
    while True:
        states = [await store.get_job(i) for i in ids]
        if all(s is not None and s.state.terminal for s in states):
            return time.monotonic() - started
        if time.monotonic() - started > within_s:
            raise AssertionError(f"not ended in {within_s} s: {[s and s.state for s in states]}")
        await asyncio.sleep(0.1)


async def assert_settled_exactly(place: PostgresPlace, store: Store, ids: list[str]) -> None:
    await assert_ledger_consistent(place)
    spent = 0
    for job_id in ids:
        job = await store.get_job(job_id)
        assert job is not None
        if job.state is JobPhase.DONE:
            spent += COST * (job.images_delivered or 0)
    balances = sum([await store.balance(GUILD, user) for user in (100, 101, 102)])
    assert balances == 3 * FUNDS - spent  # to the unit


@pytest.fixture
async def place(postgres_dsn: str) -> AsyncIterator[PostgresPlace]:
    created = await PostgresPlace.create(postgres_dsn)
    try:
        yield created
    finally:
        await created.drop()


async def test_a_dead_processs_jobs_are_taken_over_and_finished_once(
    place: PostgresPlace, tmp_path: Path
) -> None:
    notifier = RecordingNotifier()
    fast = LeaseSettings("unused", lease_s=3.0, scan_s=0.5)
    async with processes(place.url, tmp_path, notifier, fast) as (a, b):
        ids = [job.id for job in await admit(a, 6)]
        # a runs two at a time (max_concurrent_jobs = 2), the rest wait in its queue.
        await until(lambda: a.store.jobs_in([JobPhase.RUNNING]), lambda found: len(found) == 2)
        running = {j.id for j in await a.store.jobs_in([JobPhase.RUNNING])}
        await crash(a)
        died = time.monotonic()
        while True:  # until b holds every unfinished job
            left = await b.store.jobs_in([JobPhase.QUEUED, JobPhase.RUNNING, JobPhase.DELIVERING])
            if all(j.worker_id == b.worker_id for j in left):
                break
            await asyncio.sleep(0.05)
        # Within a lease and a scan of a's death (the issue asks 15 s with the default 10 + 2).
        assert time.monotonic() - died < fast.lease_s + fast.scan_s + 2
        await until_ended(b.store, ids, within_s=60)
        for job_id in ids:
            job = await b.store.get_job(job_id)
            assert job is not None and job.state is JobPhase.DONE, (job_id, job and job.state)
            assert job.worker_id == b.worker_id  # b finished every one of them
        assert notifier.delivered == Counter(dict.fromkeys(ids, 1))  # each delivered once
        assert notifier.failed == {}
        mock_jobs = list((tmp_path / "data" / "mock").glob("mock-*.json"))
        assert len(mock_jobs) == len(ids)  # each submitted once: the running ones tracked again
        taken = [await b.store.get_job(i) for i in running]
        assert all(t is not None and t.submitted_at is not None for t in taken)
        await assert_settled_exactly(place, b.store, ids)


async def test_a_stopping_process_hands_its_jobs_over_at_once(
    place: PostgresPlace, tmp_path: Path
) -> None:
    notifier = RecordingNotifier()
    # Leases long and scans rare: only the release (and its NOTIFY) can explain a quick takeover.
    slow = LeaseSettings("unused", lease_s=120.0, scan_s=60.0)
    async with processes(place.url, tmp_path, notifier, slow) as (a, b):
        ids = [job.id for job in await admit(a, 4)]
        await until(lambda: a.store.jobs_in([JobPhase.RUNNING]), bool)
        await a.services.jobs.stop()
        handed = time.monotonic()
        while True:
            held = {j.worker_id for j in await b.store.jobs_in([JobPhase.QUEUED, JobPhase.RUNNING])}
            if held <= {b.worker_id}:
                break
            assert time.monotonic() - handed < 5, held
            await asyncio.sleep(0.05)
        await until_ended(b.store, ids, within_s=60)
        assert notifier.delivered == Counter(dict.fromkeys(ids, 1))
        await assert_settled_exactly(place, b.store, ids)


async def test_a_job_found_submitting_is_refunded_not_submitted_again(
    place: PostgresPlace, tmp_path: Path
) -> None:
    notifier = RecordingNotifier()
    fast = LeaseSettings("unused", lease_s=2.0, scan_s=0.3)
    async with processes(place.url, tmp_path, notifier, fast) as (a, b):
        a.services.jobs.scheduler.limits = Limits(total=0, per_provider=0, per_user=0)
        (job,) = await admit(a, 1)  # a never starts it (no capacity)
        assert await a.store.mark_submitting(job.id)  # ... as if a died mid-submission
        await crash(a)
        await until_ended(b.store, [job.id], within_s=15)
        stored = await b.store.get_job(job.id)
        assert stored is not None and stored.state is JobPhase.FAILED
        assert job.id in notifier.failed and notifier.delivered == Counter()
        assert not list((tmp_path / "data" / "mock").glob("mock-*.json"))
        assert await b.store.balance(GUILD, job.user_id) == FUNDS  # refunded to the unit
        await assert_ledger_consistent(place)


async def test_sqlite_keeps_one_process_and_no_leases(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, f"sqlite:///{tmp_path / 'w.db'}", 0.1), env={})
    store = await open_store(config.settings.storage.url)
    try:
        async with aiohttp.ClientSession() as session:
            inputs = InputFetcher(config.settings.discord.api_base_url, tmp_path / "data")
            services = build_services(config, session, store, tmp_path / "data", inputs)
            assert services.jobs.leases is None
    finally:
        await store.close()


async def test_a_process_that_lost_its_lease_cannot_move_the_job(place: PostgresPlace) -> None:
    """a stalls past its lease and b claims the job: a's transitions are refused (LeaseLost)
    at every step, b's go through, and the ledger settles once, by b."""
    a, b = await place.open(), await place.open()
    try:
        a.lease_new_jobs_to("worker-a", 30.0)
        b.lease_new_jobs_to("worker-b", 30.0)
        job = new_job(1, user=100)
        await a.admit_job(job, Budget(allowance=FUNDS, period_key="p"), SpendCaps(0.0), 10)
        assert await a.mark_submitting(job.id)
        await place.execute("UPDATE jobs SET lease_until = 0 WHERE id = ?", (job.id,))  # a stalled
        (claimed,) = await b.claim_jobs("worker-b", [JobPhase.SUBMITTING], 10, 30.0)
        assert claimed.id == job.id and claimed.worker_id == "worker-b"

        with pytest.raises(LeaseLost):
            await a.mark_running(job.id, "mock", "host-1")
        await b.mark_running(job.id, "mock", "host-1")
        with pytest.raises(LeaseLost):
            await a.mark_delivering(job.id, ["https://cdn/x.png"], None)
        await b.mark_delivering(job.id, ["https://cdn/x.png"], None)
        with pytest.raises(LeaseLost):
            await a.settle_delivered(job.id, [1], 1)
        assert await a.renew_leases("worker-a", [job.id], 30.0) == set()
        settled = await b.settle_delivered(job.id, [2], 1)
        assert settled.captured == COST
        done = await b.get_job(job.id)
        assert done is not None and done.state is JobPhase.DONE and done.message_ids == (2,)
        assert await b.balance(GUILD, 100) == FUNDS - COST
        await assert_ledger_consistent(place)
        # A job in the wrong state is still a plain JobStateError for its holder.
        with pytest.raises(JobStateError) as refused:
            await b.mark_running(job.id, "mock", "host-2")
        assert not isinstance(refused.value, LeaseLost)
    finally:
        await a.close()
        await b.close()


async def test_a_run_that_lost_its_lease_stops_quietly(
    place: PostgresPlace, tmp_path: Path
) -> None:
    """a's run is mid-job when b takes the job over: a neither delivers nor settles nor tells
    the member anything; b finishes it once."""
    notifier = RecordingNotifier()
    slow = LeaseSettings("unused", lease_s=60.0, scan_s=60.0)
    async with processes(place.url, tmp_path, notifier, slow) as (a, b):
        (job,) = await admit(a, 1)
        await until(lambda: a.store.jobs_in([JobPhase.RUNNING]), bool)
        assert a.services.jobs.leases is not None and b.services.jobs.leases is not None
        for loop in a.services.jobs.leases._loops:  # a stalls: it renews no more
            await loop.stop()
        await place.execute("UPDATE jobs SET lease_until = 0 WHERE id = ?", (job.id,))
        await b.services.jobs.leases.take_over()
        await until_ended(b.store, [job.id], within_s=15)
        await until(lambda: asyncio.sleep(0, a.services.jobs.live), lambda live: not live)
        stored = await b.store.get_job(job.id)
        assert stored is not None
        assert stored.state is JobPhase.DONE, stored.error
        assert stored.worker_id == b.worker_id
        assert notifier.delivered == Counter({job.id: 1}) and notifier.failed == {}
        assert len(list((tmp_path / "data" / "mock").glob("mock-*.json"))) == 1  # submitted once
        assert await b.store.balance(GUILD, job.user_id) == FUNDS - COST  # to the unit
        await assert_ledger_consistent(place)
