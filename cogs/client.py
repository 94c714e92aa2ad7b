"""The discord.py client: services injected, extensions loaded, commands synced only when changed,
and only the allowed servers served."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from cogs.audit import DiscordAudit
from cogs.jobflow import JobFlow
from cogs.notifier import DiscordNotifier
from cogs.operators import Operations
from cogs.respond import ErrorBoundary, guild_allowed
from cogs.translate import CatalogTranslator, payload_digest, sync_payload
from cogs.ui.actions import ActionRouter, JobButton
from wanbot import health, heap
from wanbot.app import Services, build_services
from wanbot.config import Config, DiscordConfig, Secrets, Settings, anchored
from wanbot.fetch import InputFetcher
from wanbot.inputs import prune_inputs
from wanbot.jobs.delivery import prune_results
from wanbot.jobs.pacing import pressure_trace_config
from wanbot.jobs.service import JobService
from wanbot.providers.mock import MockProvider
from wanbot.store.base import Store
from wanbot.store.url import open_store
from wanbot.tasks import Supervised, supervise

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.generate",
    "cogs.edit",
    "cogs.remix",
    "cogs.queue",
    "cogs.account",
    "cogs.admin",
)
HEARTBEAT_EVERY_S = 20.0
HOUSEKEEPING_EVERY_S = 6 * 3600.0


def point_at(api_base_url: str, gateway_url: str) -> None:
    """Send discord.py's REST and gateway traffic to the configured URLs (proxies, test fakes)."""
    import yarl

    discord.http.Route.BASE = api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class WanBot(commands.Bot):
    def __init__(self, *, services: Services, operations: Operations) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            chunk_guilds_at_startup=False,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=ErrorBoundary,
            # discord.py takes one trace: the operators' 429 counter and the channel pressure.
            http_trace=pressure_trace_config(services.pressure, into=operations.discord_trace),
            **self.shard_options(services.config.settings.discord),
        )
        self.operations = operations
        self.services = services
        self.config = services.config
        self.allowed_guilds = list(services.config.settings.discord.allowed_guilds)
        assert isinstance(self.tree, ErrorBoundary)
        self.tree.allowed_guilds = tuple(self.allowed_guilds)
        self.job_actions = ActionRouter(self.allowed_guilds)
        self.audit = DiscordAudit(self)
        self.job_flow = JobFlow(
            services.admission, services.jobs, self.audit, services.store, self.job_actions
        )
        services.plug(DiscordNotifier(self, services.store), self.audit)
        self._background: list[Supervised] = []
        self._leaving: set[int] = set()
        self.froze_heap = False

    @staticmethod
    def shard_options(discord_config: DiscordConfig) -> dict[str, Any]:
        """One process, one gateway connection: no shard options."""
        return {}

    # Kept for tests and benchmarks that reach into the running bot.
    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def jobs(self) -> JobService:
        return self.services.jobs

    def command_translator(self) -> app_commands.Translator:
        """Names and descriptions of the commands in every language wanbot speaks."""
        return CatalogTranslator()

    async def setup_hook(self) -> None:
        await self.tree.set_translator(self.command_translator())
        self.add_dynamic_items(JobButton)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        await self.services.admission.learn_private_defaults()
        # Before the gateway connects and jobs run: their objects come and go (a new session drops
        # the gateway's caches), and frozen cycles among them would never be freed.
        self.froze_heap = heap.set_aside()
        await self.services.jobs.start()
        self._background = [
            supervise("heartbeat", self._beat),
            supervise("housekeeping", self._keep_house),
        ]

    async def close(self) -> None:
        try:
            for task in self._background:
                await task.stop()
            await self.services.jobs.stop()
            await self.audit.drain()
            await super().close()
        finally:
            if self.froze_heap:
                heap.give_back()
                self.froze_heap = False

    # -- servers this bot serves -------------------------------------------------------------
    async def on_ready(self) -> None:
        for guild in list(self.guilds):
            await self._leave_if_not_allowed(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self._leave_if_not_allowed(guild)

    async def on_guild_available(self, guild: discord.Guild) -> None:
        # One that was unavailable at ready (an outage) shows up only now.
        await self._leave_if_not_allowed(guild)

    async def _leave_if_not_allowed(self, guild: discord.Guild) -> None:
        if guild_allowed(self.allowed_guilds, guild.id) or guild.id in self._leaving:
            return
        self._leaving.add(guild.id)  # ready and guild_available may both name it
        log.warning("leaving server %s: not in discord.allowed_guilds", guild.id)
        try:
            await guild.leave()
        except discord.HTTPException:
            log.warning("could not leave server %s", guild.id, exc_info=True)

    # -- background ---------------------------------------------------------------------------
    async def _beat(self) -> None:
        """The heartbeat file says the bot is working: ready, connected and dispatching jobs."""
        while True:
            if self.is_ready() and not self.is_closed() and self.services.jobs.dispatcher_alive:
                await asyncio.to_thread(health.beat, self.services.data_dir)
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    async def _keep_house(self) -> None:
        """Now and every few hours: drop kept edit inputs and mock jobs past their keeping time,
        and blank prompts past `storage.keep_prompts_days`."""
        while True:
            await self.keep_house_once()
            await asyncio.sleep(HOUSEKEEPING_EVERY_S)

    async def keep_house_once(self) -> None:
        removed = await asyncio.to_thread(self.prune_files)
        if removed:
            log.info("housekeeping: removed %d old files", removed)
        await self.services.member_data.blank_old_prompts()

    def prune_files(self) -> int:
        removed = prune_inputs(self.services.data_dir)
        removed += prune_results(self.services.data_dir / "results")
        mock = self.services.providers.providers.get("mock")
        if isinstance(mock, MockProvider):
            removed += mock.prune()
        return removed

    async def sync_commands(self) -> None:
        """Sync as `discord.command_sync` says, skipping scopes whose commands have not changed.

        Discord allows 200 command creations a day per scope; a bot restarted often would
        run out if it synced every start. The fingerprint is of the payload as sent, translations
        included, so a changed catalog syncs too.
        """
        mode = self.config.settings.discord.command_sync
        if mode == "off":
            return
        if not self.config.settings.discord.runs_shard_zero:
            log.info("commands are synced by the process that runs shard 0")
            return
        scopes: list[discord.Object | None] = (
            [None] if mode == "global" else [discord.Object(g) for g in mode]
        )
        store = self.services.store
        for guild in scopes:
            digest = payload_digest(await sync_payload(self.tree, guild))
            key = f"command_hash:{'global' if guild is None else guild.id}"
            if await store.get_meta(key) == digest:
                log.info("commands unchanged for %s; not syncing", key.split(":", 1)[1])
                continue
            synced = await self.tree.sync(guild=guild)
            await store.set_meta(key, digest)
            log.info("synced %d commands to %s", len(synced), key.split(":", 1)[1])


class ShardedWanBot(WanBot, commands.AutoShardedBot):
    """The bot over `discord.shard_ids` of `discord.shard_count` shards (discord.py's
    AutoShardedBot: one gateway connection per shard, one process)."""

    @staticmethod
    def shard_options(discord_config: DiscordConfig) -> dict[str, Any]:
        return {
            "shard_count": discord_config.shard_count or None,  # None: as /gateway/bot says
            "shard_ids": list(discord_config.shard_ids) or None,  # None: all of them
        }


def bot_class(discord_config: DiscordConfig) -> type[WanBot]:
    return ShardedWanBot if discord_config.sharded else WanBot


@contextlib.asynccontextmanager
async def open_bot(config: Config) -> AsyncIterator[WanBot]:
    """Build every dependency once, in order, and close them in reverse: store, session, bot.

    StoreInUse when another process has the database (one bot per SQLite file)."""
    settings = config.settings
    point_at(settings.discord.api_base_url, settings.discord.gateway_url)
    data_dir = Path(settings.generation.data_dir)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    store = await open_store(settings.storage.url)
    operations = Operations(config)
    try:
        async with (
            aiohttp.ClientSession(trace_configs=operations.session_traces) as session,
            InputFetcher(settings.discord.api_base_url, data_dir) as inputs,
        ):
            services = build_services(
                config,
                session,
                store,
                data_dir,
                inputs,
                metrics=operations.metrics,
                balances=operations.balances,
                hooks=operations.hooks,
            )
            bot = bot_class(settings.discord)(services=services, operations=operations)
            async with bot, operations.serving(bot):
                yield bot
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def offline_bot(extensions: Iterable[str] = EXTENSIONS) -> AsyncIterator[WanBot]:
    """The bot as `open_bot` builds it (real services on a temporary SQLite file, mock images),
    with the extensions loaded and never connected: the command tree for catalogs and tests."""
    from wanbot.store.sqlite import SQLiteStore

    with tempfile.TemporaryDirectory(prefix="wanbot-offline-") as folder:
        base = Path(folder)
        settings = anchored(
            Settings.model_validate(
                {
                    "storage": {"url": f"sqlite:///{base / 'wanbot.db'}"},
                    "generation": {"provider": "mock", "data_dir": str(base / "data")},
                }
            ),
            base,
        )
        config = Config(settings=settings, secrets=Secrets(None, {}), source=None)
        store = await SQLiteStore.open(settings.storage.sqlite_path)
        try:
            data_dir = Path(settings.generation.data_dir)
            async with (
                aiohttp.ClientSession() as session,
                InputFetcher(settings.discord.api_base_url, data_dir) as inputs,
            ):
                services = build_services(config, session, store, data_dir, inputs)
                bot = WanBot(services=services, operations=Operations(config))
                for extension in extensions:
                    await bot.load_extension(extension)
                yield bot
        finally:
            await store.close()
