"""The live jobs: admitted jobs queued, scheduled fairly, each run by a JobRun, recovered at start.

Every transition is persisted before the next step, so a restart continues each job from where it
stood: queued jobs queue again, running jobs are tracked again by their provider job id, jobs with
results are delivered again (delivery edits the placeholder, which is idempotent). A job that
died while being submitted is refunded rather than submitted again: whether the host took it
cannot be known, and a second submission could charge the operator twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path

from wanbot.credits import CreditPolicy
from wanbot.http.hooks import WebhookRegistry
from wanbot.jobs.delivery import Deliverer
from wanbot.jobs.fitting import Downloader
from wanbot.jobs.pacing import ChannelPressure
from wanbot.jobs.polling import PollBudget
from wanbot.jobs.ports import FailureReason, Notifier
from wanbot.jobs.run import CancelResult, JobRun, submitting_job
from wanbot.jobs.scheduler import FairScheduler, Limits, Ticket
from wanbot.providers.registry import ProviderSet
from wanbot.store.base import Job, JobPhase, NewJob, Store
from wanbot.tasks import Supervised, finish_anyway, supervise

log = logging.getLogger(__name__)

SUBMIT_GRACE_S = 15.0
ACTIVE = (JobPhase.QUEUED, JobPhase.SUBMITTING, JobPhase.RUNNING, JobPhase.DELIVERING)


class JobService:
    #: What runs each job (a benchmark swaps in another tracking loop).
    run_class: type[JobRun] = JobRun

    def __init__(
        self,
        *,
        store: Store,
        providers: ProviderSet,
        notifier: Notifier,
        downloader: Downloader,
        credits: CreditPolicy,
        limits: Limits,
        data_dir: Path,
        pressure: ChannelPressure | None = None,
        polls: PollBudget | None = None,
        hooks: WebhookRegistry | None = None,
        public_url: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.providers = providers
        self.notifier = notifier
        self.credits = credits
        self.scheduler = FairScheduler(limits)
        self.pressure = pressure or ChannelPressure()
        self.polls = polls or PollBudget(clock=clock)
        self.hooks = hooks
        self.public_url = public_url
        self.deliverer = Deliverer(
            store=store,
            notifier=notifier,
            downloader=downloader,
            pressure=self.pressure,
            label=providers.label,
            results_dir=data_dir / "results",
        )
        self.clock = clock
        for name, provider in providers.providers.items():
            provider.on_busy(functools.partial(self._host_busy, name))
        self.live: dict[str, JobRun] = {}
        self._wake = asyncio.Event()
        self._dispatcher: Supervised | None = None
        self.stopping = False

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self.recover()
        self._dispatcher = supervise("job-dispatcher", self._dispatch)

    @property
    def dispatcher_alive(self) -> bool:
        return self._dispatcher is not None and self._dispatcher.alive

    async def stop(self) -> None:
        """Stop without losing anything: every job stays in its persisted state for the restart."""
        self.stopping = True
        if self._dispatcher is not None:
            await self._dispatcher.stop()
        # A submission cut short could leave a job the host has taken (and charged for) but the
        # bot has no id for; let those in flight finish, for a bounded time.
        waited = 0.0
        while waited < SUBMIT_GRACE_S and any(
            run.phase is JobPhase.SUBMITTING for run in self.live.values()
        ):
            await asyncio.sleep(0.05)
            waited += 0.05
        runs = list(self.live.values())
        for run in runs:
            if run.task is not None:
                run.task.cancel()
        for run in runs:
            if run.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await run.task
            await run.stop_reporting()
        await self.polls.close()

    async def recover(self) -> None:
        jobs = await self.store.jobs_in(list(ACTIVE))
        for job in jobs:
            if job.provider not in self.providers.providers:
                await self.run_class(self, job).fail(FailureReason.PROVIDER_DISABLED)
                continue
            if job.state is JobPhase.SUBMITTING:
                await self.run_class(self, job).fail(FailureReason.RESTARTED_WHILE_SUBMITTING)
                continue
            run = self._track(job)
            if job.state is JobPhase.QUEUED:
                self.scheduler.push(self._ticket(job))
            else:
                self.scheduler.mark_running(self._ticket(job))
                run.launch()
        if jobs:
            log.info("recovered %d unfinished jobs", len(jobs))
        self._wake.set()

    # -- queueing --------------------------------------------------------------------------
    async def enqueue(self, job: NewJob, placeholder_message_id: int | None) -> None:
        """Queue an admitted job once the member sees its placeholder (or could not be shown one).

        Until then it is not scheduled, so a fast job can't finish before it has a message
        to finish in; a crash in between leaves it queued, and recovery schedules it.
        """
        if placeholder_message_id is not None:
            await self.store.set_placeholder(job.id, placeholder_message_id)
        fields = {f.name: getattr(job, f.name) for f in dataclasses.fields(NewJob)}
        fields["placeholder_message_id"] = placeholder_message_id
        live = Job(**fields, created_at=self.clock())
        self._track(live)
        self.scheduler.push(self._ticket(live))
        self._wake.set()

    async def release(self, job: NewJob, why: str) -> None:
        """Give back the hold of an admitted job that could not be queued; runs to the end."""
        settle = asyncio.create_task(self.store.settle_failed(job.id, f"not queued: {why}"))
        settlement = await finish_anyway(settle)
        log.warning(
            "job %s released before queueing (%s): %d back", job.id, why, settlement.released
        )

    def position(self, job_id: str) -> int | None:
        return self.scheduler.position(job_id)

    # -- host windows (see scheduler.py) --------------------------------------------------
    def _host_busy(self, provider: str, retry_after: float | None) -> None:
        """A host answered a submission 429/503: its window shrinks at once, even if its client
        then retries the same submission by itself."""
        self.scheduler.host_throttled(provider, submitting_job.get(), retry_after)

    def host_accepted(self, provider: str, job_id: str) -> None:
        self.scheduler.host_accepted(provider)
        self._wake.set()  # the window grew: another job may start

    def host_refused(self, provider: str, job_id: str, retry_after: float | None) -> None:
        self.scheduler.host_throttled(provider, job_id, retry_after)

    def left_host(self, job_id: str) -> None:
        self.scheduler.left_host(job_id)
        self._wake.set()  # its place at the host is free

    def requeue(self, run: JobRun) -> None:
        """A running job the host refused is queued again (see `JobRun._back_in_line`)."""
        self.scheduler.requeue(run.job.id)
        self._wake.set()

    def _ticket(self, job: Job) -> Ticket:
        return Ticket(job.id, (job.guild_id, job.user_id), job.provider)

    def _track(self, job: Job) -> JobRun:
        run = self.run_class(self, job)
        self.live[job.id] = run
        self.pressure.register(job.id, job.interaction_token, job.channel_id)
        run.report()
        return run

    async def forget(self, run: JobRun) -> None:
        self.scheduler.finish(run.job.id)
        self.live.pop(run.job.id, None)
        await run.stop_reporting()
        self.pressure.unregister(run.job.id)
        self._wake.set()

    # -- cancel ----------------------------------------------------------------------------
    async def cancel(self, job_id: str) -> CancelResult:
        """Cancel a job that has not started delivering; safe to call any number of times."""
        run = self.live.get(job_id)
        if run is None:
            return CancelResult.TOO_LATE
        if run.phase is JobPhase.QUEUED and self.scheduler.remove(job_id):
            run.user_cancelled = True
            try:
                await run.fail(FailureReason.CANCELLED)
            finally:
                await self.forget(run)
            return CancelResult.CANCELLED
        return run.cancel()

    # -- scheduling ------------------------------------------------------------------------
    async def _dispatch(self) -> None:
        while True:
            paused_for = self.scheduler.paused_for()
            if paused_for is None:
                await self._wake.wait()
            else:  # a busy host's pause ends: its queued jobs may start without other news
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), paused_for)
            self._wake.clear()
            for ticket in self.scheduler.take_ready():
                run = self.live.get(ticket.job_id)
                if run is None:
                    self.scheduler.finish(ticket.job_id)
                    continue
                run.launch()
