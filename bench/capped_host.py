"""A bench-only image host that answers 429 above a number of jobs in flight (not in wanbot/).

The mock provider, with a host's capacity: a job occupies the host from its submission until
its drawing time has passed; a submission beyond `cap` occupied slots is refused with
`RateLimited` (HTTP 429), as a real host with a concurrency limit would. It counts what a
benchmark reports: the 429s, the jobs accepted and the most in flight at once.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from wanbot.config import MockConfig
from wanbot.providers.errors import RateLimited
from wanbot.providers.mock import MockProvider
from wanbot.providers.models import GenerationRequest, JobStatus

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
