"""The domain's job pipeline without Discord: a real SQLite file, the real Admission and
JobService, the offline mock host (and scripted hosts where a test needs one to misbehave), and a
notifier that records what a member would have been shown."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from wanbot.admission import (
    Admission,
    Admitted,
    Ask,
    Limits,
    RefusalNotice,
    ReplyHandle,
    Requester,
)
from wanbot.config import CreditsConfig, MockConfig
from wanbot.credits import CreditPolicy
from wanbot.jobs.fitting import Downloader
from wanbot.jobs.pacing import ChannelPressure
from wanbot.jobs.ports import Delivery, JobOutcome, Progress
from wanbot.jobs.scheduler import Limits as RunLimits
from wanbot.jobs.service import JobService
from wanbot.moderation import Moderator, Refused
from wanbot.providers.base import Provider
from wanbot.providers.capabilities import Capabilities
from wanbot.providers.errors import ProviderError
from wanbot.providers.mock import MockProvider
from wanbot.providers.models import GenerationRequest, JobState, JobStatus, ResultImage
from wanbot.providers.registry import ProviderSet
from wanbot.store.base import Job, JobPhase
from wanbot.store.sqlite import SQLiteStore

GUILD = 1
CHANNEL = 2
USER = 10
ALLOWANCE = 50
MOCK_DELAY_S = 0.05


class RecordingNotifier:
    """A Notifier that keeps what it was asked to show; `deliver` can be made to fail."""

    def __init__(self) -> None:
        self.progress: list[tuple[str, Progress]] = []
        self.deliveries: dict[str, list[Delivery]] = {}
        self.failures: dict[str, list[JobOutcome]] = {}
        self.failing_deliveries = 0  # how many deliver() calls raise before one succeeds
        self.delivered_files: dict[str, list[bytes]] = {}
        self._ids = itertools.count(1000)

    async def show_progress(self, job: Job, progress: Progress) -> None:
        self.progress.append((job.id, progress))

    async def deliver(self, job: Job, delivery: Delivery) -> list[int]:
        if self.failing_deliveries:
            self.failing_deliveries -= 1
            raise ConnectionResetError("the chat platform went away")
        self.deliveries.setdefault(job.id, []).append(delivery)
        # The files are removed once the job is settled: keep their bytes now.
        self.delivered_files[job.id] = [f.path.read_bytes() for f in delivery.files]
        return [next(self._ids)]

    async def show_failure(self, job: Job, outcome: JobOutcome) -> None:
        self.failures.setdefault(job.id, []).append(outcome)


class RecordingAudit:
    def __init__(self) -> None:
        self.refusals: list[Refused] = []

    def refused(self, channel_id: int, notice: RefusalNotice) -> None:
        self.refusals.append(notice.refusal)


class ScriptedHost(Provider):
    """An image host a test steers: it may refuse submissions, never finish, be slow to cancel."""

    name: ClassVar[str] = "scripted"
    capabilities: ClassVar[Capabilities] = Capabilities(label="Scripted")

    def __init__(self) -> None:
        self.submit_error: ProviderError | None = None
        self.status_error: ProviderError | None = None
        self.state = JobState.RUNNING
        self.images: tuple[ResultImage, ...] = ()  # what a SUCCEEDED status carries
        self.submitted: list[GenerationRequest] = []
        self.polls = 0
        self.cancels: list[str] = []
        self.cancel_gate: asyncio.Event | None = None  # cancel() waits for it when set
        self.cancel_started = asyncio.Event()

    async def submit(self, request: GenerationRequest) -> JobStatus:
        if self.submit_error is not None:
            raise self.submit_error
        self.submitted.append(request)
        return JobStatus(job_id=f"{self.name}-{len(self.submitted)}", state=JobState.QUEUED)

    async def get_status(self, job_id: str) -> JobStatus:
        self.polls += 1
        if self.status_error is not None:
            raise self.status_error
        return JobStatus(job_id=job_id, state=self.state, images=self.images)

    async def cancel(self, job_id: str) -> bool:
        self.cancels.append(job_id)
        self.cancel_started.set()
        if self.cancel_gate is not None:
            await self.cancel_gate.wait()
        return True


class SwitchedHost(ScriptedHost):
    """A scripted host that has a safety checker switch."""

    name: ClassVar[str] = "switched"
    capabilities: ClassVar[Capabilities] = Capabilities(label="Switched", safety_checker=True)


@dataclass
class Kit:
    store: SQLiteStore
    providers: ProviderSet
    notifier: RecordingNotifier
    audit: RecordingAudit
    admission: Admission
    service: JobService
    prices: dict[str, int]
    tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def admit(
        self,
        prompt: str = "a red fox in snow",
        *,
        user_id: int = USER,
        provider: str | None = None,
        nsfw: bool = False,
        roles: tuple[int, ...] = (),
        upload_limit: int = 10 * 1024 * 1024,
        **options: Any,
    ) -> Admitted:
        requester = Requester(
            guild_id=GUILD,
            channel_id=CHANNEL,
            rules_channel_id=CHANNEL,
            channel_nsfw=nsfw,
            user_id=user_id,
            role_ids=roles,
        )
        reply = ReplyHandle(
            application_id=99,
            interaction_token=f"token-{next(self.tokens)}",
            created_at=self.service.clock(),
            upload_limit=upload_limit,
        )
        request = GenerationRequest(prompt=prompt, seed=options.pop("seed", 7), **options)
        return await self.admission.admit(requester, reply, Ask("imagine", provider), request)

    async def start(self, prompt: str = "a red fox in snow", **options: Any) -> str:
        """Admit a job and queue it as the chat adapter would (placeholder 1); its id."""
        admitted = await self.admit(prompt, **options)
        await self.service.enqueue(admitted.job, 1)
        return admitted.job.id

    async def wait_job(self, job_id: str, *phases: JobPhase, within_s: float = 10.0) -> Job:
        wanted = phases or (JobPhase.DONE, JobPhase.FAILED, JobPhase.CANCELLED)
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            job = await self.store.get_job(job_id)
            if job is not None and job.state in wanted:
                return job
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"job {job_id} is {job and job.state}, not {wanted}")
            await asyncio.sleep(0.01)

    async def wait_gone(self, job_id: str, within_s: float = 10.0) -> None:
        """Until the service holds the job no more (its run has ended)."""
        deadline = asyncio.get_running_loop().time() + within_s
        while job_id in self.service.live:
            assert asyncio.get_running_loop().time() < deadline, f"job {job_id} still live"
            await asyncio.sleep(0.01)

    async def ledger(self, job_id: str, user_id: int = USER) -> dict[str, tuple[int, int]]:
        """The job's ledger rows as {kind: (available, held)}; each kind at most once."""
        rows = [r for r in await self.store.ledger(GUILD, user_id, 1000) if r.job_id == job_id]
        kinds = [r.kind for r in rows]
        assert len(kinds) == len(set(kinds)), rows
        return {r.kind: (r.available, r.held) for r in rows}

    async def balance(self, user_id: int = USER) -> int:
        return await self.store.balance(GUILD, user_id)


@contextlib.asynccontextmanager
async def open_kit(
    tmp_path: Path,
    *,
    hosts: tuple[Provider, ...] = (),
    default: str = "mock",
    fallback: tuple[str, ...] = (),
    prices: dict[str, int] | None = None,
    job_timeout_s: float = 30.0,
    cooldown_s: float = 0.0,
    max_queued_per_user: int = 5,
    limits: RunLimits | None = None,
    credits: CreditsConfig | None = None,
    clock: Callable[[], float] | None = None,
    start: bool = True,
) -> AsyncIterator[Kit]:
    """The pipeline on `tmp_path/wanbot.db`; `hosts` beside the mock; `prices` per host."""
    import time

    now = clock or time.time
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    store = await SQLiteStore.open(tmp_path / "wanbot.db", clock=now)
    mock = MockProvider(MockConfig(delay_s=MOCK_DELAY_S), data_dir=data_dir)
    table: dict[str, Provider] = {"mock": mock, **{h.name: h for h in hosts}}
    providers = ProviderSet(table, default, fallback, {name: 1.0 for name in table})
    price_of = {name: 2 for name in table} | (prices or {})
    policy = CreditPolicy(credits or CreditsConfig(allowance=ALLOWANCE, image_cost=2))
    notifier = RecordingNotifier()
    audit = RecordingAudit()
    admission = Admission(
        store=store,
        providers=providers,
        credits=policy,
        moderator=Moderator(),
        limits=Limits(
            cooldown_s=cooldown_s,
            job_timeout_s=job_timeout_s,
            max_queued_per_user=max_queued_per_user,
        ),
        image_cost=price_of.__getitem__,
        audit=audit,
        clock=now,
    )
    try:
        async with aiohttp.ClientSession() as session:
            service = JobService(
                store=store,
                providers=providers,
                notifier=notifier,
                downloader=Downloader(session, mock_dir=data_dir / "mock"),
                credits=policy,
                limits=limits or RunLimits(total=8, per_provider=8, per_user=8),
                data_dir=data_dir,
                pressure=ChannelPressure(per_job_s=0.0),
                clock=now,
                image_cost=price_of.__getitem__,
            )
            kit = Kit(store, providers, notifier, audit, admission, service, price_of)
            if start:
                await service.start()
            try:
                yield kit
            finally:
                await service.stop()
    finally:
        await store.close()
