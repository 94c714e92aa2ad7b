"""One request budget per image host for status polls, spent on the jobs closest to finishing.

Every status request to a host draws from that host's token bucket (`rate` per second, up to a
second's worth saved up). When the bucket is empty, jobs wanting a look wait in a priority queue
keyed by their expected finish: the job most likely to be done is asked about first, a job with
a minute to go waits. No wait is unbounded: a job's deadline ends its wait (`turn` says False).

Hosts that answer several jobs in one request (`BatchStatusHost`) can spend one token on many
jobs: whoever gets the turn takes the other waiting jobs of that host with `take_waiting`, asks
once for all of them and leaves each answer where its job looks first (the job run's cache).
DashScope documents a batch task query (exact path not verified here: check before use);
PixelDojo and skills.video document none (skills.video lists running generations, for recovery).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

# Documented limits where there are any (reference/providers.md), else a polite default.
DEFAULT_POLL_RATES: dict[str, float] = {
    "dashscope": 20.0,  # task queries: 20 per second per account
    "pixeldojo": 1.0,  # older API: 60 requests a minute
    "skillsvideo": 5.0,  # undocumented; SSE carries most of its updates anyway
    "mock": math.inf,  # local files: no budget
}
DEFAULT_RATE = 5.0


class BatchStatusHost(Protocol):
    """A host that reports on several of its jobs in one request."""

    max_batch: int

    async def get_statuses(self, job_ids: Sequence[str]) -> Mapping[str, object]: ...


@dataclass(order=True)
class _Waiter:
    due_at: float
    seq: int
    job_id: str = field(compare=False)
    deadline_at: float = field(compare=False)
    future: asyncio.Future[bool] = field(compare=False)


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    updated_at: float
    queue: list[_Waiter] = field(default_factory=list)
    pump: asyncio.Task[None] | None = None
    granted: int = 0
    expired: int = 0


class PollBudget:
    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        *,
        default_rate: float = DEFAULT_RATE,
        burst_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rates = {**DEFAULT_POLL_RATES, **(rates or {})}
        self._default_rate = default_rate
        self._burst_s = burst_s
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, _Bucket] = {}
        self._seq = itertools.count()

    def rate(self, host: str) -> float:
        return self._rates.get(host, self._default_rate)

    def _bucket(self, host: str) -> _Bucket:
        bucket = self._buckets.get(host)
        if bucket is None:
            rate = self.rate(host)
            capacity = max(1.0, rate * self._burst_s) if math.isfinite(rate) else math.inf
            bucket = _Bucket(rate, capacity, capacity, self._clock())
            self._buckets[host] = bucket
        return bucket

    def _refill(self, bucket: _Bucket, now: float) -> None:
        if math.isfinite(bucket.capacity):
            gained = max(0.0, now - bucket.updated_at) * bucket.rate
            bucket.tokens = min(bucket.capacity, bucket.tokens + gained)
        bucket.updated_at = now

    async def turn(
        self, host: str, job_id: str, due_at: float, deadline_at: float | None = None
    ) -> bool:
        """Wait for this job's turn to ask `host` about it; False if `deadline_at` came first.

        `due_at` is when the job is expected to finish (the budget's clock): the earliest asks
        first. Cancelling the caller leaves the queue clean.
        """
        bucket = self._bucket(host)
        if not math.isfinite(bucket.rate) or bucket.rate <= 0:
            bucket.granted += 1
            return True
        now = self._clock()
        self._refill(bucket, now)
        if not bucket.queue and bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.granted += 1
            return True
        limit = math.inf if deadline_at is None else deadline_at
        if now >= limit:
            bucket.expired += 1
            return False
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        heapq.heappush(bucket.queue, _Waiter(due_at, next(self._seq), job_id, limit, future))
        if bucket.pump is None or bucket.pump.done():
            bucket.pump = asyncio.create_task(self._pump(bucket), name=f"poll-budget-{host}")
        return await future

    async def _pump(self, bucket: _Bucket) -> None:
        while True:
            now = self._clock()
            self._refill(bucket, now)
            self._drop_finished(bucket, now)
            if not bucket.queue:
                return
            if bucket.tokens >= 1:
                waiter = heapq.heappop(bucket.queue)
                bucket.tokens -= 1
                bucket.granted += 1
                waiter.future.set_result(True)
                await asyncio.sleep(0)  # let the winner run before the next grant
                continue
            next_token = (1 - bucket.tokens) / bucket.rate
            next_deadline = min(w.deadline_at for w in bucket.queue) - now
            await self._sleep(max(0.0, min(next_token, next_deadline)))

    def _drop_finished(self, bucket: _Bucket, now: float) -> None:
        kept = []
        for waiter in bucket.queue:
            if waiter.future.done():
                continue  # its caller was cancelled
            if waiter.deadline_at <= now:
                bucket.expired += 1
                waiter.future.set_result(False)
                continue
            kept.append(waiter)
        if len(kept) != len(bucket.queue):
            heapq.heapify(kept)
            bucket.queue = kept

    def take_waiting(self, host: str, limit: int) -> list[str]:
        """For a batch request: up to `limit` waiting jobs of `host`, closest to finish first.

        They leave the queue granted (their `turn` returns True) without spending a token: the
        caller's one request answers for them.
        """
        bucket = self._bucket(host)
        taken: list[str] = []
        while bucket.queue and len(taken) < limit:
            waiter = heapq.heappop(bucket.queue)
            if waiter.future.done():
                continue
            waiter.future.set_result(True)
            taken.append(waiter.job_id)
        return taken

    def figures(self, host: str) -> dict[str, float]:
        bucket = self._bucket(host)
        return {
            "rate": bucket.rate,
            "waiting": sum(1 for w in bucket.queue if not w.future.done()),
            "granted": bucket.granted,
            "expired": bucket.expired,
        }

    async def close(self) -> None:
        for bucket in self._buckets.values():
            if bucket.pump is not None:
                bucket.pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await bucket.pump
            for waiter in bucket.queue:
                if not waiter.future.done():
                    waiter.future.set_result(False)
            bucket.queue.clear()
