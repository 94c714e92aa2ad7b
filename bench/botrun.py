"""The whole bot (`open_bot`, as bot.py builds it) against the fake Discord, for benchmarks.

Like tests/e2e/harness.py's `running_bot`, but it writes the whole config file itself: the
harness's `extra_toml` is appended after its own `[generation]` table, so it cannot raise the
generation limits (TOML refuses a table declared twice).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from cogs.client import WanBot, open_bot
from tests.fakes.discord_server import FakeDiscord, FakeUser
from wanbot.config import load_config


def write_config(
    tmp_path: Path, fake: FakeDiscord, *, generation: str, credits: str, mock_delay: float
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[discord]
api_base_url = "{fake.api_base_url}"
gateway_url = "{fake.gateway_url}"
command_sync = "global"

[storage]
url = "sqlite:///{tmp_path / "wanbot.db"}"

[generation]
provider = "mock"
data_dir = "{tmp_path / "data"}"
{generation}

[credits]
{credits}

[providers.mock]
delay_s = {mock_delay}
"""
    )
    return path


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
    path = write_config(
        tmp_path, fake, generation=generation, credits=credits, mock_delay=mock_delay
    )
    config = load_config(path, env={"DISCORD_TOKEN": fake.token})
    async with open_bot(config) as bot:
        bot._connection.guild_ready_timeout = 0.05
        task = asyncio.create_task(bot.start(fake.token))
        ready = asyncio.create_task(bot.wait_until_ready())
        try:
            done, _ = await asyncio.wait({task, ready}, timeout=15, return_when="FIRST_COMPLETED")
            if task in done:
                task.result()
            if ready not in done:
                raise RuntimeError("bot did not become ready")
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
