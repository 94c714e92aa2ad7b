"""aiohttp client traces that count requests into `Metrics`, with no change to the callers.

- `discord_429_trace(metrics)`: pass to discord.py as `Client(http_trace=...)`; counts every 429
  Discord answers, including the ones discord.py then waits out and retries on its own.
- `ProviderRequestTrace`: add its `config` to the shared session's `trace_configs`; every request
  whose URL lies under a watched provider's base URL is counted by provider and status ("error" for
  a request that got no answer). Result downloads from other hosts are not provider requests.
"""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
from yarl import URL

from wanbot.metrics import Metrics

TOO_MANY_REQUESTS = 429


def discord_429_trace(metrics: Metrics) -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def on_request_end(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        if params.response.status == TOO_MANY_REQUESTS:
            metrics.discord_429()

    trace.on_request_end.append(on_request_end)
    return trace


class ProviderRequestTrace:
    """Counts requests to the watched providers' base URLs (longest base URL wins)."""

    def __init__(self, metrics: Metrics, base_urls: dict[str, str] | None = None) -> None:
        self._metrics = metrics
        self._prefixes: list[tuple[str, str]] = []
        for provider, base_url in (base_urls or {}).items():
            self.watch(provider, base_url)
        self.config = aiohttp.TraceConfig()
        self.config.on_request_end.append(self._on_done)
        self.config.on_request_exception.append(self._on_done)

    def watch(self, provider: str, base_url: str) -> None:
        prefix = str(URL(base_url.rstrip("/")))
        self._prefixes = sorted(
            [*(p for p in self._prefixes if p[1] != provider), (prefix, provider)],
            key=lambda item: len(item[0]),
            reverse=True,
        )

    def provider_for(self, url: URL) -> str | None:
        text = str(url.with_query(None).with_fragment(None))
        for prefix, provider in self._prefixes:
            if text == prefix or text.startswith(prefix + "/"):
                return provider
        return None

    async def _on_done(
        self,
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams | aiohttp.TraceRequestExceptionParams,
    ) -> None:
        """A request ended with a response (its status is counted) or an exception ("error")."""
        provider = self.provider_for(params.url)
        if provider is not None:
            if isinstance(params, aiohttp.TraceRequestEndParams):
                self._metrics.provider_request(provider, params.response.status)
            else:
                self._metrics.provider_request(provider, "error")
