"""The fake PixelDojo with a fixed submission rate limit, served from a thread of its own.

Bot processes reach it over loopback HTTP; it runs on its own event loop so the benchmark's loop
(polling PostgreSQL, driving the fake Discord's pipe) never delays its answers. What the
benchmark reads back (accepted jobs, 429s, the submissions' times) is read on the host's loop.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

from tests.fakes.pixeldojo_server import FakePixelDojo

T = TypeVar("T")


@dataclass(frozen=True)
class HostTally:
    accepted_by_prompt: dict[str, int]  # jobs the host accepted, per prompt (1 each: once)
    accepted_at: list[float]  # time.monotonic() of each accepted submission (the host's clock)
    rate_limited: int  # submissions answered 429 by the rate limit
    run_requests: int  # every POST .../run, accepted or not
    status_requests: int  # GET /jobs/{id}


class RateLimitedHost:
    def __init__(self, *, rate: int, window_s: float, job_duration_s: float) -> None:
        self.fake = FakePixelDojo(
            job_duration_s=job_duration_s,
            submit_rate=(rate, window_s),
            credits=10**9,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    def start(self) -> None:
        started: Future[None] = Future()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.fake.start())
            except BaseException as e:
                started.set_exception(e)
                return
            started.set_result(None)
            loop.run_forever()
            loop.run_until_complete(self.fake.stop())
            loop.close()

        self._thread = threading.Thread(target=serve, name="RateLimitedHost", daemon=True)
        self._thread.start()
        started.result(timeout=20)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def _on_loop(self, read: Callable[[], T]) -> T:
        assert self._loop is not None, "the host is not started"

        async def run() -> T:
            return read()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def tally(self) -> HostTally:
        def read() -> HostTally:
            prompts = collections.Counter(str(j.body["prompt"]) for j in self.fake.jobs.values())
            return HostTally(
                accepted_by_prompt=dict(prompts),
                accepted_at=sorted(j.created for j in self.fake.jobs.values()),
                rate_limited=self.fake.rate_limited,
                run_requests=len(self.fake.submissions("/run")),
                status_requests=sum(
                    1
                    for r in self.fake.requests
                    if r.method == "GET" and r.path.startswith("/api/v1/jobs/")
                ),
            )

        return self._on_loop(read)
