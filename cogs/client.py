"""The discord.py client: dependencies injected, cogs loaded, commands synced only when changed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord.ext import commands

from cogs.errors import ErrorBoundary
from cogs.notifier import DiscordNotifier
from cogs.operators import Operations
from cogs.views import DYNAMIC_ITEMS
from wanbot import health
from wanbot.config import Config
from wanbot.credits import CreditPolicy
from wanbot.inputs import prune_inputs
from wanbot.jobs.fitting import Downloader
from wanbot.jobs.scheduler import Limits
from wanbot.jobs.service import JobService
from wanbot.moderation import Moderator
from wanbot.providers.mock import MockProvider
from wanbot.providers.registry import ProviderSet
from wanbot.store.base import Store

if TYPE_CHECKING:
    from cogs.edit import Editing
    from cogs.generate import Generation

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
    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        session: aiohttp.ClientSession,
        providers: ProviderSet,
        data_dir: Path,
        operations: Operations,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            chunk_guilds_at_startup=False,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=ErrorBoundary,
            http_trace=operations.discord_trace,
        )
        self.operations = operations
        self.config = config
        self._heartbeat: asyncio.Task[None] | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self.store = store
        self.session = session
        self.providers = providers
        self.data_dir = data_dir
        self.credits = CreditPolicy(config.settings.credits)
        self.moderator = Moderator()
        self.notifier = DiscordNotifier(self)
        gen = config.settings.generation
        self.jobs = JobService(
            store=store,
            providers=providers,
            notifier=self.notifier,
            downloader=Downloader(session),
            credits=self.credits,
            limits=Limits(
                total=gen.max_concurrent_jobs,
                per_provider=gen.max_jobs_per_provider,
                per_user=gen.max_running_per_user,
            ),
            max_queued_per_user=gen.max_queued_per_user,
            data_dir=data_dir,
        )

    @property
    def generation(self) -> Generation:
        from cogs.generate import Generation

        cog = self.get_cog("Generation")
        assert isinstance(cog, Generation)
        return cog

    @property
    def editing(self) -> Editing:
        from cogs.edit import Editing

        cog = self.get_cog("Editing")
        assert isinstance(cog, Editing)
        return cog

    async def setup_hook(self) -> None:
        for item in DYNAMIC_ITEMS:
            self.add_dynamic_items(item)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        await self.jobs.start()
        self._heartbeat = asyncio.create_task(self._beat(), name="heartbeat")
        self._housekeeping = asyncio.create_task(self._keep_house(), name="housekeeping")

    async def close(self) -> None:
        for task in (self._heartbeat, self._housekeeping):
            if task is not None:
                task.cancel()
        await self.jobs.stop()
        await super().close()

    async def _beat(self) -> None:
        while True:
            if self.is_ready() and not self.is_closed():
                await asyncio.to_thread(health.beat, self.data_dir)
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    async def _keep_house(self) -> None:
        """Drop kept edit inputs and mock jobs past their keeping time, now and every few hours."""
        while True:
            removed = await asyncio.to_thread(self.prune_files)
            if removed:
                log.info("housekeeping: removed %d old files", removed)
            await asyncio.sleep(HOUSEKEEPING_EVERY_S)

    def prune_files(self) -> int:
        removed = prune_inputs(self.data_dir)
        mock = self.providers.providers.get("mock")
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
        for guild in scopes:
            commands_ = self.tree._get_all_commands(guild=guild)
            payload = [c.to_dict(self.tree) for c in commands_]
            digest = hashlib.sha256(
                json.dumps(payload, sort_keys=True, default=str).encode()
            ).hexdigest()
            key = f"command_hash:{'global' if guild is None else guild.id}"
            if await self.store.get_meta(key) == digest:
                log.info("commands unchanged for %s; not syncing", key.split(":", 1)[1])
                continue
            synced = await self.tree.sync(guild=guild)
            await self.store.set_meta(key, digest)
            log.info("synced %d commands to %s", len(synced), key.split(":", 1)[1])


@contextlib.asynccontextmanager
async def open_bot(config: Config) -> AsyncIterator[WanBot]:
    """Build every dependency once, in order, and close them in reverse: store, session, bot."""
    from wanbot.providers.registry import build_providers
    from wanbot.store.sqlite import SQLiteStore

    settings = config.settings
    point_at(settings.discord.api_base_url, settings.discord.gateway_url)
    data_dir = Path(settings.generation.data_dir)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    store = await SQLiteStore.open(settings.storage.sqlite_path)
    operations = Operations(config)
    try:
        async with aiohttp.ClientSession(trace_configs=operations.session_traces) as session:
            providers = build_providers(config, session, data_dir)
            log.info(
                "providers enabled: %s (default %s)",
                ", ".join(providers.providers),
                providers.default,
            )
            bot = WanBot(
                config=config,
                store=store,
                session=session,
                providers=providers,
                data_dir=data_dir,
                operations=operations,
            )
            async with bot, operations.serving(bot):
                yield bot
    finally:
        await store.close()
