"""The real JobService on a real SQLite file, with the Discord side replaced by a recorder.

For tests of what happens between the queue and the host (windows, polling, webhooks): jobs are
admitted through the store's own `admit_job`, queued with `enqueue`, and followed until each is
delivered or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from wanbot.config import CreditsConfig
from wanbot.credits import CreditPolicy
from wanbot.jobs.fitting import Downloader
from wanbot.jobs.ports import Delivery, JobOutcome, Progress
from wanbot.jobs.scheduler import Limits
from wanbot.jobs.service import JobService
from wanbot.providers.base import Provider
from wanbot.providers.models import GenerationRequest
from wanbot.providers.registry import FIRST_GUESS_S, ProviderSet
from wanbot.store.base import Budget, Job, NewJob, SpendCaps
from wanbot.store.sqlite import SQLiteStore


@dataclass
class RecordingNotifier:
    """The Notifier port without Discord: when each job was delivered or how it failed."""

    delivered: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    progress: int = 0

    async def show_progress(self, job: Job, progress: Progress) -> None:
        self.progress += 1

    async def deliver(self, job: Job, delivery: Delivery) -> list[int]:
        self.delivered[job.id] = time.monotonic()
        return [len(self.delivered)]

    async def show_failure(self, job: Job, outcome: JobOutcome) -> None:
        self.failed[job.id] = outcome.log_text


def new_job(
    index: int,
    provider: str,
    *,
    prompt: str | None = None,
    size: str = "1K",
    deadline_s: float = 120.0,
) -> NewJob:
    now = time.time()
    return NewJob(
        id=uuid.uuid4().hex,
        kind="imagine",
        guild_id=1,
        channel_id=2,
        user_id=1000 + index,
        application_id=3,
        interaction_token=f"token-{index}-{uuid.uuid4().hex}",
        token_expires_at=now + 900,
        request=GenerationRequest(prompt=prompt or f"job {index}", size=size, seed=index),
        provider=provider,
        image_cost=1,
        deadline_at=now + deadline_s,
    )


@dataclass
class Rig:
    service: JobService
    store: SQLiteStore
    notifier: RecordingNotifier

    async def submit(self, jobs: list[NewJob]) -> None:
        for job in jobs:
            await self.store.admit_job(
                job, Budget(allowance=1_000_000, period_key="t"), SpendCaps(day_start=0.0), 100
            )
        for job in jobs:
            await self.service.enqueue(job, 1)

    async def finished(self, count: int, within_s: float = 60.0) -> None:
        deadline = time.monotonic() + within_s
        while len(self.notifier.delivered) + len(self.notifier.failed) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.notifier.delivered)} delivered, {len(self.notifier.failed)}"
                    f" failed of {count} in {within_s} s"
                )
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_service(
    tmp_path: Path,
    providers: dict[str, Provider],
    session: aiohttp.ClientSession,
    *,
    limits: Limits,
    **service_options: Any,
) -> AsyncIterator[Rig]:
    store = await SQLiteStore.open(tmp_path / "wanbot.db")
    notifier = RecordingNotifier()
    default = next(iter(providers))
    service = JobService(
        store=store,
        providers=ProviderSet(providers=providers, default=default, expected_s=dict(FIRST_GUESS_S)),
        notifier=notifier,
        downloader=Downloader(session),
        credits=CreditPolicy(CreditsConfig(allowance=1_000_000)),
        limits=limits,
        data_dir=tmp_path / "data",
        **service_options,
    )
    try:
        await service.start()
        try:
            yield Rig(service, store, notifier)
        finally:
            await service.stop()
    finally:
        await store.close()
