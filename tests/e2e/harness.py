"""The whole bot, built as `bot.py` builds it, running against the fake Discord (and fake hosts)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from cogs.client import WanBot, open_bot
from tests.fakes.discord_runner import DiscordEndpoint
from tests.fakes.discord_server import FakeDiscord, FakeMessage, InteractionHandle
from wanbot.config import Config, load_config
from wanbot.store.base import Job, JobPhase
from wanbot.store.sqlite import SQLiteStore

MOCK_COST = 2  # what a mock image costs in these tests: the default credits.image_cost


def write_config(
    tmp_path: Path,
    fake: DiscordEndpoint,
    extra: str = "",
    *,
    mock_delay: float = 0.3,
    sync: str = '"global"',
    generation: str = "",
    mock_cost: int | None = MOCK_COST,
    discord: str = "",
) -> Path:
    """The bot's config for a test. The mock is free by default; most tests count credits, so
    here its images cost `mock_cost` (None: the default price)."""
    priced = "" if mock_cost is None else f"image_cost = {mock_cost}"
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[discord]
api_base_url = "{fake.api_base_url}"
gateway_url = "{fake.gateway_url}"
command_sync = {sync}
{discord}

[storage]
url = "sqlite:///{tmp_path / "wanbot.db"}"

[generation]
data_dir = "{tmp_path / "data"}"
{generation}

[providers.mock]
delay_s = {mock_delay}
{priced}

{extra}
"""
    )
    return path


def make_config(path: Path, fake: DiscordEndpoint, env: Mapping[str, str] | None = None) -> Config:
    return load_config(path, env={"DISCORD_TOKEN": fake.token, **(env or {})})


def png_bytes(width: int, height: int, colour: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Harness:
    fake: FakeDiscord
    bot: WanBot
    config: Config
    tmp_path: Path

    @property
    def store(self) -> SQLiteStore:
        assert isinstance(self.bot.store, SQLiteStore)
        return self.bot.store

    def user_id(self, key: str) -> int:
        return self.fake.users[key].id

    async def imagine(
        self, prompt: str, *, user: str = "alice", locale: str | None = None, **options: Any
    ) -> InteractionHandle:
        """/imagine as `user`; `locale` is the client language it carries ("zh-CN")."""
        return await self.fake.slash(
            "imagine", {"prompt": prompt, **options}, user=user, locale=locale
        )

    async def wait_for(self, predicate: Callable[[], bool], within_s: float = 15.0) -> None:
        deadline = asyncio.get_running_loop().time() + within_s
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.05)

    async def job_for(self, handle: InteractionHandle, *, placeholder: bool = False) -> Job:
        """The job an interaction created (found by its token); with `placeholder`, once its
        placeholder is recorded (admission writes the job, the placeholder comes just after)."""
        for _ in range(100):
            jobs = await self.store.jobs_in(list(JobPhase))
            for job in jobs:
                if job.for_interaction(handle.token) and (
                    job.placeholder_message_id is not None or not placeholder
                ):
                    return job
            await asyncio.sleep(0.05)
        raise AssertionError("no job for that interaction")

    async def wait_job(self, job_id: str, *phases: JobPhase, within_s: float = 20.0) -> Job:
        wanted = phases or (JobPhase.DONE, JobPhase.FAILED, JobPhase.CANCELLED)
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            job = await self.store.get_job(job_id)
            if job is not None and job.state in wanted:
                return job
            if asyncio.get_running_loop().time() > deadline:
                state = job.state if job else None
                raise AssertionError(f"job {job_id} is {state}, not {wanted}")
            await asyncio.sleep(0.05)

    def placeholder(self, job: Job) -> FakeMessage:
        assert job.placeholder_message_id is not None
        message = self.fake.message(job.placeholder_message_id)
        assert message is not None
        return message


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    tmp_path: Path,
    *,
    extra_toml: str = "",
    env: Mapping[str, str] | None = None,
    mock_delay: float = 0.3,
    generation: str = "",
    configure: Callable[[WanBot], None] | None = None,
    mock_cost: int | None = MOCK_COST,
    discord: str = "",
) -> AsyncIterator[Harness]:
    """Run the bot; `extra_toml` adds sections, `generation` and `discord` add keys to those."""
    path = write_config(
        tmp_path,
        fake,
        extra_toml,
        mock_delay=mock_delay,
        generation=generation,
        mock_cost=mock_cost,
        discord=discord,
    )
    config = make_config(path, fake, env)
    async with open_bot(config) as bot:
        bot._connection.guild_ready_timeout = 0.05  # no need to wait 2 s for guilds in tests
        if configure is not None:
            configure(bot)
        task = asyncio.create_task(bot.start(fake.token))
        ready = asyncio.create_task(bot.wait_until_ready())
        try:
            done, _ = await asyncio.wait({task, ready}, timeout=10, return_when="FIRST_COMPLETED")
            if task in done:
                task.result()
            assert ready in done, "bot did not become ready"
            yield Harness(fake=fake, bot=bot, config=config, tmp_path=tmp_path)
        finally:
            ready.cancel()
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def no_secrets_in(text: str, *secrets: str) -> bool:
    return not any(s and s in text for s in secrets)


ENV_KEYS = ("DISCORD_TOKEN", "PIXELDOJO_API_KEY", "SKILLSVIDEO_API_KEY", "DASHSCOPE_API_KEY")


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
