"""One live job: its state, its task and reporter, and the steps submit → track → deliver → settle.

Settlement (of a failure, a cancel or a delivery) runs to its end even if the job's task is
cancelled meanwhile, and a second cancel while it runs changes nothing: a job never stays
`running` with its credits held because a member clicked twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import functools
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import replace
from typing import Protocol, TypeVar

from wanbot.errors import JobCancelled
from wanbot.http.hooks import Hook, WebhookRegistry
from wanbot.jobs.delivery import Deliverer
from wanbot.jobs.eta import Expectation, expect
from wanbot.jobs.fitting import DownloadError
from wanbot.jobs.outcomes import host_problem_key
from wanbot.jobs.pacing import ChannelPressure
from wanbot.jobs.polling import PollBudget
from wanbot.jobs.ports import FailureReason, JobOutcome, Notifier, Progress
from wanbot.jobs.progress import ProgressReporter
from wanbot.jobs.tracking import PastDeadline, StatusWatch
from wanbot.providers.base import Provider
from wanbot.providers.errors import ProviderError, RateLimited, Unavailable
from wanbot.providers.models import JobState, JobStatus
from wanbot.providers.registry import ProviderSet
from wanbot.store.base import Job, JobPhase, Store
from wanbot.tasks import finish_anyway

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The job whose submission is on its way in this task: a host's busy answers (seen by its HTTP
#: client, even those it retries by itself) are charged to it, once per window.
submitting_job: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "submitting_job", default=None
)


class CancelResult(enum.StrEnum):
    CANCELLED = "cancelled"  # taken out of the queue and refunded
    CANCELLING = "cancelling"  # being stopped; the placeholder says when it is done
    TOO_LATE = "too_late"  # delivering or finished already


class _HostBusy(Exception):
    """The host refused the submission for now (429, or 503 with nowhere else to go)."""


def _refused_for_now(error: ProviderError) -> bool:
    """A submission refusal that says "not now" rather than "no": the job waits its turn again."""
    return isinstance(error, RateLimited) or (
        isinstance(error, Unavailable) and error.status == 503
    )


class RunContext(Protocol):
    """What a JobRun needs from the service that keeps it (JobService)."""

    store: Store
    providers: ProviderSet
    notifier: Notifier
    pressure: ChannelPressure
    deliverer: Deliverer
    polls: PollBudget
    hooks: WebhookRegistry | None  # with `public_url`: hosts that push get a hook per job
    public_url: str
    clock: Callable[[], float]
    stopping: bool

    def position(self, job_id: str) -> int | None: ...

    def host_accepted(self, provider: str, job_id: str) -> None: ...

    def host_refused(self, provider: str, job_id: str, retry_after: float | None) -> None: ...

    def left_host(self, job_id: str) -> None: ...

    def requeue(self, run: JobRun) -> None: ...

    async def forget(self, run: JobRun) -> None: ...


class JobRun:
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
        self.reporter.start()

    def launch(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"job-{self.job.id}")

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
                await self._cancel_at_provider()
                await self.fail(FailureReason.CANCELLED)
                return
            raise
        except JobCancelled:
            return
        except _HostBusy:
            try:
                requeued = await self._back_in_line()
            except asyncio.CancelledError:
                if self.user_cancelled and not self.service.stopping:
                    await self.fail(FailureReason.CANCELLED)  # refused, then cancelled: refund
                    return
                raise
        except PastDeadline:
            await self._cancel_at_provider()
            await self.fail(FailureReason.DEADLINE)
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

    def _close_hook(self) -> None:
        if self.hook is not None:
            hook, self.hook = self.hook, None
            hook.close()

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

    async def fail(self, reason: FailureReason, host_problem: str | None = None) -> None:
        """Release the hold, end the job, tell the member; runs to the end once started."""
        if self._settling is None:
            self._settling = asyncio.create_task(
                self._record_failure(reason, host_problem), name=f"settle-{self.job.id}"
            )
        await finish_anyway(self._settling)

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
        outcome = replace(outcome, refunded=settlement.released)
        try:
            await self.service.notifier.show_failure(self.job, outcome)
        except Exception:
            log.warning("could not tell the member about job %s", self.job.id, exc_info=True)

    async def _cancel_at_provider(self) -> None:
        job_id = self.job.provider_job_id
        if job_id:
            with contextlib.suppress(ProviderError):
                await self.service.providers.get(self.provider).cancel(job_id)

    async def _expect(self, provider: str) -> Expectation:
        recent = await self.service.store.recent_durations(provider, self.job.request.size)
        return expect(recent, self.service.providers.expected_s.get(provider, 30.0))

    async def _submit_and_track(self) -> JobStatus:
        job = self.job
        if self.phase is JobPhase.QUEUED:
            if not await self.service.store.mark_submitting(job.id):
                raise JobCancelled
            self.phase = JobPhase.SUBMITTING
        if job.provider_job_id is not None:
            provider = self.service.providers.get(job.provider)
            self.expectation = await self._expect(provider.name)
            return await self._poll(provider, job.provider_job_id)
        last_error: ProviderError | None = None
        busy = False
        for provider in self.service.providers.candidates(job.provider):
            if provider.capabilities.problem(job.request):
                continue
            try:
                return await self._submit_with(provider)
            except ProviderError as e:
                if self.job.provider_job_id is not None:
                    raise
                if _refused_for_now(e):
                    # Too many jobs at this host: its window shrinks and it gets a pause.
                    retry_after = e.retry_after if isinstance(e, RateLimited) else None
                    self.service.host_refused(provider.name, job.id, retry_after)
                    busy = True
                    if isinstance(e, RateLimited):
                        raise _HostBusy from e  # the host is up, only full: wait for it
                if not e.provider_unavailable:
                    raise
                log.warning(
                    "job %s: %s unavailable (%s), trying the next provider",
                    job.id,
                    provider.name,
                    e,
                )
                last_error = e
        assert last_error is not None
        if busy:
            raise _HostBusy from last_error
        raise last_error

    async def _submit_with(self, provider: Provider) -> JobStatus:
        self.provider = provider.name
        self.expectation = await self._expect(provider.name)
        submitting_job.set(self.job.id)  # this task's own context: gone with the task
        if provider.pushes_updates:
            stream = provider.submit_and_watch(self.job.request)
            first = await self._within_deadline(anext(stream))
            await self._mark_running(provider, first)
            self.service.host_accepted(provider.name, self.job.id)
            return await self._follow_stream(provider, stream, first)
        first = await self._within_deadline(self._submit(provider))
        await self._mark_running(provider, first)
        self.service.host_accepted(provider.name, self.job.id)
        if first.state.terminal:
            return first
        return await self._poll(provider, first.job_id)

    def _submit(self, provider: Provider) -> Awaitable[JobStatus]:
        """The submission, with a webhook of its own where the host pushes and the bot is
        reachable (`http.public_url`)."""
        hooks, public_url = self.service.hooks, self.service.public_url
        if not (provider.accepts_webhook and hooks is not None and public_url):
            return provider.submit(self.job.request)
        self._close_hook()
        self.hook = hooks.register(provider.name)
        return provider.submit_with_hook(self.job.request, self.hook.url(public_url))

    async def _mark_running(self, provider: Provider, first: JobStatus) -> None:
        await self.service.store.mark_running(self.job.id, provider.name, first.job_id)
        self.submitted_at = self.service.clock()
        self.job = replace(
            self.job,
            provider=provider.name,
            provider_job_id=first.job_id,
            submitted_at=self.submitted_at,
        )
        self.phase = JobPhase.RUNNING
        log.info("job %s submitted to %s as %s", self.job.id, provider.name, first.job_id)

    async def _follow_stream(
        self, provider: Provider, stream: AsyncGenerator[JobStatus, None], first: JobStatus
    ) -> JobStatus:
        final = await self._watch(provider).follow(stream, first, self._seen)
        return final if final is not None else await self._poll(provider, first.job_id)

    def _remaining(self) -> float:
        return self.job.deadline_at - self.service.clock()

    async def _within_deadline(self, awaitable: Awaitable[T]) -> T:
        remaining = self._remaining()
        if remaining <= 0:
            _close(awaitable)
            raise PastDeadline
        try:
            return await asyncio.wait_for(awaitable, remaining)
        except TimeoutError as e:
            raise PastDeadline from e

    def _watch(self, provider: Provider) -> StatusWatch:
        return StatusWatch(
            job_id=self.job.id,
            host=provider.name,
            submitted_at=self.submitted_at or self.service.clock(),
            expectation=self.expectation or Expectation(30.0, 0),
            deadline_at=self.job.deadline_at,
            clock=self.service.clock,
            budget=self.service.polls,
            hook=self.hook,
        )

    async def _poll(self, provider: Provider, provider_job_id: str) -> JobStatus:
        look = functools.partial(provider.get_status, provider_job_id)
        return await self._watch(provider).until_final(look, self._seen)

    def _seen(self, status: JobStatus) -> None:
        self.fraction = status.progress

    async def _deliver(self, urls: list[str], provider_cost: float | None) -> None:
        if self.phase is not JobPhase.DELIVERING:
            await self.service.store.mark_delivering(self.job.id, urls, provider_cost)
            self.phase = JobPhase.DELIVERING
        self.service.left_host(self.job.id)
        await self.stop_reporting()
        await self.service.deliverer.deliver(self.job, urls)
        self.phase = JobPhase.DONE


def _close(awaitable: Awaitable[object]) -> None:
    close: Callable[[], object] | None = getattr(awaitable, "close", None)
    if close is not None:
        close()
