"""The operators' side wired to the running bot: the HTTP server, metrics and host balances.

`open_bot` builds one `Operations` before the session and the bot (both take its traces), then
serves it for the bot's lifetime:

    ops = Operations(config)
    session = aiohttp.ClientSession(trace_configs=ops.session_traces)
    bot = WanBot(..., operations=ops)          # discord.py gets ops.discord_trace
    async with ops.serving(bot):
        ...                      # the HTTP server and the balance poller stop when this exits
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import aiohttp
import discord
from discord.gateway import DiscordWebSocket

from cogs.audit import DiscordAudit
from cogs.render import operators as render_operators
from wanbot.app import Services
from wanbot.balance import BalanceTracker, LowBalance, thresholds_from
from wanbot.config import Config
from wanbot.http.hooks import WebhookRegistry
from wanbot.http.server import HttpServer
from wanbot.http.traces import ProviderRequestTrace, discord_429_trace
from wanbot.metrics import Metrics
from wanbot.store.base import JobPhase

log = logging.getLogger(__name__)

ACTIVE_PHASES = (JobPhase.QUEUED, JobPhase.SUBMITTING, JobPhase.RUNNING, JobPhase.DELIVERING)


class ServedBot(Protocol):
    """What the operators' side needs of the running client (`cogs.client.WanBot`)."""

    services: Services
    audit: DiscordAudit
    ws: DiscordWebSocket

    @property
    def guilds(self) -> Sequence[discord.Guild]: ...

    def is_ready(self) -> bool: ...

    def is_closed(self) -> bool: ...


class BotHealth:
    """The HealthProbe /healthz asks: gateway connected, dispatcher alive, store writable."""

    def __init__(self, bot: ServedBot) -> None:
        self._bot = bot

    def gateway_connected(self) -> bool:
        bot = self._bot
        ws = bot.ws
        return bot.is_ready() and not bot.is_closed() and ws is not None and ws.open

    def dispatcher_alive(self) -> bool:
        return self._bot.services.jobs.dispatcher_alive

    async def store_writable(self) -> bool:
        await self._bot.services.store.set_meta("healthz", f"{time.time():.0f}")
        return True


class Operations:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = Metrics()
        self.metrics.seed(config.enabled_providers())
        providers = config.settings.providers
        self.provider_trace = ProviderRequestTrace(
            self.metrics,
            {
                "pixeldojo": providers.pixeldojo.base_url,
                "skillsvideo": providers.skillsvideo.base_url,
                "dashscope": providers.dashscope.base_url,
            },
        )
        self.discord_trace = discord_429_trace(self.metrics)
        self.hooks = WebhookRegistry()
        self.balances = BalanceTracker(thresholds_from(providers), metrics=self.metrics)
        self.server: HttpServer | None = None

    @property
    def session_traces(self) -> list[aiohttp.TraceConfig]:
        return [self.provider_trace.config]

    @contextlib.asynccontextmanager
    async def serving(self, bot: ServedBot) -> AsyncIterator[None]:
        self.balances.notify = lambda crossing: warn_low_balance(bot, crossing)
        address = self.config.settings.http.address
        if address is not None:
            self.server = HttpServer(
                *address,
                metrics=self.metrics,
                probe=BotHealth(bot),
                hooks=self.hooks,
                before_scrape=lambda: refresh_job_gauges(bot.services, self.metrics),
            )
            await self.server.start()
        poller = asyncio.create_task(
            self.balances.run(bot.services.providers.providers), name="balance-poller"
        )
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            if self.server is not None:
                await self.server.stop()


async def refresh_job_gauges(services: Services, metrics: Metrics) -> None:
    counts = await services.store.count_in(list(ACTIVE_PHASES))
    for phase, count in counts.items():
        metrics.set_active(phase.value, count)
    metrics.set_queue_depth(counts[JobPhase.QUEUED])


async def warn_low_balance(bot: ServedBot, crossing: LowBalance) -> None:
    """One line in the audit channel of every server that has one."""
    label = bot.services.providers.label(crossing.provider)
    for guild in bot.guilds:
        settings = await bot.services.store.guild_settings(guild.id)
        text = render_operators.low_balance(
            label, crossing.balance, crossing.threshold, str(guild.preferred_locale)
        )
        await bot.audit.post(settings.audit_channel_id, text)
