"""The whole bot (`open_bot`, as bot.py builds it) against the fake Discord, for benchmarks."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from cogs.client import WanBot, open_bot
from tests.e2e.harness import make_config, write_config
from tests.e2e.harness import running_bot as harness_bot
from tests.fakes.discord_runner import RemoteDiscord
from tests.fakes.discord_server import FakeDiscord


def add_members(fake: FakeDiscord, count: int, prefix: str = "member") -> list[str]:
    """Give the fake guild `count` more plain members (keys prefix0..); call before start()."""
    return [fake.add_member(f"{prefix}{i}").key for i in range(count)]


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    tmp_path: Path,
    *,
    generation: str = "",
    credits: str = "",
    mock_delay: float = 0.5,
) -> AsyncIterator[WanBot]:
    """The tests' harness bot, with the generation and credit settings a benchmark needs."""
    async with harness_bot(
        fake,
        tmp_path,
        extra_toml=f"[credits]\n{credits}\n",
        generation=f'provider = "mock"\n{generation}',
        mock_delay=mock_delay,
    ) as h:
        yield h.bot


@contextlib.asynccontextmanager
async def running_remote_bot(
    remote: RemoteDiscord,
    tmp_path: Path,
    *,
    generation: str = "",
    credits: str = "",
    mock_delay: float = 0.5,
    configure: Callable[[WanBot], None] | None = None,
) -> AsyncIterator[WanBot]:
    """The bot as bot.py builds it, against a fake Discord in its own process."""
    path = write_config(
        tmp_path,
        remote,
        f"[credits]\n{credits}\n",
        mock_delay=mock_delay,
        generation=f'provider = "mock"\n{generation}',
    )
    async with open_bot(make_config(path, remote)) as bot:
        bot._connection.guild_ready_timeout = 0.05
        if configure is not None:
            configure(bot)
        task = asyncio.create_task(bot.start(remote.token))
        ready = asyncio.create_task(bot.wait_until_ready())
        try:
            done, _ = await asyncio.wait({task, ready}, timeout=20, return_when="FIRST_COMPLETED")
            if task in done:
                task.result()
            if ready not in done:
                raise RuntimeError("the bot did not become ready")
            yield bot
        finally:
            ready.cancel()
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class LogCounter(logging.Handler):
    """Counts WARNING and worse records by logger and message template (nothing printed)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[f"{record.levelname} {record.name}: {str(record.msg)[:70]}"] += 1


@contextlib.contextmanager
def counting_logs() -> Iterator[LogCounter]:
    counter = LogCounter()
    root = logging.getLogger()
    root.addHandler(counter)
    try:
        yield counter
    finally:
        root.removeHandler(counter)
