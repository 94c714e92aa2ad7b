"""How a running job learns that its host finished: by looking, within the host's request budget,
or, where the host pushes, from a webhook that makes it look at once.

Looks are spaced by `eta.next_look` around the job's expected finish, and each one waits for
its turn in the host's `PollBudget` (the jobs most likely done go first). With a webhook, polling
is only a safety net (a look every SAFETY_NET_S at most); a push is a hint, never a verdict: the
job asks the host (`get_status`) and believes only its answer. A hook takes one push: after it the
job polls as any other. Every wait is bounded by the job's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from wanbot.http.hooks import Hook
from wanbot.jobs.eta import Expectation, next_look
from wanbot.jobs.polling import PollBudget
from wanbot.providers.errors import ProviderError, RateLimited, TimedOut
from wanbot.providers.models import JobStatus

log = logging.getLogger(__name__)
T = TypeVar("T")

# With a webhook, the longest a job goes without a look of its own (the push may be lost).
SAFETY_NET_S = 30.0


class PastDeadline(Exception):
    """The job's deadline came before its host's answer."""


@dataclass
class StatusWatch:
    """One job's way to its host's final answer (one per tracking of a submitted job)."""

    job_id: str
    host: str
    submitted_at: float
    expectation: Expectation
    deadline_at: float
    clock: Callable[[], float]
    budget: PollBudget
    hook: Hook | None = None
    looks: int = 0
    pushed: bool = False

    def remaining(self) -> float:
        return self.deadline_at - self.clock()

    async def until_final(
        self,
        look: Callable[[], Awaitable[JobStatus]],
        seen: Callable[[JobStatus], None] = lambda status: None,
    ) -> JobStatus:
        """Look (`look()` asks the host once) until the job is terminal; `seen` gets each answer."""
        while True:
            if self.remaining() <= 0:
                raise PastDeadline
            elapsed = max(0.0, self.clock() - self.submitted_at)
            wait = next_look(elapsed, self.expectation)
            pushed_now = await self._wait(wait)
            # A pushed job is the likeliest of all to be done: first in the host's line.
            due_at = 0.0 if pushed_now else self.submitted_at + self.expectation.seconds
            if not await self.budget.turn(self.host, self.job_id, due_at, self.deadline_at):
                raise PastDeadline
            try:
                status = await self._within_deadline(look())
            except RateLimited as e:
                await self._sleep(e.retry_after or wait)
                continue
            except ProviderError as e:
                if e.provider_unavailable or isinstance(e, TimedOut):
                    log.info("job %s: status check failed (%s); will look again", self.job_id, e)
                    continue
                raise
            self.looks += 1
            seen(status)
            if status.state.terminal:
                return status
            if pushed_now:
                log.info("job %s: pushed, but %s says %s", self.job_id, self.host, status.state)

    async def follow(
        self,
        stream: AsyncGenerator[JobStatus, None],
        first: JobStatus,
        seen: Callable[[JobStatus], None],
    ) -> JobStatus | None:
        """Statuses the host pushes on a stream (skills.video SSE) until a terminal one; None if
        the stream broke first (the caller polls instead)."""
        status = first
        try:
            while not status.state.terminal:
                status = await self._within_deadline(anext(stream))
                seen(status)
            return status
        except (ProviderError, StopAsyncIteration) as e:
            broken: BaseException = e
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()
        log.info("job %s: stream from %s ended early (%s); polling", self.job_id, self.host, broken)
        return None

    async def _wait(self, seconds: float) -> bool:
        """Wait before the next look; True if a push ended the wait."""
        hook = self.hook
        if hook is None or self.pushed:
            await self._sleep(seconds)
            return False
        wait = max(seconds, SAFETY_NET_S)
        try:
            async with asyncio.timeout(max(0.0, min(wait, self.remaining()))):
                await hook.wait()
        except TimeoutError:
            return False
        self.pushed = True
        return True

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but never past the deadline (a host's Retry-After can be any number)."""
        await asyncio.sleep(max(0.0, min(seconds, self.remaining())))

    async def _within_deadline(self, awaitable: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(max(0.0, self.remaining())):
                return await awaitable
        except TimeoutError as e:
            raise PastDeadline from e
