"""How a running job learns that its host finished: by looking, within the host's request budget,
or, where the host pushes, from a webhook that makes it look at once.

Looks are planned by `eta.plan_look` from what is known at the time: the durations of past jobs
of the host and size, those of its peers that finished since (`PeerBook`), and how many peers are
still running. When a peer finishes, the waiting jobs of its host and size replan at once, from
their last look (a job that a peer's window says may be done already looks now). Each look waits
for its turn in the host's `PollBudget` (the jobs most likely done go first). With a webhook,
polling is only a safety net (a look every SAFETY_NET_S at most) and peers' news is not listened
to; a push is a hint, never a verdict: the job asks the host (`get_status`) and believes only its
answer. A hook takes one push: after it the job polls as any other. Every wait is bounded by the
job's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from wanbot.http.hooks import Hook
from wanbot.jobs.eta import Expectation, Outlook, inside_past_spread, plan_look
from wanbot.jobs.peers import KEEP, PeerBook
from wanbot.jobs.polling import PollBudget
from wanbot.providers.errors import ProviderError, RateLimited, TimedOut
from wanbot.providers.models import JobState, JobStatus

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
    size: str = ""
    history: tuple[float, ...] = ()  # past durations read when the job was submitted
    history_at: float = 0.0  # when they were read: later finishes come from `peers`
    first_guess: float = 30.0
    peers: PeerBook | None = None
    looks: int = 0
    pushed: bool = False

    def remaining(self) -> float:
        return self.deadline_at - self.clock()

    def _elapsed(self) -> float:
        return max(0.0, self.clock() - self.submitted_at)

    def outlook(self, elapsed_s: float) -> Outlook:
        peers = self.peers
        if peers is None:
            return Outlook(self.history, self.first_guess, phase=self._phase())
        key = (self.host, self.size)
        learned = peers.since(key, self.history_at)
        return Outlook(
            tuple(learned + list(self.history))[: max(KEEP, len(self.history))],
            self.first_guess,
            peers.at_risk(key, self.job_id, elapsed_s),
            self._phase(),
            len(learned),
        )

    def _phase(self) -> float:
        return zlib.crc32(self.job_id.encode()) / 2**32

    async def until_final(
        self,
        look: Callable[[], Awaitable[JobStatus]],
        seen: Callable[[JobStatus], None] = lambda status: None,
    ) -> JobStatus:
        """Look (`look()` asks the host once) until the job is terminal; `seen` gets each answer."""
        key = (self.host, self.size)
        if self.peers is not None:
            self.peers.join(key, self.job_id, self.submitted_at)
        try:
            status = await self._look_until_final(look, seen)
        except BaseException:
            if self.peers is not None:
                self.peers.leave(key, self.job_id)
            raise
        if self.peers is not None:
            if status.state is JobState.SUCCEEDED:
                self.peers.finished(key, self.job_id, self._elapsed())
            else:
                self.peers.leave(key, self.job_id)
        return status

    async def _look_until_final(
        self,
        look: Callable[[], Awaitable[JobStatus]],
        seen: Callable[[JobStatus], None],
    ) -> JobStatus:
        last = self._elapsed()  # the elapsed time of the last look (or of the start)
        fresh = True
        while True:
            if self.remaining() <= 0:
                raise PastDeadline
            wait = plan_look(last, self.outlook(last), fresh=fresh)
            # After a look a peer's news brought forward, the next one starts a fresh schedule.
            pushed_now, fresh = await self._wait(last, wait)
            # A pushed job is the likeliest of all to be done: first in the host's line.
            due_at = 0.0 if pushed_now else self.submitted_at + self.expectation.seconds
            if not await self.budget.turn(self.host, self.job_id, due_at, self.deadline_at):
                raise PastDeadline
            last = self._elapsed()
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

    async def _wait(self, last: float, seconds: float) -> tuple[bool, bool]:
        """Wait until `seconds` after the look at `last`: (whether a push ended the wait, whether a
        peer's news brought the look forward)."""
        hook = self.hook
        if hook is not None and not self.pushed:
            wait = max(seconds, SAFETY_NET_S) - (self._elapsed() - last)
            try:
                async with asyncio.timeout(max(0.0, min(wait, self.remaining()))):
                    await hook.wait()
            except TimeoutError:
                return False, False
            self.pushed = True
            return True, False
        if self.peers is None or inside_past_spread(last, self.outlook(last)):
            # Inside the spread of past jobs one more duration hardly moves the plan.
            await self._sleep(last + seconds - self._elapsed())
            return False, False
        key = (self.host, self.size)
        look_at = last + seconds
        hinted = False
        while (left := look_at - self._elapsed()) > 0 and self.remaining() > 0:
            news = self.peers.news(key)
            try:
                async with asyncio.timeout(min(left, self.remaining())):
                    await news.wait()
            except TimeoutError:
                break
            # Replanned from the last look: if a peer's window opened since, that is now.
            replanned = last + plan_look(last, self.outlook(last))
            if replanned < look_at:
                look_at, hinted = replanned, True
        return False, hinted

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but never past the deadline (a host's Retry-After can be any number)."""
        await asyncio.sleep(max(0.0, min(seconds, self.remaining())))

    async def _within_deadline(self, awaitable: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(max(0.0, self.remaining())):
                return await awaitable
        except TimeoutError as e:
            raise PastDeadline from e
