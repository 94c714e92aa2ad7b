"""The operators' HTTP server on a real socket: /healthz verdicts, /metrics exposition, /hooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from wanbot.http.hooks import WebhookRegistry
from wanbot.http.server import CallableProbe, HttpServer
from wanbot.metrics import Metrics


class FlippableProbe:
    """Sync gateway check, async dispatcher and store checks, each switchable by the test."""

    def __init__(self) -> None:
        self.gateway = True
        self.dispatcher = True
        self.store: bool | Exception = True
        self.store_delay_s = 0.0

    def gateway_connected(self) -> bool:
        return self.gateway

    async def dispatcher_alive(self) -> bool:
        return self.dispatcher

    async def store_writable(self) -> bool:
        await asyncio.sleep(self.store_delay_s)
        if isinstance(self.store, Exception):
            raise self.store
        return self.store


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_healthz_names_what_is_not_healthy(client: aiohttp.ClientSession) -> None:
    probe = FlippableProbe()
    async with HttpServer("127.0.0.1", 0, metrics=Metrics(), probe=probe) as server:
        async with client.get(server.base_url + "/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body == {
            "status": "ok",
            "checks": {"gateway": True, "dispatcher": True, "store": True},
        }
        probe.gateway = False
        probe.store = OSError("disk full")
        async with client.get(server.base_url + "/healthz") as resp:
            assert resp.status == 503
            body = await resp.json()
        assert body["failing"] == ["gateway", "store"]
        assert body["checks"]["dispatcher"] is True
        probe.gateway, probe.store, probe.dispatcher = True, True, False
        async with client.get(server.base_url + "/healthz") as resp:
            assert resp.status == 503
            assert (await resp.json())["failing"] == ["dispatcher"]


async def test_a_hanging_check_counts_as_failing(client: aiohttp.ClientSession) -> None:
    probe = FlippableProbe()
    probe.store_delay_s = 5.0
    server = HttpServer("127.0.0.1", 0, metrics=Metrics(), probe=probe, check_timeout_s=0.2)
    async with server:
        started = asyncio.get_running_loop().time()
        async with client.get(server.base_url + "/healthz") as resp:
            assert resp.status == 503
            assert (await resp.json())["failing"] == ["store"]
        assert asyncio.get_running_loop().time() - started < 2.0


async def test_metrics_parse_and_refresh_before_scrape(client: aiohttp.ClientSession) -> None:
    metrics = Metrics()
    metrics.seed(["mock"])
    scrapes = 0

    async def refresh() -> None:
        nonlocal scrapes
        scrapes += 1
        metrics.set_queue_depth(scrapes * 10)

    probe = CallableProbe(gateway=lambda: True, dispatcher=lambda: True, store=lambda: True)
    async with HttpServer(
        "127.0.0.1", 0, metrics=metrics, probe=probe, before_scrape=refresh
    ) as server:
        metrics.job_finished("mock", "delivered", 4.0)
        async with client.get(server.base_url + "/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    jobs = families["wanbot_jobs"]
    delivered = [
        s
        for s in jobs.samples
        if s.name == "wanbot_jobs_total" and s.labels["outcome"] == "delivered"
    ]
    assert [s.value for s in delivered] == [1.0]
    assert families["wanbot_queue_depth"].samples[0].value == 10.0
    for name in ("wanbot_job_seconds", "wanbot_credits_spent", "wanbot_provider_requests"):
        assert name in families


async def test_hooks_over_http(client: aiohttp.ClientSession) -> None:
    hooks = WebhookRegistry()
    probe = CallableProbe(gateway=lambda: True, dispatcher=lambda: True, store=lambda: True)
    async with HttpServer("127.0.0.1", 0, metrics=Metrics(), probe=probe, hooks=hooks) as server:
        hook = hooks.register("pixeldojo")
        url = hook.url(server.base_url)
        forged = url[:-4] + "AAAA"
        async with client.post(forged, json={"status": "completed"}) as resp:
            assert resp.status == 404
            assert await resp.text() == ""
        assert not hook.pushed
        async with client.post(url, data=b"not json") as resp:
            assert resp.status == 400
        assert not hook.pushed
        async with client.get(url) as resp:
            assert resp.status == 405
        async with client.post(url, json={"jobId": "j1", "status": "completed"}) as resp:
            assert resp.status == 200
            assert await resp.text() == ""
        assert await asyncio.wait_for(hook.wait(), 1) == {"jobId": "j1", "status": "completed"}
        async with client.post(url, json={"jobId": "j1", "status": "failed"}) as resp:
            assert resp.status == 200
        assert await hook.wait() == {"jobId": "j1", "status": "completed"}
        async with client.post(url, data=b"x" * (300 * 1024)) as resp:
            assert resp.status == 413
        hook.close()
        async with client.post(url, json={}) as resp:
            assert resp.status == 404


async def test_stop_closes_the_port(client: aiohttp.ClientSession) -> None:
    probe = CallableProbe(gateway=lambda: True, dispatcher=lambda: True, store=lambda: True)
    server = HttpServer("127.0.0.1", 0, metrics=Metrics(), probe=probe)
    await server.start()
    url = server.base_url + "/healthz"
    async with client.get(url) as resp:
        assert resp.status == 200
    await server.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with client.get(url) as resp:
            pass
