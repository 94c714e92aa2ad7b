"""The operators' HTTP server (`http.listen`): /healthz, /metrics and the host webhooks.

    server = HttpServer("0.0.0.0", 8080, metrics=metrics, probe=probe, hooks=hooks)
    await server.start()
    ...
    await server.stop()          # on SIGTERM, with the bot

Access logging is off: a hook path is a credential, and scrapes every few seconds are noise.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aiohttp import web

from wanbot.http.hooks import HOOKS_PREFIX, Push, WebhookRegistry
from wanbot.metrics import EXPOSITION_CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)

CheckResult = bool | Awaitable[bool]
#: A health check slower than this counts as failing: /healthz must answer a probe promptly.
CHECK_TIMEOUT_S: Final = 2.0
#: Host pushes are small JSON documents.
MAX_BODY_BYTES: Final = 256 * 1024


class HealthProbe(Protocol):
    """What /healthz asks the bot; each may answer at once or be awaited."""

    def gateway_connected(self) -> CheckResult: ...

    def dispatcher_alive(self) -> CheckResult: ...

    def store_writable(self) -> CheckResult: ...


@dataclass(frozen=True)
class CallableProbe:
    """A HealthProbe made of three callables (handy for composition roots and tests)."""

    gateway: Callable[[], CheckResult]
    dispatcher: Callable[[], CheckResult]
    store: Callable[[], CheckResult]

    def gateway_connected(self) -> CheckResult:
        return self.gateway()

    def dispatcher_alive(self) -> CheckResult:
        return self.dispatcher()

    def store_writable(self) -> CheckResult:
        return self.store()


async def run_checks(probe: HealthProbe, timeout_s: float = CHECK_TIMEOUT_S) -> dict[str, bool]:
    """Each check's verdict; one that raises or takes too long is False. Run side by side."""
    checks: dict[str, Callable[[], CheckResult]] = {
        "gateway": probe.gateway_connected,
        "dispatcher": probe.dispatcher_alive,
        "store": probe.store_writable,
    }

    async def verdict(name: str, check: Callable[[], CheckResult]) -> bool:
        try:
            answer = check()
            if inspect.isawaitable(answer):
                answer = await asyncio.wait_for(answer, timeout_s)
            return bool(answer)
        except TimeoutError:
            log.warning("health check %s took over %.1fs", name, timeout_s)
            return False
        except Exception:
            log.warning("health check %s failed", name, exc_info=True)
            return False

    results = await asyncio.gather(*(verdict(n, c) for n, c in checks.items()))
    return dict(zip(checks, results, strict=True))


class HttpServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        metrics: Metrics,
        probe: HealthProbe,
        hooks: WebhookRegistry | None = None,
        before_scrape: Callable[[], Awaitable[None] | None] | None = None,
        check_timeout_s: float = CHECK_TIMEOUT_S,
    ) -> None:
        self._host = host
        self._port = port
        self.metrics = metrics
        self.probe = probe
        self.hooks = hooks if hooks is not None else WebhookRegistry()
        self._before_scrape = before_scrape
        self._check_timeout_s = check_timeout_s
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_post(HOOKS_PREFIX + "/{provider}/{token}", self._hook)

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        if self._runner is None:
            return self._port
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                return int(address[1])
        return self._port

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            return
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("HTTP server listening on %s:%d (/healthz, /metrics)", self._host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("HTTP server stopped")

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- routes -----------------------------------------------------------------------------
    async def _healthz(self, request: web.Request) -> web.Response:
        checks = await run_checks(self.probe, self._check_timeout_s)
        failing = [name for name, ok in checks.items() if not ok]
        body: dict[str, Any] = {"status": "ok" if not failing else "unhealthy", "checks": checks}
        if failing:
            body["failing"] = failing
        return web.json_response(body, status=200 if not failing else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        if self._before_scrape is not None:
            try:
                refreshed = self._before_scrape()
                if refreshed is not None:
                    await refreshed
            except Exception:
                log.warning("refreshing metrics before a scrape failed", exc_info=True)
        body = self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": EXPOSITION_CONTENT_TYPE})

    async def _hook(self, request: web.Request) -> web.Response:
        provider = request.match_info["provider"]
        token = request.match_info["token"]
        if not self.hooks.knows(provider, token):
            return web.Response(status=404)
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400)
        outcome = self.hooks.push(provider, token, payload)
        return web.Response(status=404 if outcome is Push.UNKNOWN else 200)
