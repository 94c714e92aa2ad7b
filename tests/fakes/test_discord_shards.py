"""The fake Discord's shards: real discord.py clients on shards 0 and 1 of 2, several servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # discord.py imports audioop
    import discord

from tests.fakes.discord_server import FakeDiscord, patched_discord_py
from tests.fakes.test_discord_fake import Bot


class ShardBot(Bot):
    """The test's bare bot on one shard; it records every interaction it is sent."""

    def __init__(self, shard_id: int, shard_count: int) -> None:
        super().__init__(shard_id=shard_id, shard_count=shard_count)
        self.sync_commands = shard_id == 0

        @self.tree.command(name="where", description="Which shard answers")
        async def where(interaction: discord.Interaction) -> None:
            self.seen.append(interaction.guild_id)
            await interaction.response.send_message(f"shard {self.shard_id}")

    async def setup_hook(self) -> None:
        if self.sync_commands:
            await self.tree.sync()


@pytest.fixture
def two_shards() -> Iterator[FakeDiscord]:
    fake = FakeDiscord(shard_count=2, guilds=4)
    fake.start()
    yield fake
    fake.stop()


@contextlib.asynccontextmanager
async def started(fake: FakeDiscord, *clients: Bot) -> AsyncIterator[None]:
    with patched_discord_py(fake):
        tasks = []
        try:
            for client in clients:  # shard 0 first: it syncs the commands
                tasks.append(asyncio.create_task(client.start(fake.token)))
                await asyncio.wait_for(client.wait_until_ready(), 5)
            yield
        finally:
            for client in clients:
                await client.close()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def test_servers_spread_over_shards() -> None:
    fake = FakeDiscord(shard_count=2, guilds=4)
    assert len(set(fake.guild_ids)) == 4
    assert [fake.shard_of(g) for g in fake.guild_ids] == [0, 1, 0, 1]
    assert [fake.shard_of(g, 4) for g in fake.guild_ids] == [0, 1, 2, 3]
    assert fake.guild_id == fake.guild_ids[0]
    assert all(fake.guild_of(fake.guild_channels[g]) == g for g in fake.guild_ids)


async def test_gateway_bot_answers_the_shard_count(two_shards: FakeDiscord) -> None:
    headers = {"Authorization": f"Bot {two_shards.token}"}
    async with aiohttp.ClientSession() as http:
        url = f"{two_shards.api_base_url}/gateway/bot"
        async with http.get(url, headers=headers) as response:
            body = await response.json()
    assert body["shards"] == 2 and body["url"] == two_shards.gateway_url


async def test_each_server_is_served_by_its_shard(two_shards: FakeDiscord) -> None:
    fake = two_shards
    first, second = ShardBot(0, 2), ShardBot(1, 2)
    async with started(fake, first, second):
        on = {0: first, 1: second}
        for client in (first, second):
            mine = sorted(g.id for g in client.guilds)
            assert mine == [g for g in fake.guild_ids if fake.shard_of(g) == client.shard_id]
        for gid in fake.guild_ids:
            handle = await fake.slash("where", channel=fake.guild_channels[gid])
            await handle.wait_acknowledged(3)
            message = handle.original_message()
            assert message is not None and message.content == f"shard {fake.shard_of(gid)}"
            assert message.channel_id == fake.guild_channels[gid]
        assert first.seen == [g for g in fake.guild_ids if fake.shard_of(g) == 0]
        assert second.seen == [g for g in fake.guild_ids if fake.shard_of(g) == 1]
        assert all(c.shard_id == i for i, c in on.items())
    shards = fake.shards
    assert sorted(shards) == [0, 1]
    assert all(len(record.sessions) == 1 for record in shards.values())
    for shard_id, record in shards.items():
        created = [g for event, g in record.events if event == "GUILD_CREATE"]
        interactions = [g for event, g in record.events if event == "INTERACTION_CREATE"]
        assert created == [g for g in fake.guild_ids if fake.shard_of(g) == shard_id]
        assert interactions == created
    assert fake.identify_count == 2 and fake.command_put_count == 1
    assert fake.violations == [] and fake.unhandled_routes == []


async def test_a_shard_without_a_session_cannot_be_sent_to(two_shards: FakeDiscord) -> None:
    fake = two_shards
    async with started(fake, ShardBot(0, 2)):
        on_one = next(g for g in fake.guild_ids if fake.shard_of(g) == 1)
        with pytest.raises(RuntimeError, match="shard 1"):
            await fake.slash("where", channel=fake.guild_channels[on_one])
        assert fake.shards[0].sessions and 1 not in fake.shards


async def _identify_close_code(fake: FakeDiscord, shard: Any) -> int | None:
    async with aiohttp.ClientSession() as http, http.ws_connect(fake.gateway_url) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["op"] == 10
        data: dict[str, Any] = {"token": fake.token, "intents": 1, "properties": {}}
        if shard is not None:
            data["shard"] = shard
        await ws.send_str(json.dumps({"op": 2, "d": data}))
        frame = await ws.receive(timeout=5)
        if frame.type is aiohttp.WSMsgType.TEXT:
            assert json.loads(frame.data)["t"] == "READY"
            return None
        return ws.close_code


@pytest.mark.parametrize(
    ("shard", "code"),
    [([2, 2], 4010), ([-1, 2], 4010), ([0, 0], 4010), ("0,2", 4010), (None, 4011), ([1, 3], None)],
)
async def test_identify_with_a_shard_outside_the_count_is_refused(
    two_shards: FakeDiscord, shard: Any, code: int | None
) -> None:
    assert await _identify_close_code(two_shards, shard) == code


def test_one_shard_stays_the_default(make_fake: Callable[..., FakeDiscord]) -> None:
    fake = make_fake()
    assert fake.shard_count == 1 and fake.guild_ids == [fake.guild_id]
    assert fake.guild_channels == {fake.guild_id: fake.channel_id}


@pytest.fixture
def make_fake() -> Iterator[Callable[..., FakeDiscord]]:
    fakes: list[FakeDiscord] = []

    def make(**options: Any) -> FakeDiscord:
        fake = FakeDiscord(**options)
        fakes.append(fake)
        return fake

    yield make
    for fake in fakes:
        fake.stop()
