"""Shards: `discord.shard_count` / `discord.shard_ids` run discord.py's AutoShardedBot; only the
process running shard 0 syncs commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cogs.client import ShardedWanBot, WanBot, bot_class
from tests.e2e.harness import running_bot
from tests.fakes.discord_server import FakeDiscord
from wanbot.config import DiscordConfig
from wanbot.store.base import JobPhase


def test_shard_settings_choose_the_bot_and_who_syncs() -> None:
    single = DiscordConfig()
    assert bot_class(single) is WanBot and single.runs_shard_zero
    assert WanBot.shard_options(single) == {}
    auto = DiscordConfig(shard_count=0, shard_ids=[])
    assert bot_class(auto) is WanBot
    first = DiscordConfig(shard_count=2, shard_ids=[0])
    second = DiscordConfig(shard_count=2, shard_ids=[1])
    assert bot_class(first) is ShardedWanBot and first.runs_shard_zero
    assert bot_class(second) is ShardedWanBot and not second.runs_shard_zero
    assert ShardedWanBot.shard_options(second) == {"shard_count": 2, "shard_ids": [1]}
    everything = DiscordConfig(shard_count=4)
    assert ShardedWanBot.shard_options(everything) == {"shard_count": 4, "shard_ids": None}
    assert everything.runs_shard_zero


@pytest.mark.parametrize(
    "shards",
    [
        {"shard_ids": [0]},
        {"shard_count": 2, "shard_ids": [2]},
        {"shard_count": 2, "shard_ids": [1, 1]},
    ],
)
def test_shard_ids_must_fit_the_count(shards: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DiscordConfig.model_validate(shards)


async def test_a_sharded_bot_identifies_its_shard_and_serves(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, discord="shard_count = 1\nshard_ids = [0]") as h:
        assert isinstance(h.bot, ShardedWanBot)
        assert h.bot.shard_ids == [0] and h.bot.shard_count == 1
        assert fake.registered_commands[None]  # shard 0's process synced
        handle = await h.imagine("a fox on shard zero")
        job = await h.job_for(handle)
        done = await h.wait_job(job.id)
        assert done.state is JobPhase.DONE, done.error


async def test_a_process_without_shard_zero_does_not_sync(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    # Shard 1 of 2: the fake (one server, on shard 0) sends it no server, but it connects.
    async with running_bot(fake, tmp_path, discord="shard_count = 2\nshard_ids = [1]") as h:
        assert isinstance(h.bot, ShardedWanBot)
    assert fake.command_put_count == 0
