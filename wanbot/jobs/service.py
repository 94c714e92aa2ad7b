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

from wanbot.balance import BalanceTracker
from wanbot.credits import CreditPolicy
from wanbot.http.hooks import WebhookRegistry
from wanbot.jobs.delivery import Deliverer
from wanbot.jobs.fitting import Downloader
from wanbot.jobs.leases import LeaseKeeper, LeaseSettings
from wanbot.jobs.listing import MemberJob, member_jobs
from wanbot.jobs.pacing import ChannelPressure
from wanbot.jobs.polling import PollBudget
from wanbot.jobs.ports import FailureReason, Notifier
from wanbot.jobs.run import CancelResult, JobRun, RunStore
from wanbot.jobs.scheduler import FairScheduler, Limits, Ticket
from wanbot.jobs.submission import submitting_job
from wanbot.metrics import Metrics
from wanbot.providers.registry import ProviderSet
from wanbot.store.base import ACTIVE_PHASES, Job, JobPhase, NewJob
from wanbot.tasks import Supervised, finish_anyway, supervise

log = logging.getLogger(__name__)

SUBMIT_GRACE_S = 15.0


class JobService:
    #: What runs each job (a benchmark swaps in another tracking loop).
    run_class: type[JobRun] = JobRun

    def __init__(
        self,
        *,
        store: RunStore,
        providers: ProviderSet,
        notifier: Notifier,
        downloader: Downloader,
        credits: CreditPolicy,
        limits: Limits,
        data_dir: Path,
        metrics: Metrics | None = None,
        balances: BalanceTracker | None = None,
        pressure: ChannelPressure | None = None,
        polls: PollBudget | None = None,
        hooks: WebhookRegistry | None = None,
        public_url: str = "",
        clock: Callable[[], float] = time.time,
        leases: LeaseSettings | None = None,
        image_cost: Callable[[str], int] | None = None,
    ) -> None:
        self.store = store
        self.image_cost = image_cost
        # Counted here rather than by a global registry, so each bot (and test) has its own.
        self.metrics = metrics if metrics is not None else Metrics()
        self.balances = balances if balances is not None else BalanceTracker({})
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
        # Several processes on one database (PostgreSQL): leases say which runs which job.
        self.leases = None if leases is None else LeaseKeeper(self, leases)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if self.leases is None:
            await self.recover()
        else:
            await self.leases.start()  # takes over what no live process holds
            self._wake.set()
        self._dispatcher = supervise("job-dispatcher", self._dispatch)

    @property
    def dispatcher_alive(self) -> bool:
        alive = self._dispatcher is not None and self._dispatcher.alive
        return alive and (self.leases is None or self.leases.alive)

    async def stop(self) -> None:
        """Stop without losing anything: every job stays in its persisted state for the restart
        (or, with leases, for another process, which is handed them at once)."""
        self.stopping = True
        if self.leases is not None:
            await self.leases.stop_taking()
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
        if self.leases is not None:
            await self.leases.release()
        await self.polls.close()

    async def recover(self) -> None:
        jobs = await self.store.jobs_in(list(ACTIVE_PHASES))
        for job in jobs:
            await self.resume(job)
        if jobs:
            log.info("recovered %d unfinished jobs", len(jobs))
        self._wake.set()

    async def resume(self, job: Job) -> None:
        """Continue an unfinished job from its persisted state (after a restart, or taken over
        from a process that died)."""
        if job.provider not in self.providers.providers:
            await self.run_class(self, job).fail(FailureReason.PROVIDER_DISABLED)
            return
        if job.state is JobPhase.SUBMITTING:
            await self.run_class(self, job).fail(FailureReason.RESTARTED_WHILE_SUBMITTING)
            return
        run = self._track(job)
        if job.state is JobPhase.QUEUED:
            self.scheduler.push(self._ticket(job))
        else:
            self.scheduler.mark_running(self._ticket(job))
            run.launch()
        self._wake.set()

    async def abandon(self, run: JobRun) -> None:
        """Stop working on a job another process has taken over, without settling it."""
        if run.task is None:
            self.scheduler.remove(run.job.id)
            await self.forget(run)
        else:
            run.task.cancel()  # not a member's cancel: the run ends and forgets itself

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
        self.metrics.job_finished(job.provider, "failed")
        log.warning(
            "job %s released before queueing (%s): %d back", job.id, why, settlement.released
        )

    def position(self, job_id: str) -> int | None:
        if self.leases is not None and job_id in self.leases.positions:
            return self.leases.positions[job_id]  # the line across every process
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

    async def member_jobs(self, guild_id: int, user_id: int) -> list[MemberJob]:
        """The member's unfinished jobs in one server, oldest first, with their place in line,
        time elapsed and ETA where this process runs them (/jobs)."""
        return await member_jobs(self.store, self.live, guild_id, user_id)

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
