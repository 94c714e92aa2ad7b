"""Placeholder updates, coalesced (the latest state wins) and gated so progress yields to results.

The gate a reporter asks is a `ProgressGate`: in the bot, `wanbot.jobs.pacing.ChannelPressure`
(pacing learned from Discord's answers). Results never ask it: only progress waits its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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


class ProgressReporter:
    """One per job: looks at the job's state every tick and edits when it changed and may.

    `snapshot` returns the job as it stands now (its placeholder may be attached after the
    reporter starts) with what to show, or None when there is nothing to show.
    """

    def __init__(
        self,
        job: Job,
        notifier: Notifier,
        gate: ProgressGate,
        snapshot: Callable[[], tuple[Job, Progress] | None],
        tick_s: float = 0.5,
    ) -> None:
        self._job = job
        self._notifier = notifier
        self._gate = gate
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
        self._gate.forget(self._job.id)

    async def _run(self) -> None:
        while True:
            current = self._snapshot()
            if (
                current is not None
                and current[1] != self._last_sent
                and self._gate.try_acquire(self._job.id, self._job.channel_id)
            ):
                job, progress = current
                try:
                    await self._notifier.show_progress(job, progress)
                    self._last_sent = progress
                except Exception:
                    log.warning("progress edit failed for job %s", self._job.id, exc_info=True)
            await asyncio.sleep(self._tick_s)
