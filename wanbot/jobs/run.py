"""One live job: its state, its task and reporter, and the steps submit → track → deliver → settle.

Settlement (of a failure, a cancel or a delivery) runs to its end even if the job's task is
cancelled meanwhile, and a second cancel while it runs changes nothing: a job never stays
`running` with its credits held because a member clicked twice. The submit and track steps
are in `submission`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from dataclasses import replace
from typing import Protocol

from wanbot.errors import JobCancelled
from wanbot.http.hooks import Hook
from wanbot.jobs.delivery import Deliverer
from wanbot.jobs.eta import Expectation
from wanbot.jobs.fitting import DownloadError
from wanbot.jobs.outcomes import host_problem_key
from wanbot.jobs.pacing import ChannelPressure
from wanbot.jobs.ports import FailureReason, JobOutcome, Notifier, Progress
from wanbot.jobs.progress import ProgressReporter
from wanbot.jobs.submission import HostBusy, HostSubmission, SubmissionContext
from wanbot.jobs.tracking import PastDeadline
from wanbot.logs import job_log_context
from wanbot.metrics import Metrics
from wanbot.providers.errors import ProviderError
from wanbot.providers.models import JobState
from wanbot.store.base import (
    Job,
    JobPhase,
    JobStore,
    LeaseLost,
    LeaseStore,
    LedgerStore,
    StatsStore,
    WalletStore,
)
from wanbot.tasks import finish_anyway

log = logging.getLogger(__name__)


class CancelResult(enum.StrEnum):
    CANCELLED = "cancelled"  # taken out of the queue and refunded
    CANCELLING = "cancelling"  # being stopped; the placeholder says when it is done
    TOO_LATE = "too_late"  # delivering or finished already


# Asking a host to stop a job is a courtesy: the refund does not wait longer than this for it.
CANCEL_AT_HOST_S = 10.0


class RunStore(JobStore, LedgerStore, StatsStore, LeaseStore, WalletStore, Protocol):
    """What running jobs read and write: their transitions, settlement and past durations."""


class RunContext(SubmissionContext, Protocol):
    """What a JobRun needs from the service that keeps it (JobService)."""

    store: RunStore
    notifier: Notifier
    pressure: ChannelPressure
    deliverer: Deliverer
    metrics: Metrics
    stopping: bool

    def position(self, job_id: str) -> int | None: ...

    def left_host(self, job_id: str) -> None: ...

    def requeue(self, run: JobRun) -> None: ...

    async def forget(self, run: JobRun) -> None: ...


class JobRun(HostSubmission):
    service: RunContext

    def __init__(self, service: RunContext, job: Job) -> None:
        self.service = service
        self.job = job
        self.phase = job.state
        self.provider = job.provider
        self.submitted_at = job.submitted_at
        self.expectation: Expectation | None = None
        self.fraction: float | None = None
        self.user_cancelled = False
        self.task: asyncio.Task[None] | None = None
        self.reporter: ProgressReporter | None = None
        self.hook: Hook | None = None  # this submission's webhook, while the job listens
        self._settling: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def report(self) -> None:
        self.reporter = ProgressReporter(
            self.job, self.service.notifier, self.service.pressure, self.snapshot
        )
        with self._log_fields():
            self.reporter.start()

    def launch(self) -> None:
        with self._log_fields():
            self.task = asyncio.create_task(self.run(), name=f"job-{self.job.id}")

    def _log_fields(self) -> contextlib.AbstractContextManager[None]:
        """Tags every log line of this job (and the tasks it starts) with its id, server, host."""
        job = self.job
        return job_log_context(
            job_id=job.id, guild_id=job.guild_id, provider=self.provider or job.provider
        )

    @property
    def settling(self) -> bool:
        """Its failure or cancel is being recorded (that runs to its end whatever happens)."""
        return self._settling is not None

    def cancel(self) -> CancelResult:
        """Ask the job to stop; idempotent (a second click, or a cancel during settlement)."""
        if self.phase in (JobPhase.DELIVERING, JobPhase.DONE) or self._settling is not None:
            return CancelResult.TOO_LATE if self._settling is None else CancelResult.CANCELLING
        if self.user_cancelled:
            return CancelResult.CANCELLING
        self.user_cancelled = True
        if self.task is not None:
            self.task.cancel()
        return CancelResult.CANCELLING

    async def stop_reporting(self) -> None:
        if self.reporter is not None:
            reporter, self.reporter = self.reporter, None
            await reporter.stop()

    # -- progress --------------------------------------------------------------------------
    def snapshot(self) -> tuple[Job, Progress] | None:
        progress = self.progress()
        return None if progress is None else (self.job, progress)

    def progress(self) -> Progress | None:
        label = self.service.providers.label(self.provider or self.job.provider)
        if self.phase is JobPhase.QUEUED:
            position = self.service.position(self.job.id)
            return Progress(phase="queued", provider_label=label, queue_position=position)
        if self.phase not in (JobPhase.SUBMITTING, JobPhase.RUNNING):
            return None
        now = self.service.clock()
        elapsed = 0.0 if self.submitted_at is None else max(0.0, now - self.submitted_at)
        eta = None
        basis = 0
        if self.expectation is not None:
            eta = max(0.0, self.expectation.seconds - elapsed)
            basis = self.expectation.basis
        return Progress(
            phase=str(self.phase),
            provider_label=label,
            elapsed_s=round(elapsed),
            eta_s=None if eta is None else round(eta),
            eta_basis=basis,
            fraction=None if self.fraction is None else round(self.fraction, 1),
        )

    # -- the run ---------------------------------------------------------------------------
    async def run(self) -> None:
        job = self.job
        requeued = False
        try:
            if self.phase is JobPhase.DELIVERING:
                await self._deliver(list(job.result_urls), job.provider_cost)
                return
            status = await self._submit_and_track()
            if status.state is JobState.SUCCEEDED:
                await self._deliver([img.url for img in status.images], status.cost)
            elif status.state is JobState.CANCELLED:
                await self.fail(FailureReason.HOST_CANCELLED)
            else:
                raise status.error or ProviderError(provider=self.provider)
        except asyncio.CancelledError:
            if self.user_cancelled and not self.service.stopping:
                await self.fail(FailureReason.CANCELLED, stop_at_host=True)
                return
            raise
        except JobCancelled:
            return
        except LeaseLost as e:
            # It stalled past its lease and a peer holds the job now: the peer finishes it.
            log.warning("job %s: %s; leaving it to that process", job.id, e)
            return
        except HostBusy:
            try:
                requeued = await self._back_in_line()
            except asyncio.CancelledError:
                if self.user_cancelled and not self.service.stopping:
                    await self.fail(FailureReason.CANCELLED)  # refused, then cancelled: refund
                    return
                raise
        except PastDeadline:
            await self.fail(FailureReason.DEADLINE, stop_at_host=True)
        except ProviderError as e:
            log.info("job %s failed at %s: %s", job.id, self.provider, e)
            await self.fail(FailureReason.HOST_FAILED, host_problem_key(e))
        except DownloadError as e:
            log.warning("job %s: %s", job.id, e)
            await self.fail(FailureReason.DOWNLOAD_FAILED)
        except Exception:
            log.exception("job %s failed unexpectedly", job.id)
            await self.fail(FailureReason.INTERNAL)
        finally:
            self._close_hook()
            if not self.service.stopping and not requeued:
                await self.service.forget(self)

    async def _back_in_line(self) -> bool:
        """The host was busy: queued again, first in its member's line; False if it is no longer
        being submitted (then it ends as any other run)."""
        if not await self.service.store.mark_requeued(self.job.id):
            return False
        self.phase = JobPhase.QUEUED
        self.provider = self.job.provider
        self.service.requeue(self)
        log.info("job %s: %s is busy; queued again", self.job.id, self.provider)
        return True

    async def fail(
        self, reason: FailureReason, host_problem: str | None = None, *, stop_at_host: bool = False
    ) -> None:
        """Release the hold, end the job, tell the member; runs to the end once started.

        The settlement starts before this first awaits anything, so a cancel that comes while it
        runs (a second Cancel click, a click during a failure or at the deadline) finds it started
        and joins it rather than cutting it short. `stop_at_host`: first ask the host to stop.
        """
        if self._settling is None:
            with self._log_fields():
                self._settling = asyncio.create_task(
                    self._end(reason, host_problem, stop_at_host), name=f"settle-{self.job.id}"
                )
        await finish_anyway(self._settling)

    async def _end(
        self, reason: FailureReason, host_problem: str | None, stop_at_host: bool
    ) -> None:
        if stop_at_host:
            await self._cancel_at_provider()
        await self._record_failure(reason, host_problem)

    async def _record_failure(self, reason: FailureReason, host_problem: str | None) -> None:
        await self.stop_reporting()
        outcome = JobOutcome(
            reason=reason,
            provider_label=self.service.providers.label(self.provider or self.job.provider),
            refunded=0,
            host_problem=host_problem,
        )
        settlement = await self.service.store.settle_failed(
            self.job.id, outcome.log_text, cancelled=reason is FailureReason.CANCELLED
        )
        self.phase = JobPhase.CANCELLED if reason is FailureReason.CANCELLED else JobPhase.FAILED
        self.service.metrics.job_finished(
            self.provider or self.job.provider,
            "cancelled" if reason is FailureReason.CANCELLED else "failed",
        )
        outcome = replace(outcome, refunded=settlement.released)
        try:
            await self.service.notifier.show_failure(self.job, outcome)
        except Exception:
            log.warning("could not tell the member about job %s", self.job.id, exc_info=True)

    async def _cancel_at_provider(self) -> None:
        job_id = self.job.provider_job_id
        if not job_id or self.job.provider not in self.service.providers.providers:
            return
        try:
            async with asyncio.timeout(CANCEL_AT_HOST_S):
                await self.service.providers.get(self.job.provider).cancel(job_id)
        except (ProviderError, TimeoutError) as e:
            log.info("job %s: the host was not told to stop (%s)", self.job.id, e)

    async def _deliver(self, urls: list[str], provider_cost: float | None) -> None:
        if self.phase is not JobPhase.DELIVERING:
            await self.service.store.mark_delivering(self.job.id, urls, provider_cost)
            self.phase = JobPhase.DELIVERING
        self.service.left_host(self.job.id)
        await self.stop_reporting()
        settlement = await self.service.deliverer.deliver(self.job, urls)
        self.phase = JobPhase.DONE
        metrics = self.service.metrics
        metrics.job_finished(
            self.job.provider, "delivered", self.service.clock() - self.job.created_at
        )
        metrics.credits_spent(settlement.captured)
