"""A job's way to its host and back: submit (past hosts that are down, to the next candidate),
then follow its status (stream, webhook or polling) until it ends or passes its deadline."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import replace
from typing import Protocol, TypeVar

from wanbot.balance import BalanceTracker
from wanbot.errors import JobCancelled
from wanbot.http.hooks import Hook, WebhookRegistry
from wanbot.jobs.eta import Expectation, expect
from wanbot.jobs.polling import PollBudget
from wanbot.jobs.tracking import PastDeadline, StatusWatch
from wanbot.logs import tag_job_logs
from wanbot.providers.base import Provider
from wanbot.providers.errors import ProviderError, RateLimited, Unavailable
from wanbot.providers.models import GenerationRequest, JobStatus
from wanbot.providers.registry import ProviderSet
from wanbot.store.base import Job, JobPhase, JobStore, StatsStore

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The job whose submission is on its way in this task: a host's busy answers (seen by its HTTP
#: client, even those it retries by itself) are charged to it, once per window.
submitting_job: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "submitting_job", default=None
)


class HostBusy(Exception):
    """The host refused the submission for now (429, or 503 with nowhere else to go)."""


def _refused_for_now(error: ProviderError) -> bool:
    """A submission refusal that says "not now" rather than "no": the job waits its turn again."""
    return isinstance(error, RateLimited) or (
        isinstance(error, Unavailable) and error.status == 503
    )


class SubmissionStore(JobStore, StatsStore, Protocol):
    """What submitting and tracking write: the job's transitions; and read: past durations."""


class SubmissionContext(Protocol):
    """What the submit and track steps need from the service that keeps the job (JobService)."""

    providers: ProviderSet
    balances: BalanceTracker
    polls: PollBudget
    hooks: WebhookRegistry | None  # with `public_url`: hosts that push get a hook per job
    public_url: str
    clock: Callable[[], float]
    #: Credits per image on a host; None: a job keeps the price it was admitted at.
    image_cost: Callable[[str], int] | None

    @property
    def store(self) -> SubmissionStore: ...

    def host_accepted(self, provider: str, job_id: str) -> None: ...

    def host_refused(self, provider: str, job_id: str, retry_after: float | None) -> None: ...


class HostSubmission:
    """JobRun's submit and track steps: they move the job to its host and follow it there."""

    service: SubmissionContext
    job: Job
    phase: JobPhase
    provider: str
    submitted_at: float | None
    expectation: Expectation | None
    fraction: float | None
    hook: Hook | None

    def _close_hook(self) -> None:
        if self.hook is not None:
            hook, self.hook = self.hook, None
            hook.close()

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
            # The safety switch follows the host that runs it (a fallback may have one or not).
            request = provider.capabilities.prepared(job.request)
            if provider.capabilities.problem(request):
                continue
            try:
                return await self._submit_with(provider, request)
            except ProviderError as e:
                if self.job.provider_job_id is not None:
                    raise
                if _refused_for_now(e):
                    # Too many jobs at this host: its window shrinks and it gets a pause.
                    retry_after = e.retry_after if isinstance(e, RateLimited) else None
                    self.service.host_refused(provider.name, job.id, retry_after)
                    busy = True
                    if isinstance(e, RateLimited):
                        raise HostBusy from e  # the host is up, only full: wait for it
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
            raise HostBusy from last_error
        raise last_error

    async def _submit_with(self, provider: Provider, request: GenerationRequest) -> JobStatus:
        self.provider = provider.name
        self.expectation = await self._expect(provider.name)
        submitting_job.set(self.job.id)  # this task's own context: gone with the task
        if provider.pushes_updates:
            stream = provider.submit_and_watch(request)
            first = await self._within_deadline(anext(stream))
            await self._mark_running(provider, first, request)
            self.service.host_accepted(provider.name, self.job.id)
            return await self._follow_stream(provider, stream, first)
        first = await self._within_deadline(self._submit(provider, request))
        await self._mark_running(provider, first, request)
        self.service.host_accepted(provider.name, self.job.id)
        if first.state.terminal:
            return first
        return await self._poll(provider, first.job_id)

    def _submit(self, provider: Provider, request: GenerationRequest) -> Awaitable[JobStatus]:
        """The submission, with a webhook of its own where the host pushes and the bot is
        reachable (`http.public_url`)."""
        hooks, public_url = self.service.hooks, self.service.public_url
        if not (provider.accepts_webhook and hooks is not None and public_url):
            return provider.submit(request)
        self._close_hook()
        self.hook = hooks.register(provider.name)
        return provider.submit_with_hook(request, self.hook.url(public_url))

    async def _mark_running(
        self, provider: Provider, first: JobStatus, request: GenerationRequest
    ) -> None:
        # A fallback host's images cost that host's price; the hold stays as admitted.
        price = self.service.image_cost
        image_cost = (
            None if price is None or provider.name == self.job.provider else price(provider.name)
        )
        await self.service.store.mark_running(
            self.job.id, provider.name, first.job_id, image_cost=image_cost
        )
        tag_job_logs(provider=provider.name)
        if first.host_balance is not None:
            self.service.balances.observe(provider.name, first.host_balance)
        self.submitted_at = self.service.clock()
        self.job = replace(
            self.job,
            provider=provider.name,
            provider_job_id=first.job_id,
            submitted_at=self.submitted_at,
            request=request,
            image_cost=self.job.image_cost if image_cost is None else image_cost,
            held=self.job.hold_amount,
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


def _close(awaitable: Awaitable[object]) -> None:
    close: Callable[[], object] | None = getattr(awaitable, "close", None)
    if close is not None:
        close()
