"""The discord.py client: services injected, extensions loaded, commands synced only when changed,
and only the allowed servers served."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from cogs.audit import DiscordAudit
from cogs.notifier import DiscordNotifier
from cogs.operators import Operations
from cogs.respond import ErrorBoundary, guild_allowed
from cogs.ui.actions import ActionRouter, JobButton
from wanbot import health
from wanbot.app import Services, build_services
from wanbot.config import Config
from wanbot.inputs import prune_inputs
from wanbot.jobs.pacing import pressure_trace_config
from wanbot.jobs.service import JobService
from wanbot.providers.mock import MockProvider
from wanbot.store.base import Store
from wanbot.tasks import Supervised, supervise

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.generate", "cogs.edit", "cogs.account", "cogs.admin")
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
        )
        self.operations = operations
        self.services = services
        self.config = services.config
        self.allowed_guilds = list(services.config.settings.discord.allowed_guilds)
        assert isinstance(self.tree, ErrorBoundary)
        self.tree.allowed_guilds = tuple(self.allowed_guilds)
        self.job_actions = ActionRouter(self.allowed_guilds)
        self.audit = DiscordAudit(self)
        services.plug(DiscordNotifier(self, services.store), self.audit)
        self._background: list[Supervised] = []

    # Kept for tests and benchmarks that reach into the running bot.
    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def jobs(self) -> JobService:
        return self.services.jobs

    async def setup_hook(self) -> None:
        self.add_dynamic_items(JobButton)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        await self.services.jobs.start()
        self._background = [
            supervise("heartbeat", self._beat),
            supervise("housekeeping", self._keep_house),
        ]

    async def close(self) -> None:
        for task in self._background:
            await task.stop()
        await self.services.jobs.stop()
        await self.audit.drain()
        await super().close()

    # -- servers this bot serves -------------------------------------------------------------
    async def on_ready(self) -> None:
        for guild in list(self.guilds):
            await self._leave_if_not_allowed(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self._leave_if_not_allowed(guild)

    async def _leave_if_not_allowed(self, guild: discord.Guild) -> None:
        if guild_allowed(self.allowed_guilds, guild.id):
            return
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
        """Drop kept edit inputs and mock jobs past their keeping time, now and every few hours."""
        while True:
            removed = await asyncio.to_thread(self.prune_files)
            if removed:
                log.info("housekeeping: removed %d old files", removed)
            await asyncio.sleep(HOUSEKEEPING_EVERY_S)

    def prune_files(self) -> int:
        removed = prune_inputs(self.services.data_dir)
        mock = self.services.providers.providers.get("mock")
        if isinstance(mock, MockProvider):
            removed += mock.prune()
        return removed

    async def sync_commands(self) -> None:
        """Sync as `discord.command_sync` says, skipping scopes whose commands have not changed.

        Discord allows 200 command creations a day per scope; a bot restarted often would
        run out if it synced every start.
        """
        mode = self.config.settings.discord.command_sync
        if mode == "off":
            return
        scopes: list[discord.Object | None] = (
            [None] if mode == "global" else [discord.Object(g) for g in mode]
        )
        store = self.services.store
        for guild in scopes:
            commands_: list[Any] = []
            for kind in (
                discord.AppCommandType.chat_input,
                discord.AppCommandType.user,
                discord.AppCommandType.message,
            ):
                commands_.extend(self.tree.get_commands(guild=guild, type=kind))
            payload = [c.to_dict(self.tree) for c in commands_]
            digest = hashlib.sha256(
                json.dumps(payload, sort_keys=True, default=str).encode()
            ).hexdigest()
            key = f"command_hash:{'global' if guild is None else guild.id}"
            if await store.get_meta(key) == digest:
                log.info("commands unchanged for %s; not syncing", key.split(":", 1)[1])
                continue
            synced = await self.tree.sync(guild=guild)
            await store.set_meta(key, digest)
            log.info("synced %d commands to %s", len(synced), key.split(":", 1)[1])


@contextlib.asynccontextmanager
async def open_bot(config: Config) -> AsyncIterator[WanBot]:
    """Build every dependency once, in order, and close them in reverse: store, session, bot."""
    from wanbot.store.sqlite import SQLiteStore

    settings = config.settings
    point_at(settings.discord.api_base_url, settings.discord.gateway_url)
    data_dir = Path(settings.generation.data_dir)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    store = await SQLiteStore.open(settings.storage.sqlite_path)
    operations = Operations(config)
    try:
        async with aiohttp.ClientSession(trace_configs=operations.session_traces) as session:
            services = build_services(config, session, store, data_dir, hooks=operations.hooks)
            bot = WanBot(services=services, operations=operations)
            async with bot, operations.serving(bot):
                yield bot
    finally:
        await store.close()
