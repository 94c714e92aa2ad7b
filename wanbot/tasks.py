"""Background tasks that log their failures and come back: dispatcher, heartbeat, housekeeping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# A task that ran this long before failing was healthy: its next restart waits the shortest time.
HEALTHY_RUN_S = 60.0


class Supervised:
    """One background task, restarted with a growing pause whenever it fails or returns."""

    def __init__(
        self,
        name: str,
        factory: Callable[[], Awaitable[None]],
        *,
        first_delay_s: float = 1.0,
        max_delay_s: float = 60.0,
    ) -> None:
        self.name, self._factory = name, factory
        self._delays = (first_delay_s, max_delay_s)  # before the first restart, at most
        self._running = False
        self.restarts = 0
        self._task = asyncio.create_task(self._keep_running(), name=name)

    @property
    def alive(self) -> bool:
        """Running its body now (not stopped, not waiting to restart after a failure)."""
        return self._running and not self._task.done()

    async def _keep_running(self) -> None:
        first_delay, max_delay = self._delays
        delay = first_delay
        while True:
            started = time.monotonic()
            self._running = True
            try:
                await self._factory()
                log.error("background task %s returned; restarting it", self.name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s failed; restarting it", self.name)
            finally:
                self._running = False
            if time.monotonic() - started >= HEALTHY_RUN_S:
                delay = first_delay
            self.restarts += 1
            await asyncio.sleep(delay)
            delay = min(max_delay, delay * 2)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def supervise(name: str, factory: Callable[[], Awaitable[None]], **delays: float) -> Supervised:
    """Start `factory()` as a background task that is logged and restarted when it fails."""
    return Supervised(name, factory, **delays)


async def finish_anyway(task: asyncio.Task[T]) -> T:
    """Wait for `task` to end even if the caller is cancelled meanwhile, then pass the cancel on.

    For settlement: once money is being moved, it is moved to the end.
    """
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
