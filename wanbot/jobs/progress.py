"""Placeholder updates, coalesced (the latest state wins) and gated so progress yields to results.

The gate a reporter asks is a `ProgressGate`: `wanbot.jobs.pacing.ChannelPressure` (pacing learned
from Discord's answers) or the older `EditPacer` (a fixed budget, kept until the job service no
longer uses it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from wanbot.jobs.ports import Notifier, Progress
from wanbot.store.base import Job

log = logging.getLogger(__name__)


class ProgressGate(Protocol):
    def try_acquire(self, job_id: str, channel_id: int) -> bool:
        """True if a progress edit for this job may go now (and count it as gone)."""
        ...

    def forget(self, job_id: str) -> None:
        """The job's progress is over."""
        ...


class EditPacer:
    """Spaces edits: one per job every `per_job_s`; per channel and overall, a sliding window.

    Discord allows about 5 edits per 2 s per interaction token and keeps a hidden per-channel
    limit. Progress edits take a slot only when one is free (`try_acquire`); deliveries wait for
    one (`reserve`), so both share one budget and a busy channel doesn't draw a storm of 429s.
    """

    def __init__(
        self,
        *,
        per_job_s: float = 2.5,
        per_channel: int = 4,
        channel_window_s: float = 5.0,
        overall: int = 20,
        overall_window_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_job_s = per_job_s
        self._per_channel = per_channel
        self._channel_window = channel_window_s
        self._overall = overall
        self._overall_window = overall_window_s
        self._clock = clock
        self._last_by_job: dict[str, float] = {}
        self._by_channel: dict[int, deque[float]] = {}
        self._all: deque[float] = deque()

    @staticmethod
    def _trim(times: deque[float], now: float, window: float) -> None:
        while times and now - times[0] >= window:
            times.popleft()

    def try_acquire(self, job_id: str, channel_id: int) -> bool:
        now = self._clock()
        if now - self._last_by_job.get(job_id, -1e9) < self.per_job_s:
            return False
        channel = self._by_channel.setdefault(channel_id, deque())
        self._trim(channel, now, self._channel_window)
        self._trim(self._all, now, self._overall_window)
        if len(channel) >= self._per_channel or len(self._all) >= self._overall:
            return False
        channel.append(now)
        self._all.append(now)
        self._last_by_job[job_id] = now
        return True

    async def reserve(self, channel_id: int, count: int = 1) -> None:
        """Wait for room for `count` edits in the channel (deliveries wait; progress skips).

        Counting deliveries in the same window is what keeps progress edits from spending the
        budget a result needs.
        """
        channel = self._by_channel.setdefault(channel_id, deque())
        for _ in range(count):
            while True:
                now = self._clock()
                self._trim(channel, now, self._channel_window)
                self._trim(self._all, now, self._overall_window)
                if len(channel) < self._per_channel and len(self._all) < self._overall:
                    channel.append(now)
                    self._all.append(now)
                    break
                oldest = min(
                    channel[0] if len(channel) >= self._per_channel else now,
                    self._all[0] if len(self._all) >= self._overall else now,
                )
                window = max(self._channel_window, self._overall_window)
                await asyncio.sleep(max(0.05, min(window, oldest + window - now)))

    def forget(self, job_id: str) -> None:
        self._last_by_job.pop(job_id, None)


class ProgressReporter:
    """One per job: looks at the job's state every tick and edits when it changed and may.

    `snapshot` returns the job as it stands now (its placeholder may be attached after the
    reporter starts) with what to show, or None when there is nothing to show.
    """

    def __init__(
        self,
        job: Job,
        notifier: Notifier,
        pacer: ProgressGate,
        snapshot: Callable[[], tuple[Job, Progress] | None],
        tick_s: float = 0.5,
    ) -> None:
        self._job = job
        self._notifier = notifier
        self._pacer = pacer
        self._snapshot = snapshot
        self._tick_s = tick_s
        self._task: asyncio.Task[None] | None = None
        self._last_sent: Progress | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"progress-{self._job.id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._pacer.forget(self._job.id)

    async def _run(self) -> None:
        while True:
            current = self._snapshot()
            if (
                current is not None
                and current[1] != self._last_sent
                and self._pacer.try_acquire(self._job.id, self._job.channel_id)
            ):
                job, progress = current
                try:
                    await self._notifier.show_progress(job, progress)
                    self._last_sent = progress
                except Exception:
                    log.warning("progress edit failed for job %s", self._job.id, exc_info=True)
            await asyncio.sleep(self._tick_s)
