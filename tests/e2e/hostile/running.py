"""One bot for a whole property test, on a thread and loop of its own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tests.e2e.harness import Harness, running_bot
from tests.fakes.discord_server import FakeDiscord, FakeMessage, InteractionHandle
from wanbot.store.base import Job, JobPhase

T = TypeVar("T")

IMAGE_COST = 1
ALLOWANCE = 1_000_000

CONFIG = f"""
[credits]
allowance = {ALLOWANCE}
image_cost = {IMAGE_COST}
"""
GENERATION = """
max_concurrent_jobs = 8
max_jobs_per_provider = 8
max_running_per_user = 8
max_queued_per_user = 1000
"""


class BotThread:
    """One bot for a whole test, on a thread of its own; `run` hops a coroutine onto its loop."""

    def __init__(self, fake: FakeDiscord, tmp_path: Path) -> None:
        self.fake = fake
        self.tmp_path = tmp_path
        self.loop: asyncio.AbstractEventLoop | None = None
        self.harness: Harness | None = None
        self._ready: concurrent.futures.Future[Harness] = concurrent.futures.Future()
        self._stop: asyncio.Event | None = None
        self.crashed: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="bot", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:
            self.crashed = e

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with running_bot(
                self.fake,
                self.tmp_path,
                extra_toml=CONFIG,
                generation=GENERATION,
                mock_delay=0.05,
                mock_cost=IMAGE_COST,
            ) as h:
                self._ready.set_result(h)
                await self._stop.wait()
        except BaseException as e:
            if not self._ready.done():
                self._ready.set_exception(e)
            raise

    def __enter__(self) -> BotThread:
        self._thread.start()
        self.harness = self._ready.result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the bot did not stop"
        if self.crashed is not None and exc[0] is None:
            raise AssertionError("the bot crashed") from self.crashed

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def errors_logged() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def answer(handle: InteractionHandle, within_s: float = 10.0) -> FakeMessage:
    """The bot's visible answer: the filled original response, or a followup."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        followups = handle.followups
        if followups:
            return followups[-1]
        message = handle.original_message()
        if message is not None and not message.loading and not message.deleted:
            return message
        if loop.time() > deadline:
            raise AssertionError(f"no answer to {handle} (callbacks {handle.callbacks})")
        await asyncio.sleep(0.02)


async def job_by_token(h: Harness, token: str) -> Job | None:
    for job in await h.store.jobs_in(list(JobPhase)):
        if job.for_interaction(token):
            return job
    return None
