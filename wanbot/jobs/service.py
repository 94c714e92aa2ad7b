"""The life of a generation job: admit, schedule, submit, track, deliver, settle, recover.

Every transition is persisted before the next step, so a restart continues each job from where it
stood: queued jobs queue again, running jobs are tracked again by their provider job id, jobs with
results are delivered again (delivery edits the placeholder, which is idempotent). A job that
died while being submitted is refunded rather than submitted again: whether the host took it
cannot be known, and a second submission could charge the operator twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from wanbot.credits import CreditPolicy
from wanbot.jobs.delivery import Deliverer
from wanbot.jobs.eta import Expectation, expect, poll_interval
from wanbot.jobs.fitting import Downloader, DownloadError
from wanbot.jobs.ports import Notifier, Progress
from wanbot.jobs.progress import EditPacer, ProgressReporter
from wanbot.jobs.scheduler import FairScheduler, Limits, Ticket
from wanbot.providers.base import Provider
from wanbot.providers.errors import ProviderError, RateLimited, TimedOut
from wanbot.providers.models import JobState, JobStatus
from wanbot.providers.registry import ProviderSet
from wanbot.store.base import Job, JobPhase, NewJob, Store

log = logging.getLogger(__name__)

SUBMIT_GRACE_S = 15.0
T = TypeVar("T")


@dataclass
class _Live:
    job: Job
    phase: JobPhase
    submitted_at: float | None = None
    expectation: Expectation | None = None
    fraction: float | None = None
    provider: str = ""
    user_cancelled: bool = False
    task: asyncio.Task[None] | None = None
    reporter: ProgressReporter | None = None


class JobCancelled(Exception):
    pass


class JobService:
    def __init__(
        self,
        *,
        store: Store,
        providers: ProviderSet,
        notifier: Notifier,
        downloader: Downloader,
        credits: CreditPolicy,
        limits: Limits,
        max_queued_per_user: int,
        data_dir: Path,
        pacer: EditPacer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.providers = providers
        self.notifier = notifier
        self.credits = credits
        self.scheduler = FairScheduler(limits)
        self.max_queued_per_user = max_queued_per_user
        self.pacer = pacer or EditPacer()
        self.deliverer = Deliverer(
            store=store,
            notifier=notifier,
            downloader=downloader,
            pacer=self.pacer,
            label=providers.label,
            results_dir=data_dir / "results",
        )
        self.clock = clock
        self._live: dict[str, _Live] = {}
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self.recover()
        self._dispatcher = asyncio.create_task(self._dispatch(), name="job-dispatcher")

    async def stop(self) -> None:
        """Stop without losing anything: every job stays in its persisted state for the restart."""
        self._stopping = True
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        # A submission cut short could leave a job the host has taken (and charged for) but the
        # bot has no id for; let those in flight finish, for a bounded time.
        waited = 0.0
        while waited < SUBMIT_GRACE_S and any(
            item.phase is JobPhase.SUBMITTING for item in self._live.values()
        ):
            await asyncio.sleep(0.05)
            waited += 0.05
        live = list(self._live.values())
        for item in live:
            if item.task is not None:
                item.task.cancel()
        for item in live:
            if item.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await item.task
            if item.reporter is not None:
                await item.reporter.stop()

    async def recover(self) -> None:
        active = [JobPhase.QUEUED, JobPhase.SUBMITTING, JobPhase.RUNNING, JobPhase.DELIVERING]
        jobs = await self.store.jobs_in(active)
        for job in jobs:
            if job.provider not in self.providers.providers:
                await self._fail(job, f"{job.provider} is no longer enabled on this bot")
                continue
            if job.state is JobPhase.SUBMITTING:
                await self._fail(job, "the bot restarted while sending it to the image host")
                continue
            self._track_live(job)
            if job.state is JobPhase.QUEUED:
                self.scheduler.push(self._ticket(job))
            else:
                ticket = self._ticket(job)
                self.scheduler.mark_running(ticket)
                self._launch(self._live[job.id])
        if jobs:
            log.info("recovered %d unfinished jobs", len(jobs))
        self._wake.set()

    # -- admission -------------------------------------------------------------------------
    async def admit(self, job: NewJob, allowance: int | None = None) -> int:
        """Hold the cost and record the job; return the balance left. Raises UserFacingError."""
        now = self.clock()
        return await self.store.admit_job(
            job,
            self.credits.budget(now, allowance),
            self.credits.caps(now),
            self.max_queued_per_user,
        )

    async def enqueue(self, job_id: str, placeholder_message_id: int | None) -> None:
        """Queue an admitted job once the member sees its placeholder (or could not be shown one).

        Until then it is not scheduled, so a fast job can't finish before it has a message
        to finish in; a crash in between leaves it queued, and recovery schedules it.
        """
        if placeholder_message_id is not None:
            await self.store.set_placeholder(job_id, placeholder_message_id)
        job = await self.store.get_job(job_id)
        assert job is not None
        self._track_live(job)
        self.scheduler.push(self._ticket(job))
        self._wake.set()

    def position(self, job_id: str) -> int | None:
        return self.scheduler.positions().get(job_id)

    def _ticket(self, job: Job) -> Ticket:
        return Ticket(job.id, (job.guild_id, job.user_id), job.provider)

    def _track_live(self, job: Job) -> None:
        live = _Live(job=job, phase=job.state, submitted_at=job.submitted_at, provider=job.provider)
        self._live[job.id] = live
        live.reporter = ProgressReporter(
            job, self.notifier, self.pacer, lambda: self._snapshot(live)
        )
        live.reporter.start()

    # -- cancel ----------------------------------------------------------------------------
    async def cancel(self, job_id: str) -> str:
        """Cancel a job that has not started delivering; return what to tell the member."""
        live = self._live.get(job_id)
        if live is None or live.phase in (JobPhase.DELIVERING, JobPhase.DONE):
            return "That job can't be cancelled any more."
        if live.phase is JobPhase.QUEUED and self.scheduler.remove(job_id):
            await self._finish_cancelled(live)
            return "Cancelled."
        live.user_cancelled = True
        if live.task is not None:
            live.task.cancel()
        return "Cancelling…"

    async def _finish_cancelled(self, live: _Live) -> None:
        await self._stop_reporting(live)
        settlement = await self.store.settle_failed(live.job.id, "cancelled", cancelled=True)
        self._live.pop(live.job.id, None)
        await self._tell_failure(live.job, f"Cancelled. {_refund(settlement.released)}")

    # -- scheduling ------------------------------------------------------------------------
    async def _dispatch(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            for ticket in self.scheduler.take_ready():
                live = self._live.get(ticket.job_id)
                if live is None:
                    self.scheduler.finish(ticket.job_id)
                    continue
                self._launch(live)

    def _launch(self, live: _Live) -> None:
        live.task = asyncio.create_task(self._run(live), name=f"job-{live.job.id}")

    def _snapshot(self, live: _Live) -> tuple[Job, Progress] | None:
        progress = self._progress(live)
        return None if progress is None else (live.job, progress)

    def _progress(self, live: _Live) -> Progress | None:
        label = self.providers.label(live.provider or live.job.provider)
        if live.phase is JobPhase.QUEUED:
            return Progress(
                phase="queued", provider_label=label, queue_position=self.position(live.job.id)
            )
        if live.phase in (JobPhase.SUBMITTING, JobPhase.RUNNING):
            elapsed = (
                0.0 if live.submitted_at is None else max(0.0, self.clock() - live.submitted_at)
            )
            eta = None
            basis = 0
            if live.expectation is not None:
                eta = max(0.0, live.expectation.seconds - elapsed)
                basis = live.expectation.basis
            return Progress(
                phase=str(live.phase),
                provider_label=label,
                elapsed_s=round(elapsed),
                eta_s=None if eta is None else round(eta),
                eta_basis=basis,
                fraction=None if live.fraction is None else round(live.fraction, 1),
            )
        return None

    # -- one job ---------------------------------------------------------------------------
    async def _run(self, live: _Live) -> None:
        job = live.job
        try:
            if live.phase is JobPhase.DELIVERING:
                await self._deliver(live, list(job.result_urls), job.provider_cost)
                return
            status = await self._submit_and_track(live)
            if status.state is JobState.SUCCEEDED:
                await self._deliver(live, [img.url for img in status.images], status.cost)
            elif status.state is JobState.CANCELLED:
                await self._fail(live.job, f"{self.providers.label(live.provider)} cancelled it")
            else:
                error = status.error or ProviderError(provider=live.provider)
                raise error
        except asyncio.CancelledError:
            if live.user_cancelled and not self._stopping:
                await self._cancel_at_provider(live)
                await self._finish_cancelled(live)
                return
            raise
        except JobCancelled:
            return
        except ProviderError as e:
            log.info("job %s failed at %s: %s", job.id, live.provider, e)
            label = self.providers.label(live.provider)
            await self._fail(live.job, f"{label} couldn't make this one ({e.user_message})")
        except DownloadError as e:
            log.warning("job %s: %s", job.id, e)
            await self._fail(live.job, "the images could not be fetched from the image host")
        except Exception:
            log.exception("job %s failed unexpectedly", job.id)
            await self._fail(live.job, "something went wrong on the bot's side")
        finally:
            if not self._stopping:
                self.scheduler.finish(job.id)
                self._live.pop(job.id, None)
                await self._stop_reporting(live)
                self._wake.set()

    async def _cancel_at_provider(self, live: _Live) -> None:
        job_id = live.job.provider_job_id
        if job_id:
            with contextlib.suppress(ProviderError):
                await self.providers.get(live.provider).cancel(job_id)

    async def _expectation(self, provider: str, size: str) -> Expectation:
        recent = await self.store.recent_durations(provider, size)
        return expect(recent, self.providers.expected_s.get(provider, 30.0))

    async def _submit_and_track(self, live: _Live) -> JobStatus:
        job = live.job
        if live.phase is JobPhase.QUEUED:
            if not await self.store.mark_submitting(job.id):
                raise JobCancelled
            live.phase = JobPhase.SUBMITTING
        if job.provider_job_id is not None:
            provider = self.providers.get(job.provider)
            live.expectation = await self._expectation(provider.name, job.request.size)
            return await self._poll(live, provider, job.provider_job_id)
        last_error: ProviderError | None = None
        for provider in self.providers.candidates(job.provider):
            if provider.capabilities.problem(job.request):
                continue
            try:
                return await self._submit_with(live, provider)
            except ProviderError as e:
                if not e.provider_unavailable or live.job.provider_job_id is not None:
                    raise
                log.warning(
                    "job %s: %s unavailable (%s), trying the next provider",
                    job.id,
                    provider.name,
                    e,
                )
                last_error = e
        assert last_error is not None
        raise last_error

    async def _submit_with(self, live: _Live, provider: Provider) -> JobStatus:
        live.provider = provider.name
        live.expectation = await self._expectation(provider.name, live.job.request.size)
        if provider.pushes_updates:
            stream = provider.submit_and_watch(live.job.request)
            first = await self._within_deadline(live, anext(stream))
            await self._mark_running(live, provider, first)
            return await self._follow_stream(live, provider, stream, first)
        first = await self._within_deadline(live, provider.submit(live.job.request))
        await self._mark_running(live, provider, first)
        if first.state.terminal:
            return first
        return await self._poll(live, provider, first.job_id)

    async def _mark_running(self, live: _Live, provider: Provider, first: JobStatus) -> None:
        await self.store.mark_running(live.job.id, provider.name, first.job_id)
        live.submitted_at = self.clock()
        live.job = replace(
            live.job,
            provider=provider.name,
            provider_job_id=first.job_id,
            submitted_at=live.submitted_at,
        )
        live.phase = JobPhase.RUNNING
        log.info("job %s submitted to %s as %s", live.job.id, provider.name, first.job_id)

    async def _follow_stream(
        self,
        live: _Live,
        provider: Provider,
        stream: AsyncGenerator[JobStatus, None],
        first: JobStatus,
    ) -> JobStatus:
        status = first
        try:
            while not status.state.terminal:
                status = await self._within_deadline(live, anext(stream))
                live.fraction = status.progress
            return status
        except TimedOut:
            raise
        except (ProviderError, StopAsyncIteration) as e:
            broken: BaseException = e
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()
        log.info(
            "job %s: stream from %s ended early (%s); polling instead",
            live.job.id,
            provider.name,
            broken,
        )
        return await self._poll(live, provider, first.job_id)

    async def _within_deadline(self, live: _Live, awaitable: Awaitable[T]) -> T:
        remaining = live.job.deadline_at - self.clock()
        if remaining <= 0:
            raise TimedOut("it took longer than this bot waits")
        try:
            return await asyncio.wait_for(awaitable, remaining)
        except TimeoutError as e:
            raise TimedOut("it took longer than this bot waits") from e

    async def _poll(self, live: _Live, provider: Provider, provider_job_id: str) -> JobStatus:
        expected = live.expectation.seconds if live.expectation else 30.0
        while True:
            now = self.clock()
            if now >= live.job.deadline_at:
                await self._cancel_at_provider(live)
                raise TimedOut("it took longer than this bot waits")
            elapsed = now - (live.submitted_at or now)
            wait = poll_interval(elapsed, expected)
            await asyncio.sleep(min(wait, max(0.0, live.job.deadline_at - now)))
            try:
                status = await provider.get_status(provider_job_id)
            except RateLimited as e:
                await asyncio.sleep(e.retry_after or wait)
                continue
            except ProviderError as e:
                if e.provider_unavailable or isinstance(e, TimedOut):
                    log.info("job %s: status check failed (%s); will look again", live.job.id, e)
                    continue
                raise
            live.fraction = status.progress
            if status.state.terminal:
                return status

    async def _deliver(self, live: _Live, urls: list[str], provider_cost: float | None) -> None:
        if live.phase is not JobPhase.DELIVERING:
            await self.store.mark_delivering(live.job.id, urls, provider_cost)
            live.phase = JobPhase.DELIVERING
        await self._stop_reporting(live)
        await self.deliverer.deliver(live.job, urls)

    async def _fail(self, job: Job, reason: str) -> None:
        settlement = await self.store.settle_failed(job.id, reason)
        await self._tell_failure(job, f"{_capitalise(reason)}. {_refund(settlement.released)}")

    async def _tell_failure(self, job: Job, message: str) -> None:
        try:
            await self.notifier.show_failure(job, message)
        except Exception:
            log.warning("could not tell the member about job %s", job.id, exc_info=True)

    async def _stop_reporting(self, live: _Live) -> None:
        if live.reporter is not None:
            reporter, live.reporter = live.reporter, None
            await reporter.stop()


def _refund(amount: int) -> str:
    if amount == 0:
        return "Nothing was charged."
    return (
        f"Your {amount} credit{'s' if amount != 1 else ''} {'are' if amount != 1 else 'is'} back."
    )


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
