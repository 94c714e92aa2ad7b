"""Several bot processes on one database: each holds leases on the jobs it works on.

A process leases the jobs it admits from their birth, renews every lease it holds a few times per
lease period, and gives them all up when it stops (its peers are woken and take them at once).
When a process dies, its leases run out: any live peer claims the jobs and continues each from
its persisted state, as a restart would (queued: queued again; running: tracked again by its
provider job id; delivering: delivered again; submitting: refunded, never submitted twice).
A peer takes a dead process's jobs within `lease_s + scan_s` (10 + 2 s by default).

A process that finds one of its leases gone (it stalled past the lease and a peer took the job)
stops working on that job without settling it: the peer owns it now.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wanbot.store.base import JobPhase
from wanbot.tasks import Supervised, supervise

if TYPE_CHECKING:
    from wanbot.jobs.run import JobRun
    from wanbot.store.base import Job, LeaseStore

log = logging.getLogger(__name__)

ACTIVE = [JobPhase.QUEUED, JobPhase.SUBMITTING, JobPhase.RUNNING, JobPhase.DELIVERING]
CLAIM_AT_ONCE = 500


@dataclass(frozen=True)
class LeaseSettings:
    worker_id: str
    lease_s: float = 10.0
    scan_s: float = 2.0  # how often idle processes look for jobs to take over (NOTIFY or not)

    @property
    def renew_s(self) -> float:
        return self.lease_s / 3

    @classmethod
    def for_this_process(cls, **overrides: float) -> LeaseSettings:
        """A worker id no other process has: host, pid, and a random part (a pid is reused)."""
        worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        return cls(worker_id=worker, **overrides)


class LeasedJobs(Protocol):
    """What the lease keeper needs of the job service that owns it."""

    @property
    def store(self) -> LeaseStore: ...

    @property
    def live(self) -> Mapping[str, JobRun]: ...

    async def resume(self, job: Job) -> None: ...

    async def abandon(self, run: JobRun) -> None: ...


class LeaseKeeper:
    def __init__(self, service: LeasedJobs, settings: LeaseSettings) -> None:
        self.service = service
        self.settings = settings
        self.positions: dict[str, int] = {}  # queue places across every process
        self._loops: list[Supervised] = []

    @property
    def worker_id(self) -> str:
        return self.settings.worker_id

    async def start(self) -> None:
        store = self.service.store
        store.lease_new_jobs_to(self.worker_id, self.settings.lease_s)
        await self.take_over()
        self._loops = [
            supervise("job-leases", self._renew_forever),
            supervise("job-takeover", self._take_over_forever),
        ]
        log.info("worker %s holds leases of %.0f s", self.worker_id, self.settings.lease_s)

    @property
    def alive(self) -> bool:
        return all(loop.alive for loop in self._loops)

    async def stop_taking(self) -> None:
        """Stop renewing and claiming (the jobs' tasks are still to be stopped)."""
        for loop in self._loops:
            await loop.stop()
        self.service.store.lease_new_jobs_to(None)

    async def release(self) -> None:
        """Give every lease back, so a peer continues the jobs at once (they are woken)."""
        released = await self.service.store.release_leases(self.worker_id)
        if released:
            log.info("released %d jobs to the other processes", released)

    async def take_over(self) -> None:
        """Claim every job no live lease holds (its process died or let go) and resume it."""
        service = self.service
        # All of them: a queued job waits in this process's fair queue as it would have in its
        # own, and a running one must be tracked by someone now.
        claimed = await service.store.claim_jobs(
            self.worker_id, ACTIVE, CLAIM_AT_ONCE, self.settings.lease_s
        )
        for job in claimed:
            if job.id in service.live:
                continue  # ours already (a lease that lapsed while we held it)
            log.info("job %s taken over (%s)", job.id, job.state)
            await service.resume(job)

    async def _take_over_forever(self) -> None:
        while True:
            await self.service.store.wait_for_jobs(self.settings.scan_s)
            await self.take_over()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.renew_s)
            await self.renew()

    async def renew(self) -> None:
        service = self.service
        mine = list(service.live)
        held = await service.store.renew_leases(self.worker_id, mine, self.settings.lease_s)
        for job_id in mine:
            run = service.live.get(job_id)
            if job_id not in held and run is not None and not run.settling:
                log.warning("job %s: lease lost to another process; leaving it to them", job_id)
                await service.abandon(run)
        self.positions = await service.store.queue_positions()
