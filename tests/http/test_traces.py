"""Client traces: Discord 429s counted through discord.py's own `http_trace`, provider requests
counted by provider and status on the shared session, with the real clients against the fakes."""

from __future__ import annotations

import aiohttp
import discord
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from tests.conftest import remember_secret
from tests.fakes.discord_server import FakeDiscord, patched_discord_py
from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import Fault
from wanbot.config import PixelDojoConfig
from wanbot.http.traces import ProviderRequestTrace, discord_429_trace
from wanbot.metrics import Metrics
from wanbot.providers.http import RetryPolicy
from wanbot.providers.models import GenerationRequest
from wanbot.providers.pixeldojo import PixelDojoProvider

POLICY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02, max_retry_after_s=0.05)


def values(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_discord_429s_are_counted_through_http_trace() -> None:
    metrics = Metrics()
    with FakeDiscord() as fake, patched_discord_py(fake):
        remember_secret(fake.token)
        intents = discord.Intents.none()
        intents.guilds = True
        client = discord.Client(intents=intents, http_trace=discord_429_trace(metrics))
        try:
            await client.login(fake.token)
            assert client.user is not None
            fake.rest_faults.extend([("/users/", 429, 0.05), ("/users/", 429, 0.05)])
            user = await client.fetch_user(client.user.id)  # discord.py waits each 429 out
            assert user.id == client.user.id
        finally:
            await client.close()
        assert fake.count_429 == 2
    assert values(metrics, "wanbot_discord_429_total") == {(): 2.0}


async def test_provider_requests_counted_by_provider_and_status() -> None:
    metrics = Metrics()
    async with FakePixelDojo(job_duration_s=0.05) as fake:
        trace = ProviderRequestTrace(metrics, {"pixeldojo": fake.base_url})
        async with aiohttp.ClientSession(trace_configs=[trace.config]) as session:
            provider = PixelDojoProvider(
                PixelDojoConfig(base_url=fake.base_url),
                api_key=fake.api_key,
                session=session,
                retry=POLICY,
            )
            fake.inject("/run", Fault("429", retry_after=0.01))
            submitted = await provider.submit(GenerationRequest(prompt="a fox"))
            await provider.get_status(submitted.job_id)
            async with session.get(fake.base_url.replace("/api/v1", "") + "/elsewhere") as resp:
                assert resp.status == 404  # same host, outside the base URL: not counted
        port = URL(fake.base_url).port
    got = values(metrics, "wanbot_provider_requests_total")
    assert got == {
        (("provider", "pixeldojo"), ("status", "429")): 1.0,  # the submission, then its retry
        (("provider", "pixeldojo"), ("status", "202")): 1.0,
        (("provider", "pixeldojo"), ("status", "200")): 1.0,  # the poll
    }, got
    # nothing listens there any more: a request that gets no answer counts as "error"
    async with aiohttp.ClientSession(trace_configs=[trace.config]) as session:
        try:
            async with session.get(f"http://127.0.0.1:{port}/api/v1/jobs/x"):
                pass
        except aiohttp.ClientError:
            pass
    assert (
        values(metrics, "wanbot_provider_requests_total")[
            (("provider", "pixeldojo"), ("status", "error"))
        ]
        == 1.0
    )


def test_longest_base_url_wins() -> None:
    trace = ProviderRequestTrace(
        Metrics(), {"a": "http://h:1/api", "b": "http://h:1/api/v2/", "c": "http://other"}
    )
    assert trace.provider_for(URL("http://h:1/api/v2/jobs?x=1")) == "b"
    assert trace.provider_for(URL("http://h:1/api/v1/jobs")) == "a"
    assert trace.provider_for(URL("http://h:1/apix")) is None
    assert trace.provider_for(URL("http://other/x")) == "c"
    trace.watch("a", "http://moved:2/")
    assert trace.provider_for(URL("http://h:1/api/v1/jobs")) is None
    assert trace.provider_for(URL("http://moved:2/jobs")) == "a"
