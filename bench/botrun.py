"""The whole bot (`open_bot`, as bot.py builds it) against the fake Discord, for benchmarks."""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from cogs.client import WanBot
from tests.e2e.harness import running_bot as harness_bot
from tests.fakes.discord_server import FakeDiscord, FakeUser


def add_members(fake: FakeDiscord, count: int, prefix: str = "member") -> list[str]:
    """Give the fake guild `count` more plain members (keys prefix0..); call before start().

    FakeDiscord has five fixed users and no public way to add more, so this writes its
    (private) user tables directly, as its constructor does.
    """
    keys = []
    for i in range(count):
        key = f"{prefix}{i}"
        uid = fake._next_id()
        fake._user_roles[uid] = []
        fake._usernames[uid] = key
        fake._users[key] = FakeUser(key, uid, key, False)
        keys.append(key)
    return keys


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
