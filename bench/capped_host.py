"""A bench-only image host that answers 429 above a number of jobs in flight (not in wanbot/).

The mock provider, with a host's capacity: a job occupies the host from its submission until
its drawing time has passed; a submission beyond `cap` occupied slots is refused with
`RateLimited` (HTTP 429), as a real host with a concurrency limit would. It counts what a
benchmark reports: the 429s, the jobs accepted and the most in flight at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wanbot.config import MockConfig
from wanbot.providers.errors import RateLimited
from wanbot.providers.mock import MockProvider
from wanbot.providers.models import GenerationRequest, JobStatus

if TYPE_CHECKING:
    from cogs.client import WanBot

log = logging.getLogger(__name__)


class CappedMock(MockProvider):
    def __init__(
        self, config: MockConfig, *, data_dir: Path, cap: int, retry_after_s: float = 1.0
    ) -> None:
        super().__init__(config, data_dir=data_dir)
        self.cap = cap
        self.retry_after_s = retry_after_s
        self.count_429 = 0
        self.accepted = 0
        self.peak_in_flight = 0
        self._busy_until: dict[str, float] = {}

    def in_flight(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        for job_id in [j for j, until in self._busy_until.items() if until <= now]:
            del self._busy_until[job_id]
        return len(self._busy_until)

    async def submit(self, request: GenerationRequest) -> JobStatus:
        now = time.time()
        if self.in_flight(now) >= self.cap:
            self.count_429 += 1
            raise RateLimited(
                "too many jobs in flight",
                retry_after=self.retry_after_s,
                provider=self.name,
                status=429,
            )
        status = await super().submit(request)
        self._busy_until[status.job_id] = now + self._delay_s
        self.accepted += 1
        self.peak_in_flight = max(self.peak_in_flight, len(self._busy_until))
        return status


async def sample_window(bot: WanBot, into: list[tuple[int, int, int]]) -> None:
    """The mock host's window in the bot's scheduler, four times a second."""
    while True:
        f = bot.jobs.scheduler.host_figures("mock")
        into.append((int(f["cuts"]), int(f["window"]), int(f["in_flight"])))
        await asyncio.sleep(0.25)


def window_figures(samples: list[tuple[int, int, int]]) -> dict[str, Any]:
    """What the window found: its range once the host first refused, and where it ended."""
    after = [(w, n) for cuts, w, n in samples if cuts > 0]
    return {
        "window_max": max((w for _, w, _ in samples), default=None),
        "window_cuts": max((c for c, _, _ in samples), default=0),
        "window_after_first_cut": [min(w for w, _ in after), max(w for w, _ in after)]
        if after
        else None,
        "window_last": samples[-1][1] if samples else None,
        "in_flight_mean_after_first_cut": round(sum(n for _, n in after) / len(after), 2)
        if after
        else None,
    }
